package force

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/toolforge-go/toolforge/internal/migration"
)

var updateGolden = flag.Bool("update", false, "rewrite the golden files of the forced phase's output")

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *updateGolden {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run the test with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s differs from %s (-update rewrites it):\n--- got\n%s\n--- want\n%s", name, path, got, want)
	}
}

func TestTheForcedPhasesLinesAreStable(t *testing.T) {
	results := []Result{
		{Tool: "alpha", Outcome: Migrated, Moved: &migration.Result{Web: "php8.2", Jobs: []string{"bot", "nightly"}, Switched: true}},
		{Tool: "beta", Outcome: Migrated, Moved: &migration.Result{Switched: true, Stayed: []string{"once"}}, Left: []string{"deployment/custom"}},
		{Tool: "gamma", Outcome: Failed, Reason: "nothing was changed: this cannot run on toolforge as it is:\n  the webservice: --mem 2Gi is more than the maximum 1Gi"},
	}
	var b bytes.Buffer
	if err := Write(&b, results); err != nil {
		t.Fatal(err)
	}
	golden(t, "force", b.Bytes())
}
