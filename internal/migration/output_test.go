package migration

import (
	"bytes"
	"testing"

	"github.com/toolforge-go/toolforge/internal/golden"
)

func sampleReport() *Report {
	return &Report{
		From: "default", To: "toolforge",
		Tools: []ToolReport{
			{Tool: "alpha", Context: "default", State: StatePending, Webservice: "php8.2", Scheduled: []string{"nightly"}, Continuous: []string{"bot"}},
			{Tool: "beta", Context: "toolforge", State: StateSwitched, Other: []string{"deployment/custom", "pod/debug"}},
			{Tool: "gamma", ContextError: "no kubeconfig", State: StateIdle},
			{Tool: "delta", Context: "default", State: StateUnprovisioned, OneOff: []string{"once"}},
		},
		Totals: Totals{Tools: 9, States: map[string]int{StatePending: 1, StateSwitched: 1, StateIdle: 1, StateUnprovisioned: 1, StateDone: 5},
			Webservices: 1, Scheduled: 1, Continuous: 1, OneOff: 1, Other: 2},
	}
}

func TestTheReportTableIsStable(t *testing.T) {
	var b bytes.Buffer
	if err := WriteReport(&b, sampleReport()); err != nil {
		t.Fatal(err)
	}
	golden.Assert(t, "report.golden", b.Bytes())
}

func TestAnEmptyReportIsItsTotalsOnly(t *testing.T) {
	r := &Report{From: "default", To: "toolforge", Totals: Totals{Tools: 3, States: map[string]int{StateDone: 3}}}
	var b bytes.Buffer
	if err := WriteReport(&b, r); err != nil {
		t.Fatal(err)
	}
	golden.Assert(t, "report_empty.golden", b.Bytes())
}
