package force

import (
	"bytes"
	"testing"

	"github.com/toolforge-go/toolforge/internal/golden"
	"github.com/toolforge-go/toolforge/internal/migration"
)

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
	golden.Assert(t, "force.golden", b.Bytes())
}
