package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/toolforge-go/toolforge/internal/tenancy"
	"github.com/toolforge-go/toolforge/internal/testcluster"
)

// Bad input gets a clear error, and nothing half-made: a refused start
// makes no build.
func TestBadInputIsRefusedClearly(t *testing.T) {
	p := setup(t)
	const tool = "bad"
	site := p.repo(t, "bad-site", staticSite)
	nothing := p.repo(t, "bad-nothing", map[string]string{"README.md": "no app here\n"})
	failing := p.repo(t, "bad-failing", map[string]string{"requirements.txt": "no-such-package-anywhere==9.9\n", "app.py": "print(1)\n"})

	refused := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"an unreachable URL", []string{"build", "start", "http://127.0.0.1:1/nothing.git"}, 1, "cannot reach the git repository at http://127.0.0.1:1/nothing.git"},
		{"no repository at the URL", []string{"build", "start", p.Builds.Git + "/missing.git"}, 1, "there is no git repository at"},
		{"an unknown ref", []string{"build", "start", "--ref", "no-such-branch", site}, 1, `has no branch or tag "no-such-branch"`},
		{"an invalid -e name", []string{"build", "start", "-e", "A=1", site}, 2, "not valid environment variable name, must match '^[A-Za-z_][A-Za-z_0-9]{2,}$', got 'A'"},
		{"an -e without a value", []string{"build", "start", "-e", "NOVALUE", site}, 2, "want NAME=value"},
		{"an image name that is no repository name", []string{"build", "start", "-i", "My_Image!", site}, 1, `image name "My_Image!" is not a valid repository name`},
		{"a URL with credentials", []string{"build", "start", "https://user:pw@example.org/x.git"}, 2, "may not carry credentials"},
		{"not an http(s) URL", []string{"build", "start", "git@example.org:x.git"}, 2, "want the http:// or https:// URL"},
		{"another tool's build ID", []string{"build", "show", "other-abcdefgh"}, 1, "build other-abcdefgh is not one of tool bad's builds"},
		{"an unknown build ID", []string{"build", "show", "bad-abcdefgh"}, 1, "Build with id bad-abcdefgh not found"},
	}
	for _, tc := range refused {
		t.Run(tc.name, func(t *testing.T) {
			r := p.toolforge(t, tool, tc.args...)
			if r.Code != tc.code || !strings.Contains(r.Stderr, tc.want) {
				t.Errorf("want exit %d and %q:\n%s", tc.code, tc.want, r)
			}
		})
	}
	if r := p.ok(t, tool, "build", "list"); !strings.Contains(r.Stdout, "No builds found") {
		t.Fatalf("refused starts left builds behind:\n%s", r)
	}

	// Builds that start and fail: their status says why, their log stays.
	for _, tc := range []struct {
		name, url, message, log string
	}{
		{"a repository nothing detects", nothing, "no app detected in the repository: looked for Procfile, Aptfile, requirements.txt, pyproject.toml, package.json, go.mod, index.html", "no app detected"},
		{"a failing build", failing, "installing the Python dependencies failed (the package index is " + p.Index + ")", "No matching distribution found for no-such-package-anywhere==9.9"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := p.toolforge(t, tool, "build", "start", tc.url)
			if r.Code != 1 || !strings.Contains(r.Stderr, "ended with status error") {
				t.Fatalf("start of a failing build: %s", r)
			}
			show := p.ok(t, tool, "build", "show")
			if !strings.Contains(show.Stdout, "Status: error") || !strings.Contains(show.Stdout, tc.message) || !strings.Contains(show.Stdout, "Check the logs with `toolforge build logs") {
				t.Errorf("build show of a failed build:\n%s", show)
			}
			if logs := p.ok(t, tool, "build", "logs"); !strings.Contains(logs.Stdout, tc.log) {
				t.Errorf("build logs of a failed build lacks %q:\n%s", tc.log, logs)
			}
		})
	}

	t.Run("a fifth running build", func(t *testing.T) {
		for i := 1; i <= 4; i++ {
			p.ok(t, tool, "build", "start", "--detach", site)
		}
		r := p.toolforge(t, tool, "build", "start", "--detach", site)
		if r.Code != 1 || !strings.Contains(r.Stderr, "There are already 4 builds running for tool bad (at most 4 may run at once)") {
			t.Errorf("the fifth build: %s", r)
		}
		r = p.ok(t, tool, "build", "cancel", "--all", "--yes-i-know")
		if !strings.Contains(r.Stdout, "Cancelled") {
			t.Errorf("cancel --all: %s", r)
		}
		testcluster.Eventually(t, time.Minute, func() error {
			l := p.ok(t, tool, "build", "list").Stdout
			if strings.Contains(l, "running") || strings.Contains(l, "pending") {
				return fmt.Errorf("builds still run:\n%s", l)
			}
			return nil
		})
	})
}

// The registry quota: a warning above 90 %, builds refused when full,
// the limit an admin's override (toolforge-admin quota set TOOL
// registry.storage=…, stored on the tool's namespace).
func TestTheRegistryQuotaWarnsThenRefuses(t *testing.T) {
	p := setup(t)
	const tool = "full"
	site := p.repo(t, "full-site", staticSite)
	p.build(t, tool, site)
	r := p.ok(t, tool, "build", "quota", "--json")
	var q struct {
		Quota struct {
			Categories []struct {
				Items []struct {
					Used  string `json:"used"`
					Limit string `json:"limit"`
				} `json:"items"`
			} `json:"categories"`
		} `json:"quota"`
	}
	if err := json.Unmarshal([]byte(r.Stdout), &q); err != nil || len(q.Quota.Categories) == 0 {
		t.Fatalf("build quota --json: %v\n%s", err, r)
	}
	item := q.Quota.Categories[0].Items[0]
	if item.Limit != "1.00Gi" {
		t.Errorf("the default quota is %s, want 1.00Gi", item.Limit)
	}
	used := parseBytes(t, item.Used)
	setQuota := func(bytes int64) {
		t.Helper()
		patch := fmt.Sprintf(`{"metadata":{"annotations":{%q:%q}}}`, tenancy.AnnotationQuota, fmt.Sprintf(`{"registry.storage":"%d"}`, bytes))
		if _, err := cluster.Client.CoreV1().Namespaces().Patch(context.Background(), tenancy.Namespace(tool), types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	setQuota(int64(math.Ceil(float64(used) * 1.05)))
	// Until the API has seen the new quota, a start makes a build with no
	// warning: each is cancelled before the next try (4 may run at once).
	testcluster.Eventually(t, 30*time.Second, func() error {
		r := p.ok(t, tool, "build", "start", "--detach", site)
		p.ok(t, tool, "build", "cancel", "--all", "--yes-i-know")
		if !strings.Contains(r.Stderr, "warning: Warning: Tool full has used up") {
			return fmt.Errorf("no warning at 95%%:\n%s", r)
		}
		return nil
	})
	setQuota(used / 2)
	testcluster.Eventually(t, 30*time.Second, func() error {
		r := p.toolforge(t, tool, "build", "start", "--detach", site)
		if r.Code != 1 || !strings.Contains(r.Stderr, "Tool full has used all of its registry quota") {
			p.ok(t, tool, "build", "cancel", "--all", "--yes-i-know")
			return fmt.Errorf("a full quota did not refuse the build:\n%s", r)
		}
		return nil
	})
	// Cleaning frees it.
	p.ok(t, tool, "build", "clean", "--yes-i-know")
	p.ok(t, tool, "build", "start", "--detach", site)
	p.ok(t, tool, "build", "cancel", "--all", "--yes-i-know")
}

// parseBytes reads the quota's "12.34Mi".
func parseBytes(t *testing.T, s string) int64 {
	t.Helper()
	for unit, mult := range map[string]float64{"Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30} {
		if v, ok := strings.CutSuffix(s, unit); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatal(err)
			}
			return int64(f * mult)
		}
	}
	n, err := strconv.ParseInt(strings.TrimSuffix(s, "B"), 10, 64)
	if err != nil {
		t.Fatalf("quota %q: %v", s, err)
	}
	return n
}
