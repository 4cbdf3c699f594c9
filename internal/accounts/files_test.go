package accounts_test

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// legacyKubeconfig is a kubeconfig for "the old cluster", as tools had
// before the platform came (seed 000: the legacy cluster is "default").
func legacyKubeconfig(t *testing.T, path string) {
	t.Helper()
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["default"] = &clientcmdapi.Cluster{Server: "https://legacy.example:6443"}
	cfg.AuthInfos["default"] = &clientcmdapi.AuthInfo{Token: "legacy-token"}
	cfg.Contexts["default"] = &clientcmdapi.Context{Cluster: "default", AuthInfo: "default", Namespace: "legacy"}
	cfg.CurrentContext = "default"
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatal(err)
	}
}

func TestKubeconfigsAreMergedAndGentleModeKeepsTheCurrentContext(t *testing.T) {
	f := newFixture(t)
	f.write(account{name: "gentle-a", uid: 54001}, account{name: "gentle-b", uid: 54002})
	legacyKubeconfig(t, f.kubeconfig("gentle-a"))
	legacyKubeconfig(t, f.kubeconfig("gentle-b"))

	f.mustOnce("--gentle")
	cfg, err := clientcmd.LoadFromFile(f.kubeconfig("gentle-a"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.CurrentContext != "default" {
		t.Fatalf("gentle mode changed current-context to %q", cfg.CurrentContext)
	}
	if c := cfg.Clusters["default"]; c == nil || c.Server != "https://legacy.example:6443" {
		t.Fatalf("legacy cluster entry lost: %+v", c)
	}
	if u := cfg.AuthInfos["default"]; u == nil || u.Token != "legacy-token" {
		t.Fatal("legacy user entry lost")
	}
	if c := cfg.Contexts["toolforge"]; c == nil || c.Namespace != "tool-gentle-a" {
		t.Fatalf("no toolforge context: %+v", c)
	}
	// The tool opts in to the new cluster itself, as seed 000 describes.
	if _, err := asTool(f.home("gentle-a"), "config", "use-context", "toolforge"); err != nil {
		t.Fatal(err)
	}
	if _, err := asTool(f.home("gentle-a"), "get", "pods"); err != nil {
		t.Fatalf("after use-context toolforge: %v", err)
	}
	// ...and a gentle pass leaves its choice alone.
	f.mustOnce("--gentle")
	if cfg, _ := clientcmd.LoadFromFile(f.kubeconfig("gentle-a")); cfg.CurrentContext != "toolforge" {
		t.Fatalf("current-context %q after the tool's own switch", cfg.CurrentContext)
	}

	t.Run("without gentle mode an existing current context is kept too", func(t *testing.T) {
		f.mustOnce()
		cfg, err := clientcmd.LoadFromFile(f.kubeconfig("gentle-b"))
		if err != nil {
			t.Fatal(err)
		}
		if cfg.CurrentContext != "default" || cfg.Contexts["toolforge"] == nil || cfg.AuthInfos["default"] == nil {
			t.Fatalf("current-context %q, contexts %v", cfg.CurrentContext, keys(cfg.Contexts))
		}
	})
}

func TestOnlyANewKubeconfigGetsACurrentContextAndGentleModeSetsNone(t *testing.T) {
	f := newFixture(t)
	f.write(account{name: "fresh-a", uid: 54011}, account{name: "fresh-b", uid: 54012})
	f.mustOnce("--gentle")
	cfg, err := clientcmd.LoadFromFile(f.kubeconfig("fresh-a"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.CurrentContext != "" || cfg.Contexts["toolforge"] == nil {
		t.Fatalf("gentle mode: current-context %q, contexts %v", cfg.CurrentContext, keys(cfg.Contexts))
	}
	// The other cluster's (non-gentle) controller makes the choice.
	f.mustOnce()
	if cfg, _ := clientcmd.LoadFromFile(f.kubeconfig("fresh-a")); cfg.CurrentContext != "toolforge" {
		t.Fatalf("a kubeconfig naming no context got %q", cfg.CurrentContext)
	}
	if _, err := asTool(f.home("fresh-b"), "get", "pods"); err != nil {
		t.Fatalf("a new kubeconfig does not work: %v", err)
	}
}

func TestAnotherContextNameNamesTheEntriesAndKeepsItsOwnCredentials(t *testing.T) {
	f := newFixture(t)
	f.write(account{name: "named-a", uid: 54021})
	f.mustOnce("--context-name", "default")
	cfg, err := clientcmd.LoadFromFile(f.kubeconfig("named-a"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := cfg.Contexts["default"]
	if cfg.CurrentContext != "default" || ctx == nil || ctx.Cluster != "default" || ctx.AuthInfo != "default-named-a" || cfg.Contexts["toolforge"] != nil {
		t.Fatalf("current-context %q, context %+v, contexts %v", cfg.CurrentContext, ctx, keys(cfg.Contexts))
	}
	want := filepath.Join(f.home("named-a"), ".toolskube-default", "client.crt")
	if got := cfg.AuthInfos["default-named-a"].ClientCertificate; got != want {
		t.Fatalf("certificate %s, want %s", got, want)
	}
	if _, err := os.Lstat(filepath.Join(f.home("named-a"), ".toolskube")); !os.IsNotExist(err) {
		t.Fatalf("the default context's credentials directory was made: %v", err)
	}
	who, err := asTool(f.home("named-a"), "auth", "whoami", "-o", "jsonpath={.status.userInfo.username}")
	if err != nil || who != "named-a" {
		t.Fatalf("whoami %q, %v", who, err)
	}
}

func TestForceMigrateSwitchesEveryToolOnceAndTouchesNothingElse(t *testing.T) {
	f := newFixture(t)
	f.write(account{name: "force-a", uid: 54031}, account{name: "force-b", uid: 54032})
	legacyKubeconfig(t, f.kubeconfig("force-a"))
	legacyKubeconfig(t, f.kubeconfig("force-b"))
	f.mustOnce("--gentle")
	// force-b switched by itself already.
	if _, err := asTool(f.home("force-b"), "config", "use-context", "toolforge"); err != nil {
		t.Fatal(err)
	}
	before, err := clientcmd.LoadFromFile(f.kubeconfig("force-a"))
	if err != nil {
		t.Fatal(err)
	}
	credsBefore := snapshot(t, filepath.Join(f.home("force-a"), ".toolskube", "client.crt"))

	// No cluster behind --kubeconfig: the forced phase needs none, so it
	// cannot have written anything there.
	noCluster := []string{"--kubeconfig", filepath.Join(t.TempDir(), "absent")}
	log := f.mustOnce(append([]string{"--force-migrate"}, noCluster...)...)
	if !strings.Contains(log, "switched current-context") || !strings.Contains(log, "tool=force-a from=default to=toolforge") || strings.Contains(log, "tool=force-b from") {
		t.Fatalf("the log does not report what was switched:\n%s", log)
	}
	after, err := clientcmd.LoadFromFile(f.kubeconfig("force-a"))
	if err != nil {
		t.Fatal(err)
	}
	if after.CurrentContext != "toolforge" {
		t.Fatalf("current-context %q", after.CurrentContext)
	}
	before.CurrentContext = after.CurrentContext
	if !apiequality.Semantic.DeepEqual(before, after) {
		t.Fatalf("more than the current context changed:\nbefore %+v\nafter  %+v", before, after)
	}
	if got := snapshot(t, filepath.Join(f.home("force-a"), ".toolskube", "client.crt")); got != credsBefore {
		t.Fatal("the credentials changed")
	}
	if _, err := asTool(f.home("force-a"), "get", "pods"); err != nil {
		t.Fatalf("after the switch: %v", err)
	}

	t.Run("a second run switches nothing", func(t *testing.T) {
		st, _ := os.Stat(f.kubeconfig("force-a"))
		log := f.mustOnce(append([]string{"--force-migrate"}, noCluster...)...)
		if strings.Contains(log, "switched current-context") || !strings.Contains(log, "switched=0 already=2 skipped=0 failed=0") {
			t.Fatalf("second run:\n%s", log)
		}
		if st2, _ := os.Stat(f.kubeconfig("force-a")); !os.SameFile(st, st2) {
			t.Fatal("the kubeconfig was rewritten")
		}
	})
	t.Run("a tool not provisioned for the context fails, the others are still switched", func(t *testing.T) {
		f.write(account{name: "force-a", uid: 54031}, account{name: "force-b", uid: 54032}, account{name: "force-c", uid: 54033})
		legacyKubeconfig(t, f.kubeconfig("force-c"))
		if _, err := asTool(f.home("force-a"), "config", "use-context", "default"); err != nil {
			t.Fatal(err)
		}
		log, err := f.once(append([]string{"--force-migrate"}, noCluster...)...)
		if err == nil || !strings.Contains(log, "tool=force-c") || !strings.Contains(log, "switched=1 already=1 skipped=0 failed=1") {
			t.Fatalf("err %v:\n%s", err, log)
		}
		if cfg, _ := clientcmd.LoadFromFile(f.kubeconfig("force-a")); cfg.CurrentContext != "toolforge" {
			t.Fatalf("force-a is on %q", cfg.CurrentContext)
		}
	})
	t.Run("it needs --once and contradicts --gentle", func(t *testing.T) {
		for _, args := range [][]string{{"--force-migrate", "--gentle"}} {
			out, err := f.once(append(args, noCluster...)...)
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() != 2 {
				t.Fatalf("%v: %v\n%s", args, err, out)
			}
		}
		cmd := exec.Command(toolforged, f.args(append([]string{"--force-migrate", "--metrics-addr", "0"}, noCluster...)...)...)
		out, err := cmd.CombinedOutput()
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 2 || !strings.Contains(string(out), "--force-migrate needs --once") {
			t.Fatalf("without --once: %v\n%s", err, out)
		}
	})
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestACorruptKubeconfigIsKeptAsBakAndReplaced(t *testing.T) {
	f := newFixture(t)
	f.write(account{name: "corrupt-a", uid: 54101})
	path := f.kubeconfig("corrupt-a")
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	writeFile(t, path, "this: is: not: [a kubeconfig")
	f.mustOnce()
	bak, err := os.ReadFile(path + ".bak")
	if err != nil || string(bak) != "this: is: not: [a kubeconfig" {
		t.Fatalf("config.bak = %q, %v", bak, err)
	}
	if _, err := asTool(f.home("corrupt-a"), "get", "pods"); err != nil {
		t.Fatalf("the new kubeconfig does not work: %v", err)
	}
}

// The tool owns its home and tries to make the controller (root) overwrite,
// chown or leak a file that is not the tool's: here, another tool's
// kubeconfig and certificate.
func TestAToolCannotMakeTheControllerTouchAnotherFile(t *testing.T) {
	f := newFixture(t)
	f.write(account{name: "victim", uid: 54201}, account{name: "attacker", uid: 54202})
	f.mustOnce()
	victimKube := f.kubeconfig("victim")
	victimCert := filepath.Join(f.home("victim"), ".toolskube", "client.crt")
	before := snapshot(t, victimKube, victimCert)
	attacker := f.home("attacker")

	plants := []struct {
		name  string
		plant func(t *testing.T)
	}{
		{"its kubeconfig is a symlink to the victim's", func(t *testing.T) {
			replaceWithSymlink(t, filepath.Join(attacker, ".kube", "config"), victimKube)
		}},
		{"its .kube directory is a symlink to the victim's", func(t *testing.T) {
			replaceWithSymlink(t, filepath.Join(attacker, ".kube"), filepath.Dir(victimKube))
		}},
		{"its .toolskube directory is a symlink to the victim's", func(t *testing.T) {
			replaceWithSymlink(t, filepath.Join(attacker, ".toolskube"), filepath.Dir(victimCert))
			// Make the controller want to rewrite the credentials.
			if _, err := kubectl(cluster.Kubeconfig, "delete", "configmap", "-n", "tool-attacker", "maintain-kubeusers"); err != nil {
				t.Fatal(err)
			}
		}},
		{"its certificate is a symlink to the victim's", func(t *testing.T) {
			replaceWithSymlink(t, filepath.Join(attacker, ".toolskube", "client.crt"), victimCert)
		}},
	}
	for _, p := range plants {
		t.Run(p.name, func(t *testing.T) {
			p.plant(t)
			f.mustOnce()
			if after := snapshot(t, victimKube, victimCert); after != before {
				t.Fatalf("the victim's files changed:\nbefore %s\nafter  %s", before, after)
			}
			// The attacker ends up with its own, real, working files.
			for _, p := range []string{filepath.Join(attacker, ".kube", "config"), filepath.Join(attacker, ".toolskube", "client.crt")} {
				st, err := os.Lstat(p)
				if err != nil || !st.Mode().IsRegular() {
					t.Fatalf("%s is not a regular file: %v", p, err)
				}
			}
			who, err := asTool(attacker, "auth", "whoami", "-o", "jsonpath={.status.userInfo.username}")
			if err != nil || who != "attacker" {
				t.Fatalf("attacker's credentials: %q, %v", who, err)
			}
		})
	}
	if _, err := asTool(f.home("victim"), "get", "pods"); err != nil {
		t.Fatalf("the victim's access broke: %v", err)
	}
}

func replaceWithSymlink(t *testing.T, path, target string) {
	t.Helper()
	if err := os.RemoveAll(path); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, path); err != nil {
		t.Fatal(err)
	}
}

// snapshot describes files by content, mode and owner.
func snapshot(t *testing.T, paths ...string) string {
	t.Helper()
	var b strings.Builder
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		st, err := os.Lstat(p)
		if err != nil {
			t.Fatal(err)
		}
		sys := st.Sys().(*syscall.Stat_t)
		sum := sha256.Sum256(data)
		fmt.Fprintf(&b, "%s %s uid=%d gid=%d sha256=%x; ", p, st.Mode(), sys.Uid, sys.Gid, sum[:8])
	}
	return b.String()
}
