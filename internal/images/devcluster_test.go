package images_test

import (
	"encoding/json"
	"os/exec"
	"testing"

	"github.com/toolforge-go/toolforge/internal/images"
	"github.com/toolforge-go/toolforge/internal/testcluster"
)

// devcluster builds the catalogue's images from Debian packages for its
// local registry; every image the built-in catalogue names must be one of
// them (or one devcluster says it cannot build, and why), or a tool's pod
// on devcluster would wait for an image nobody serves.
func TestEveryBuiltinImageIsOneDevclusterBuilds(t *testing.T) {
	bin, err := testcluster.Binary()
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "images", "list", "-o", "json").Output()
	if err != nil {
		t.Fatalf("devcluster images list: %v", err)
	}
	var rows []struct {
		Reference   string `json:"reference"`
		Unavailable string `json:"unavailable"`
	}
	if err := json.Unmarshal(out, &rows); err != nil {
		t.Fatal(err)
	}
	built := map[string]string{}
	for _, r := range rows {
		built[r.Reference] = r.Unavailable
	}
	for _, img := range images.Builtin().All() {
		for _, ref := range []string{img.Jobs, img.Web, img.JobImage()} {
			if ref == "" {
				continue
			}
			why, ok := built[ref]
			switch {
			case !ok:
				t.Errorf("%s: devcluster does not build %s", img.Name, ref)
			case why != "":
				t.Logf("%s: devcluster cannot build %s: %s", img.Name, ref, why)
			}
		}
	}
}
