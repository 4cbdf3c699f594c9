package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/toolforge-go/toolforge/internal/builds/v1alpha1"
	"github.com/toolforge-go/toolforge/internal/logs"
	"github.com/toolforge-go/toolforge/internal/testcluster"
)

// staticSite is the smoke test's app: a static site, as the original's
// sample-static-buildpack-app.
var staticSite = map[string]string{
	"index.html":    "<!DOCTYPE html><html><body><h1>Hello from a built static site</h1></body></html>\n",
	"css/style.css": "h1 { color: green; }\n",
	"README.md":     "A static site for the build service's smoke test.\n",
}

// The original's build-smoke-test.bats, in its order and terms: start
// detached, list, follow the log, show ok, run jobs with the built image
// by tag and by digest (the pod's command ending `launcher <command>`),
// the mount defaults, delete, quota, delete all, clean. Then the same app
// as a web service answering through the ingress.
func TestTheOriginalSmokeTest(t *testing.T) {
	p := setup(t)
	const tool = "smoke"
	url := p.repo(t, "sample-static-buildpack-app", staticSite)
	image := "tool-" + tool + "/tool-" + tool + ":latest"
	home := p.Tools[tool].Home

	t.Run("start build", func(t *testing.T) {
		r := p.ok(t, tool, "build", "start", "--detach", url)
		if !strings.Contains(r.Stdout, "build name is '"+tool+"-") {
			t.Errorf("start --detach printed %s", r)
		}
	})
	t.Run("list build", func(t *testing.T) {
		if r := p.ok(t, tool, "build", "list"); !strings.Contains(r.Stdout, url) {
			t.Errorf("build list does not show %s:\n%s", url, r)
		}
	})
	t.Run("tail logs and wait", func(t *testing.T) {
		r := p.ok(t, tool, "build", "logs", "-f")
		for _, want := range []string{"Cloning " + url, "Detected a static app", "Pushing registry.devcluster.localhost/tool-smoke/tool-smoke"} {
			if !strings.Contains(r.Stdout, want) {
				t.Errorf("the log lacks %q:\n%s", want, r)
			}
		}
	})
	t.Run("show finished build", func(t *testing.T) {
		testcluster.Eventually(t, 2*time.Minute, func() error {
			if r := p.ok(t, tool, "build", "show"); !strings.Contains(r.Stdout, "Status: ok") {
				return fmt.Errorf("not ok yet:\n%s", r)
			}
			return nil
		})
	})
	t.Run("the log of a finished build whose pod is gone comes from the log store", func(t *testing.T) {
		var shown struct {
			Build struct {
				ID string `json:"build_id"`
			} `json:"build"`
		}
		if r := p.ok(t, tool, "build", "show", "--json"); json.Unmarshal([]byte(r.Stdout), &shown) != nil || shown.Build.ID == "" {
			t.Fatalf("build show --json:\n%s", r)
		}
		ctx := context.Background()
		sel := metav1.ListOptions{LabelSelector: logs.LabelBuild + "=" + shown.Build.ID}
		pods := cluster.Client.CoreV1().Pods(v1alpha1.Namespace)
		if err := pods.DeleteCollection(ctx, metav1.DeleteOptions{}, sel); err != nil {
			t.Fatal(err)
		}
		testcluster.Eventually(t, time.Minute, func() error {
			if l, err := pods.List(ctx, sel); err != nil || len(l.Items) > 0 {
				return fmt.Errorf("the build's pod is still there (%v)", err)
			}
			return nil
		})
		testcluster.Eventually(t, time.Minute, func() error {
			if r := p.toolforge(t, tool, "build", "logs", shown.Build.ID); r.Code != 0 || !strings.Contains(r.Stdout, "Cloning "+url) {
				return fmt.Errorf("build logs without the pod:\n%s", r)
			}
			return nil
		})
	})
	t.Run("run job with built image", func(t *testing.T) {
		name := fmt.Sprintf("test-%d", rand.IntN(32768))
		command := fmt.Sprintf("echo '%s' | tee $TOOL_DATA_DIR/%s.out", name, name)
		p.ok(t, tool, "jobs", "run", "--wait", "120", "--command="+command, "--mount=all", "--image="+image, name)
		data, err := os.ReadFile(filepath.Join(home, name+".out"))
		if err != nil || !strings.Contains(string(data), name) {
			t.Fatalf("%s.out in the home: %q, %v", name, data, err)
		}
		r := p.kubectl(t, tool, "get", "pod", "-l", "app.kubernetes.io/name="+name, "-o", "json")
		var pods struct {
			Items []struct {
				Spec struct {
					Containers []struct {
						Command []string `json:"command"`
						Image   string   `json:"image"`
					} `json:"containers"`
				} `json:"spec"`
			} `json:"items"`
		}
		if err := json.Unmarshal([]byte(r.Stdout), &pods); err != nil || len(pods.Items) == 0 {
			t.Fatalf("kubectl get pod: %v\n%s", err, r)
		}
		cmd := pods.Items[0].Spec.Containers[0].Command
		if last := cmd[len(cmd)-1]; !strings.Contains(last, "launcher "+command) {
			t.Errorf("the pod's command ends %q, want it to hold %q", last, "launcher "+command)
		}
	})
	t.Run("run job with built image passing SHA", func(t *testing.T) {
		r := p.ok(t, tool, "build", "show", "--json")
		var shown struct {
			Build struct {
				DestinationImage string `json:"destination_image"`
			} `json:"build"`
		}
		if err := json.Unmarshal([]byte(r.Stdout), &shown); err != nil {
			t.Fatalf("build show --json: %v\n%s", err, r)
		}
		digestRef := shown.Build.DestinationImage
		if !strings.Contains(digestRef, "@sha") {
			t.Fatalf("destination_image %q has no digest", digestRef)
		}
		short := digestRef[strings.Index(digestRef, "/")+1:]
		name := fmt.Sprintf("test-%d", rand.IntN(32768))
		command := fmt.Sprintf("echo '%s' | tee $TOOL_DATA_DIR/%s.out", name, name)
		p.ok(t, tool, "jobs", "run", "--wait", "120", "--command="+command, "--mount=all", "--image="+digestRef, name)
		if data, err := os.ReadFile(filepath.Join(home, name+".out")); err != nil || !strings.Contains(string(data), name) {
			t.Fatalf("%s.out: %q, %v", name, data, err)
		}
		if r := p.kubectl(t, tool, "get", "pod", "-l", "app.kubernetes.io/name="+name, "-o", "jsonpath={.items[0].spec.containers[0].image}"); strings.TrimSpace(r.Stdout) != digestRef {
			t.Errorf("the pod runs %q, want %q", r.Stdout, digestRef)
		}
		if r := p.ok(t, tool, "jobs", "show", name); !strings.Contains(r.Stdout, short) {
			t.Errorf("jobs show does not show %s:\n%s", short, r)
		}
	})
	mounts := regexp.MustCompile(`(?m)^\W*Mounts:?\W+(\w+)`)
	for _, tc := range []struct{ flag, want string }{{"", "none"}, {"--mount=all", "all"}, {"--mount=none", "none"}} {
		t.Run("mount "+tc.want+" with "+orDefault(tc.flag), func(t *testing.T) {
			name := fmt.Sprintf("test-%d", rand.IntN(32768))
			args := []string{"jobs", "run", "--command=date", "--image=" + image, name}
			if tc.flag != "" {
				args = append(args, tc.flag)
			}
			p.ok(t, tool, args...)
			r := p.ok(t, tool, "jobs", "show", name)
			m := mounts.FindStringSubmatch(r.Stdout)
			if m == nil || m[1] != tc.want {
				t.Errorf("jobs show's mounts: %v, want %s\n%s", m, tc.want, r)
			}
		})
	}
	t.Run("delete build", func(t *testing.T) {
		r := p.ok(t, tool, "build", "list", "--json")
		var list struct {
			Builds []struct {
				ID string `json:"build_id"`
			} `json:"builds"`
		}
		if err := json.Unmarshal([]byte(r.Stdout), &list); err != nil || len(list.Builds) == 0 {
			t.Fatalf("build list --json: %v\n%s", err, r)
		}
		id := list.Builds[0].ID
		p.ok(t, tool, "build", "delete", "--yes-i-know", id)
		r = p.ok(t, tool, "build", "list")
		if strings.Contains(r.Stdout, id) || !strings.Contains(r.Stdout, "No builds found") {
			t.Errorf("after delete, build list says:\n%s", r)
		}
	})
	t.Run("quota", func(t *testing.T) {
		r := p.ok(t, tool, "build", "quota")
		for _, want := range []string{"Available", "Capacity", "Limit", "Used"} {
			if !strings.Contains(r.Stdout, want) {
				t.Errorf("build quota lacks %s:\n%s", want, r)
			}
		}
	})
	t.Run("delete all", func(t *testing.T) {
		p.ok(t, tool, "build", "delete", "--all", "--yes-i-know")
	})
	t.Run("clean", func(t *testing.T) {
		p.ok(t, tool, "build", "clean", "--yes-i-know")
		if r := p.ok(t, tool, "build", "list"); !strings.Contains(r.Stdout, "No builds found") {
			t.Errorf("after clean, build list says:\n%s", r)
		}
	})
}

func orDefault(flag string) string {
	if flag == "" {
		return "the default"
	}
	return flag
}
