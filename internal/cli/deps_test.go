package cli

import (
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/toolforge-go/toolforge/"

// deps lists the packages pkg links, with `go list -deps` (the linker's
// view, so a blank or indirect import counts too).
func deps(t *testing.T, pkg string) []string {
	t.Helper()
	out, err := exec.Command("go", "list", "-deps", module+pkg).Output()
	if err != nil {
		t.Fatalf("go list -deps %s: %v", pkg, err)
	}
	return strings.Fields(string(out))
}

// The CLI shares the APIs' wire types and validation with the servers, and
// nothing else of theirs: a server package linked into the CLI would bring
// its dependencies, and its code, to every bastion.
func TestTheCLILinksNoServerCode(t *testing.T) {
	servers := []string{"internal/api", "internal/jobs/server", "internal/envvars/server", "internal/builds/server", "internal/builds/v1alpha1", "internal/components/server", "internal/components/v1alpha1", "internal/builder", "internal/admission", "internal/accounts", "internal/daemon", "internal/logs/server", "internal/logs/store", "internal/logs/ingest", "internal/logs/events"}
	for _, d := range deps(t, "cmd/toolforge") {
		for _, s := range servers {
			if d == module+s || strings.HasPrefix(d, module+s+"/") {
				t.Errorf("cmd/toolforge links server package %s", d)
			}
		}
	}
}

// The route package is what both sides share of the API server; it must
// stay a leaf so that sharing it shares nothing else.
func TestTheRoutePackageIsALeaf(t *testing.T) {
	for _, d := range deps(t, "internal/route") {
		if strings.HasPrefix(d, module) && d != module+"internal/route" {
			t.Errorf("internal/route imports %s", d)
		}
	}
}
