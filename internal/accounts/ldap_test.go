package accounts_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

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
