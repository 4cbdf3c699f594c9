package pages_test

import (
	"errors"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/toolforge-go/toolforge/internal/status/pages"
	"github.com/toolforge-go/toolforge/internal/status/pages/pagestest"
	"github.com/toolforge-go/toolforge/internal/status/wire"
)

var now = pagestest.Epoch.Add(24 * time.Hour)

func builder() *pages.Builder {
	return &pages.Builder{Src: pagestest.Demo(), Now: func() time.Time { return now }}
}

// The web service's URL is the one the platform publishes to tools (what
// the CLI prints), not a guess: make run publishes http://{host}:8000/.
func TestToolPageLinksTheWebServiceAtThePublishedURL(t *testing.T) {
	src := pagestest.Demo()
	src.PublishedWebURL = "http://{host}:8000/"
	got, err := (&pages.Builder{Src: src, Now: func() time.Time { return now }}).Tool("demo")
	if err != nil {
		t.Fatal(err)
	}
	if ws := got.WebService; ws == nil || ws.URL != "http://demo.toolforge.org:8000/" {
		t.Fatalf("web service = %+v", ws)
	}
}

func TestToolPageShowsWebServiceJobsPodsQuotaAndHosts(t *testing.T) {
	got, err := builder().Tool("demo")
	if err != nil {
		t.Fatal(err)
	}
	if !got.ObservedAt.Equal(now) || !got.Active || got.Namespace != "tool-demo" {
		t.Errorf("page = observed %v, active %v, namespace %q", got.ObservedAt, got.Active, got.Namespace)
	}
	ws := got.WebService
	if ws == nil || ws.Type != pagestest.Payload || ws.URL != "https://demo.toolforge.org/" || ws.State != "Running" || ws.Ready != 1 {
		t.Errorf("web service = %+v", ws)
	}
	want := map[string]wire.Job{
		"bot":     {Name: "bot", Type: wire.JobContinuous, Command: pagestest.Payload, State: "Pending", Restarts: 3},
		"nightly": {Name: "nightly", Type: wire.JobScheduled, Schedule: "17 3 * * *", Command: "./nightly.sh", State: pages.StateWaiting},
		"once":    {Name: "once", Type: wire.JobOneOff, Command: "echo once", State: "Completed"},
	}
	if len(got.Jobs) != len(want) {
		t.Fatalf("jobs = %+v", got.Jobs)
	}
	for _, j := range got.Jobs {
		w := want[j.Name]
		if j.Type != w.Type || j.Schedule != w.Schedule || j.Command != w.Command || j.State != w.State || j.Restarts != w.Restarts {
			t.Errorf("job %s = %+v, want %+v", j.Name, j, w)
		}
	}
	if nightly := got.Jobs[1]; nightly.LastRun == nil || !nightly.LastRun.Equal(pagestest.Epoch.Add(time.Hour)) {
		t.Errorf("nightly last run = %v", nightly.LastRun)
	}
	if len(got.Pods) != 3 || got.Pods[0].Owner != "job bot" || got.Pods[2].Owner != "webservice" || got.Pods[0].Restarts != 3 || got.Pods[2].Ready != "1/1" {
		t.Errorf("pods = %+v", got.Pods)
	}
	wantQuota := []wire.Quota{{Resource: "limits.memory", Used: "2Gi", Hard: "8Gi", Fraction: 0.25}, {Resource: "pods", Used: "3", Hard: "4", Fraction: 0.75}}
	if len(got.Quota) != 2 || got.Quota[0] != wantQuota[0] || got.Quota[1] != wantQuota[1] {
		t.Errorf("quota = %+v, want %+v", got.Quota, wantQuota)
	}
	if len(got.IngressHosts) != 1 || got.IngressHosts[0] != "demo.toolforge.org" {
		t.Errorf("hosts = %v", got.IngressHosts)
	}
}

func TestWhatIsNotThereIsNotFound(t *testing.T) {
	b := builder()
	cases := []struct {
		name       string
		build      func() error
		kind, what string
	}{
		{"an unknown tool", func() error { _, err := b.Tool("nosuch"); return err }, "tool", "nosuch"},
		{"a namespace named like a tool but not labelled one", func() error { _, err := b.Tool("fake"); return err }, "tool", "fake"},
		{"a name no tool can have", func() error { _, err := b.Tool("<b>x</b>"); return err }, "tool", "<b>x</b>"},
		{"an unknown pod of a tool", func() error { _, err := b.Pod("demo", "nosuch"); return err }, "pod", "nosuch"},
		{"another namespace's pod asked for as a tool's", func() error { _, err := b.Pod("demo", "coredns-1"); return err }, "pod", "coredns-1"},
		{"a pod of an unknown tool", func() error { _, err := b.Pod("nosuch", "demo-abc"); return err }, "tool", "nosuch"},
		{"an unknown node", func() error { _, err := b.Node("node-9"); return err }, "node", "node-9"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var nf *pages.NotFoundError
			if err := tc.build(); !errors.As(err, &nf) || nf.Kind != tc.kind || nf.Name != tc.what {
				t.Fatalf("err = %v, want %s %q not found", err, tc.kind, tc.what)
			}
		})
	}
}

func TestOverviewCountsNodesPodsToolsAndProblems(t *testing.T) {
	got := builder().Overview()
	if got.KubernetesVersion != "v1.36.3" || got.Nodes.Total != 1 || got.Nodes.Ready != 1 || len(got.Nodes.ByRole) != 1 || got.Nodes.ByRole[0].Role != "worker" {
		t.Errorf("nodes = %+v, version %q", got.Nodes, got.KubernetesVersion)
	}
	if got.CPU.Allocatable != 4 || got.CPU.Requested != 0.75 {
		t.Errorf("cpu = %+v (three pods hold 250m each; the finished one none)", got.CPU)
	}
	phases := map[string]int{}
	for _, p := range got.PodsByPhase {
		phases[p.Phase] = p.Count
	}
	if phases["Running"] != 3 || phases["Succeeded"] != 1 || len(got.PodsByPhase) != 5 {
		t.Errorf("pods by phase = %+v", got.PodsByPhase)
	}
	if got.Tools.Total != 2 || got.Tools.Active != 1 || len(got.ActiveTools) != 1 || got.ActiveTools[0].Name != "demo" {
		t.Errorf("tools = %+v, active %+v", got.Tools, got.ActiveTools)
	}
	if len(got.Platform) != 2 || got.Platform[0].Name != "kube-system" || got.Platform[0].Problems != 1 {
		t.Errorf("platform = %+v", got.Platform)
	}
	reasons := map[string]string{}
	for _, p := range got.Problems {
		reasons[p.Pod.Name] = p.Reason
	}
	if len(got.Problems) != 2 || reasons["coredns-1"] != "CrashLoopBackOff" || reasons["bot-xyz"] != "OOMKilled" || got.ProblemsTotal != 2 {
		t.Errorf("problems = %+v", got.Problems)
	}
}

func TestToolListSplitsActiveFromIdleAndSearches(t *testing.T) {
	cases := []struct {
		name, query  string
		active, idle []string
	}{
		{"every tool without a query", "", []string{"demo"}, []string{"quiet"}},
		{"tools whose name contains the query", "qui", nil, []string{"quiet"}},
		{"a query in capitals matches lower case names", "DEM", []string{"demo"}, nil},
		{"nothing for a query no tool matches", "zzz", nil, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := builder().ToolList(tc.query)
			names := func(l []wire.ToolSummary) (out []string) {
				for _, s := range l {
					out = append(out, s.Name)
				}
				return out
			}
			if a, i := names(got.Active), names(got.Idle); !equal(a, tc.active) || !equal(i, tc.idle) {
				t.Errorf("active %v idle %v, want %v %v", a, i, tc.active, tc.idle)
			}
		})
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestPodPageShowsContainersWithoutEnvironment(t *testing.T) {
	got, err := builder().Pod("demo", "bot-xyz")
	if err != nil {
		t.Fatal(err)
	}
	c := got.Containers[0]
	if got.Owner != "job bot" || c.State.State != "running" || c.LastState == nil || c.LastState.Reason != "OOMKilled" || *c.LastState.ExitCode != 137 || c.Requests["cpu"] != "250m" {
		t.Errorf("pod = %+v, container %+v", got, c)
	}
}

func TestPendingPodsAreProblemsWithTheSchedulersReason(t *testing.T) {
	src := pagestest.Demo()
	p := src.PodList[0].DeepCopy()
	p.Name, p.Spec.NodeName = "stuck", ""
	p.Status = corev1.PodStatus{Phase: corev1.PodPending, Conditions: []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: "Unschedulable"}}}
	p.CreationTimestamp = metav1.NewTime(pagestest.Epoch)
	src.PodList = append(src.PodList, p)
	got := (&pages.Builder{Src: src}).Overview()
	for _, pr := range got.Problems {
		if pr.Pod.Name == "stuck" && pr.Reason == pages.ReasonUnschedulable && pr.Pod.Tool == "demo" {
			return
		}
	}
	t.Errorf("no Unschedulable problem for the pending pod: %+v", got.Problems)
}

func TestImagesCountToolsByCatalogueEntry(t *testing.T) {
	got := builder().Images()
	uses := map[string]wire.ImageUse{}
	for _, u := range got.Catalogue {
		uses[u.Ref] = u
	}
	base := uses["docker-registry.tools.wmflabs.org/toolforge-bookworm-sssd:latest"]
	web := uses["docker-registry.tools.wmflabs.org/toolforge-python311-sssd-web:latest"]
	if base.Name != "bookworm" || base.Tools != 1 || base.Pods != 1 || web.Tools != 1 || web.Pods != 1 {
		t.Errorf("bookworm %+v, python web %+v", base, web)
	}
	if len(got.Other) != 0 {
		t.Errorf("other = %+v (kube-system's images are not tools')", got.Other)
	}
}

func TestTheOverviewShowsUseOnlyWhereAMetricsAPIReportsIt(t *testing.T) {
	src := pagestest.Demo()
	if got := (&pages.Builder{Src: src}).Overview(); got.CPU.Used != nil || got.Memory.Used != nil {
		t.Errorf("use without a metrics API: %+v %+v", got.CPU, got.Memory)
	}
	src.UsedCPU, src.UsedMemory, src.HasUsage = 1.25, 3e9, true
	got := (&pages.Builder{Src: src}).Overview()
	if got.CPU.Used == nil || *got.CPU.Used != 1.25 || got.Memory.Used == nil || *got.Memory.Used != 3e9 {
		t.Errorf("use = %+v %+v", got.CPU, got.Memory)
	}
}
