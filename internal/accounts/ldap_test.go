package accounts_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/toolforge-go/toolforge/internal/testcluster"
	"github.com/toolforge-go/toolforge/internal/testldap"
)

// The production source: a real slapd with the ppolicy overlay, changed
// under the running controller.
func TestTheLDAPSourceDrivesProvisioning(t *testing.T) {
	s := testldap.Start(t)
	dir := t.TempDir()
	config := filepath.Join(dir, "ldap.yaml")
	s.WriteConfig(t, config, "tools")
	homes := filepath.Join(dir, "homes")
	home := func(tool string) string { return filepath.Join(homes, tool) }

	s.AddUser(t, "maint", 43001, filepath.Join(dir, "admins", "maint"))
	s.AddTool(t, "tools", "ldap-a", 58001, home("ldap-a"), "maint")
	s.AddTool(t, "tools", "ldap-b", 58002, home("ldap-b"))
	// Another project's tool is not ours.
	s.AddTool(t, "toolsbeta", "ldap-beta", 58003, home("ldap-beta"))

	d := startLDAPDaemon(t, config, homes, filepath.Join(dir, "admins"))
	hasAccess := func(tool string) func() error {
		return func() error { _, err := asTool(home(tool), "get", "pods"); return err }
	}
	hasNoAccess := func(tool string) func() error {
		return func() error {
			if _, err := asTool(home(tool), "get", "pods"); !isForbidden(err) {
				return fmt.Errorf("%s still has access (%v)", tool, err)
			}
			return nil
		}
	}
	testcluster.Eventually(t, time.Minute, hasAccess("ldap-a"))
	testcluster.Eventually(t, time.Minute, hasAccess("ldap-b"))
	if _, err := cluster.Client.CoreV1().Namespaces().Get(ctx(), "tool-ldap-beta", metav1.GetOptions{}); err == nil {
		t.Fatal("a toolsbeta tool was provisioned for project tools")
	}

	t.Run("a tool added to the directory is provisioned", func(t *testing.T) {
		s.AddTool(t, "tools", "ldap-c", 58004, home("ldap-c"))
		testcluster.Eventually(t, time.Minute, hasAccess("ldap-c"))
	})
	t.Run("pwdAccountLockedTime removes access and unlocking restores it", func(t *testing.T) {
		s.LockTool(t, "tools", "ldap-a")
		testcluster.Eventually(t, time.Minute, hasNoAccess("ldap-a"))
		if _, err := os.Stat(filepath.Join(home("ldap-a"), "k8s.disabled")); err != nil {
			t.Fatalf("no k8s.disabled: %v", err)
		}
		s.UnlockTool(t, "tools", "ldap-a")
		testcluster.Eventually(t, time.Minute, hasAccess("ldap-a"))
	})
	t.Run("pwdPolicySubentry removes access too", func(t *testing.T) {
		s.SetToolPolicy(t, "tools", "ldap-b", s.DisabledPolicyDN)
		testcluster.Eventually(t, time.Minute, hasNoAccess("ldap-b"))
		s.SetToolPolicy(t, "tools", "ldap-b", "")
		testcluster.Eventually(t, time.Minute, hasAccess("ldap-b"))
	})
	t.Run("a malformed entry is counted as an error and the rest is still provisioned", func(t *testing.T) {
		s.Add(t, "uid=huge,"+s.ToolsBase, map[string][]string{
			"objectClass": {"account", "posixAccount"}, "uid": {"tools.huge"}, "cn": {"tools.huge"},
			"uidNumber": {"99999999999999999999"}, "gidNumber": {"1"}, "homeDirectory": {home("huge")},
		})
		s.AddTool(t, "tools", "ldap-d", 58005, home("ldap-d"))
		testcluster.Eventually(t, time.Minute, hasAccess("ldap-d"))
		testcluster.Eventually(t, time.Minute, func() error {
			v, err := d.metric("maintain_kubeusers_errors", map[string]string{"reason": "invalid_entry"})
			if err != nil {
				return err
			}
			if v < 1 {
				return fmt.Errorf("invalid_entry errors = %v", v)
			}
			return nil
		})
		for _, tool := range []string{"ldap-a", "ldap-b", "ldap-c"} {
			if err := hasAccess(tool)(); err != nil {
				t.Errorf("%s lost access because of a malformed entry: %v", tool, err)
			}
		}
	})
	t.Run("a home outside the home root or another tool's is refused, and the others are unaffected", func(t *testing.T) {
		outside := filepath.Join(dir, "elsewhere", "ldap-out")
		s.AddTool(t, "tools", "ldap-out", 58006, outside)
		s.AddTool(t, "tools", "ldap-thief", 58007, home("ldap-b"))
		refused := func(tool, says string) func() error {
			return func() error {
				cm, err := cluster.Client.CoreV1().ConfigMaps("tool-"+tool).Get(ctx(), "maintain-kubeusers", metav1.GetOptions{})
				if err != nil {
					return err
				}
				if cm.Data["status"] != "refused" || cm.Data["reason"] != "HomeRefused" || !strings.Contains(cm.Data["message"], says) {
					return fmt.Errorf("%s's marker: %v", tool, cm.Data)
				}
				return nil
			}
		}
		testcluster.Eventually(t, time.Minute, refused("ldap-out", "home "+outside+" is outside the tool home root "+homes+"; give the tool a home below it"))
		testcluster.Eventually(t, time.Minute, refused("ldap-thief", "home "+home("ldap-b")+" is the home of tool ldap-b"))
		testcluster.Eventually(t, time.Minute, func() error {
			if v, err := d.metric("maintain_kubeusers_homes_refused", map[string]string{"account_type": "tool"}); err != nil || v != 2 {
				return fmt.Errorf("homes refused = %v (%v), want 2", v, err)
			}
			if v, err := d.metric("maintain_kubeusers_errors", map[string]string{"account_type": "tool", "reason": "home_refused"}); err != nil || v < 2 {
				return fmt.Errorf("home_refused errors = %v (%v)", v, err)
			}
			return nil
		})
		if _, err := os.Stat(outside); !os.IsNotExist(err) {
			t.Fatalf("the refused home was made: %v", err)
		}
		// ldap-b keeps its home, its own credentials and its access.
		cfg, err := clientcmd.LoadFromFile(filepath.Join(home("ldap-b"), ".kube", "config"))
		if err != nil {
			t.Fatal(err)
		}
		for user := range cfg.AuthInfos {
			if strings.Contains(user, "ldap-thief") {
				t.Fatalf("the thief's user entry %s is in ldap-b's kubeconfig", user)
			}
		}
		if cn := certificate(t, home("ldap-b")).Subject.CommonName; cn != "ldap-b" {
			t.Fatalf("ldap-b's home holds the certificate of %s", cn)
		}
		for _, tool := range []string{"ldap-a", "ldap-b", "ldap-c", "ldap-d"} {
			if err := hasAccess(tool)(); err != nil {
				t.Errorf("%s lost access because of a refused home: %v", tool, err)
			}
		}

		// Fixed in the directory, the tool is provisioned.
		req := ldap.NewModifyRequest(s.ToolDN("tools", "ldap-out"), nil)
		req.Replace("homeDirectory", []string{home("ldap-out")})
		s.Modify(t, req)
		testcluster.Eventually(t, time.Minute, hasAccess("ldap-out"))
		cm, err := cluster.Client.CoreV1().ConfigMaps("tool-ldap-out").Get(ctx(), "maintain-kubeusers", metav1.GetOptions{})
		if err != nil || cm.Data["status"] != "provisioned" || cm.Data["reason"] != "" {
			t.Fatalf("ldap-out's marker once fixed: %v (%v)", cm.Data, err)
		}
	})
	t.Run("a tool deleted from the directory loses access", func(t *testing.T) {
		s.DeleteTool(t, "tools", "ldap-c")
		testcluster.Eventually(t, time.Minute, hasNoAccess("ldap-c"))
	})
}

func startLDAPDaemon(t *testing.T, config, homes, admins string) *daemon {
	t.Helper()
	port, err := testcluster.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	d := &daemon{metrics: "127.0.0.1:" + strconv.Itoa(port), log: &bytes.Buffer{}}
	d.cmd = exec.Command(toolforged, "accounts",
		"--kubeconfig", cluster.Kubeconfig, "--ldap-config", config,
		"--home-root", homes, "--admin-home-root", admins,
		"--interval", "1s", "--metrics-addr", d.metrics, "--health-addr", "0")
	d.cmd.Stdout, d.cmd.Stderr = d.log, d.log
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = d.cmd.Process.Signal(syscall.SIGTERM)
		_ = d.cmd.Wait()
		if t.Failed() {
			t.Logf("controller log:\n%s", d.log.String())
		}
	})
	return d
}
