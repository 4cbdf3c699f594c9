package migration

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"sync"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/toolforge-go/toolforge/internal/homefs"
	"github.com/toolforge-go/toolforge/internal/kubecontext"
	"github.com/toolforge-go/toolforge/internal/tenancy"
	"github.com/toolforge-go/toolforge/internal/webservice"
)

// A tool's state in a migration, which the runbook's phases move it
// through (docs/migration.md).
const (
	// StateDone: on the new cluster, nothing left on the old one.
	StateDone = "done"
	// StatePending: on the old cluster with workloads there (what the
	// forced phase moves).
	StatePending = "pending"
	// StateIdle: on the old cluster, nothing running there (the forced
	// phase only switches it).
	StateIdle = "idle"
	// StateSwitched: on the new cluster, but workloads left on the old
	// one (a switch by hand, `kubectl config use-context`).
	StateSwitched = "switched"
	// StateUnprovisioned: no namespace on the new cluster yet (its
	// accounts controller has not run for the tool).
	StateUnprovisioned = "unprovisioned"
)

// States in the order reports list them.
var States = []string{StatePending, StateSwitched, StateIdle, StateUnprovisioned, StateDone}

// ToolReport is one tool: where its kubeconfig points and what it still
// runs on the old cluster.
type ToolReport struct {
	Tool string `json:"tool"`
	// Context is its kubeconfig's current context; ContextError says why
	// it could not be read.
	Context      string `json:"context"`
	ContextError string `json:"contextError,omitempty"`
	State        string `json:"state"`
	// UID is the tool's uid (its namespace's label), whom its files
	// belong to.
	UID int64 `json:"-"`
	// On the old cluster: the web service's type; the jobs by type; other
	// workloads (kind/name) the platform did not make.
	Webservice string   `json:"webservice,omitempty"`
	Scheduled  []string `json:"scheduled,omitempty"`
	Continuous []string `json:"continuous,omitempty"`
	OneOff     []string `json:"oneOff,omitempty"`
	Other      []string `json:"other,omitempty"`
}

// Left says whether anything runs on the old cluster.
func (t ToolReport) Left() bool {
	return t.Webservice != "" || len(t.Scheduled)+len(t.Continuous)+len(t.OneOff)+len(t.Other) > 0
}

// Totals sum a report.
type Totals struct {
	Tools       int            `json:"tools"`
	States      map[string]int `json:"states"`
	Webservices int            `json:"webservices"`
	Scheduled   int            `json:"scheduled"`
	Continuous  int            `json:"continuous"`
	OneOff      int            `json:"oneOff"`
	Other       int            `json:"other"`
}

// Report is what is left on the old cluster, per tool.
type Report struct {
	From   string       `json:"from"`
	To     string       `json:"to"`
	Tools  []ToolReport `json:"tools"`
	Totals Totals       `json:"totals"`
}

// ReportOptions say which clusters to compare, as whom, and where the
// tools' homes are.
type ReportOptions struct {
	From, To         string
	FromKube, ToKube kubernetes.Interface
	// HomeRoot holds the tools' homes (<HomeRoot>/<tool>), whose
	// kubeconfigs say which cluster each tool is on.
	HomeRoot string
	// Workers read kubeconfigs in parallel (default 16).
	Workers int
}

// BuildReport lists every tool of either cluster with its current context
// and what it still runs on From, and sums them.
func BuildReport(ctx context.Context, o ReportOptions) (*Report, error) {
	fromNS, err := toolNamespaces(ctx, o.FromKube)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", o.From, err)
	}
	toNS, err := toolNamespaces(ctx, o.ToKube)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", o.To, err)
	}
	tools := map[string]*ToolReport{}
	for _, m := range []map[string]*corev1.Namespace{fromNS, toNS} {
		for name, ns := range m {
			if tools[name] == nil {
				tools[name] = &ToolReport{Tool: name}
			}
			if uid, err := parseUID(ns); err == nil {
				tools[name].UID = uid
			}
		}
	}
	if err := workloads(ctx, o.FromKube, tools); err != nil {
		return nil, fmt.Errorf("%s: %w", o.From, err)
	}
	readContexts(tools, o.HomeRoot, max(o.Workers, 1))
	r := &Report{From: o.From, To: o.To, Totals: Totals{States: map[string]int{}}}
	for _, s := range States {
		r.Totals.States[s] = 0
	}
	for name, t := range tools {
		onTo := t.Context == o.To
		switch {
		case toNS[name] == nil:
			t.State = StateUnprovisioned
		case onTo && !t.Left():
			t.State = StateDone
		case onTo:
			t.State = StateSwitched
		case t.Left():
			t.State = StatePending
		default:
			t.State = StateIdle
		}
		r.Tools = append(r.Tools, *t)
		r.Totals.Tools++
		r.Totals.States[t.State]++
		if t.Webservice != "" {
			r.Totals.Webservices++
		}
		r.Totals.Scheduled += len(t.Scheduled)
		r.Totals.Continuous += len(t.Continuous)
		r.Totals.OneOff += len(t.OneOff)
		r.Totals.Other += len(t.Other)
	}
	sort.Slice(r.Tools, func(i, j int) bool { return r.Tools[i].Tool < r.Tools[j].Tool })
	return r, nil
}

func parseUID(ns *corev1.Namespace) (int64, error) {
	var uid int64
	_, err := fmt.Sscan(ns.Labels[tenancy.LabelUID], &uid)
	return uid, err
}

// toolNamespaces are a cluster's tool namespaces, by tool.
func toolNamespaces(ctx context.Context, kube kubernetes.Interface) (map[string]*corev1.Namespace, error) {
	list, err := kube.CoreV1().Namespaces().List(ctx, metav1.ListOptions{LabelSelector: tenancy.LabelTenancy + "=" + tenancy.TenancyTool})
	if err != nil {
		return nil, fmt.Errorf("list tool namespaces: %w", err)
	}
	out := map[string]*corev1.Namespace{}
	for i := range list.Items {
		if tool, ok := tenancy.ToolOfNamespace(list.Items[i].Name); ok && list.Items[i].DeletionTimestamp == nil {
			out[tool] = &list.Items[i]
		}
	}
	return out, nil
}

// workloads files what runs in the tools' namespaces of one cluster under
// each tool, from one list of each kind across the cluster.
func workloads(ctx context.Context, kube kubernetes.Interface, tools map[string]*ToolReport) error {
	all := metav1.ListOptions{}
	of := func(ns string) *ToolReport {
		tool, ok := tenancy.ToolOfNamespace(ns)
		if !ok {
			return nil
		}
		return tools[tool]
	}
	managedBy := func(l map[string]string) string { return l[tenancy.LabelManagedBy] }
	deps, err := kube.AppsV1().Deployments("").List(ctx, all)
	if err != nil {
		return fmt.Errorf("list deployments: %w", err)
	}
	for _, d := range deps.Items {
		t := of(d.Namespace)
		switch {
		case t == nil:
		case managedBy(d.Labels) == tenancy.ManagedByWeb && d.Name == t.Tool:
			t.Webservice = d.Annotations[webservice.TypeAnnotation]
			if t.Webservice == "" {
				t.Webservice = "unknown"
			}
		case managedBy(d.Labels) == tenancy.ManagedByJobs:
			t.Continuous = append(t.Continuous, d.Labels[tenancy.LabelAppName])
		default:
			t.Other = append(t.Other, "deployment/"+d.Name)
		}
	}
	crons, err := kube.BatchV1().CronJobs("").List(ctx, all)
	if err != nil {
		return fmt.Errorf("list cronjobs: %w", err)
	}
	for _, c := range crons.Items {
		if t := of(c.Namespace); t != nil {
			if managedBy(c.Labels) == tenancy.ManagedByJobs {
				t.Scheduled = append(t.Scheduled, c.Labels[tenancy.LabelAppName])
			} else {
				t.Other = append(t.Other, "cronjob/"+c.Name)
			}
		}
	}
	jobList, err := kube.BatchV1().Jobs("").List(ctx, all)
	if err != nil {
		return fmt.Errorf("list jobs: %w", err)
	}
	for _, j := range jobList.Items {
		t := of(j.Namespace)
		// A finished Job runs nothing; one a CronJob made belongs to it.
		if t == nil || finished(&j) || metav1.GetControllerOf(&j) != nil {
			continue
		}
		if managedBy(j.Labels) == tenancy.ManagedByJobs {
			t.OneOff = append(t.OneOff, j.Labels[tenancy.LabelAppName])
		} else {
			t.Other = append(t.Other, "job/"+j.Name)
		}
	}
	sets, err := kube.AppsV1().StatefulSets("").List(ctx, all)
	if err != nil {
		return fmt.Errorf("list statefulsets: %w", err)
	}
	for _, s := range sets.Items {
		if t := of(s.Namespace); t != nil {
			t.Other = append(t.Other, "statefulset/"+s.Name)
		}
	}
	daemons, err := kube.AppsV1().DaemonSets("").List(ctx, all)
	if err != nil {
		return fmt.Errorf("list daemonsets: %w", err)
	}
	for _, d := range daemons.Items {
		if t := of(d.Namespace); t != nil {
			t.Other = append(t.Other, "daemonset/"+d.Name)
		}
	}
	pods, err := kube.CoreV1().Pods("").List(ctx, all)
	if err != nil {
		return fmt.Errorf("list pods: %w", err)
	}
	for _, p := range pods.Items {
		// Bare pods only: the others belong to a workload above.
		if t := of(p.Namespace); t != nil && len(p.OwnerReferences) == 0 && p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed {
			t.Other = append(t.Other, "pod/"+p.Name)
		}
	}
	for _, t := range tools {
		for _, l := range [][]string{t.Scheduled, t.Continuous, t.OneOff, t.Other} {
			sort.Strings(l)
		}
	}
	return nil
}

func finished(j *batchv1.Job) bool {
	for _, c := range j.Status.Conditions {
		if (c.Type == batchv1.JobComplete || c.Type == batchv1.JobFailed) && c.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}

// readContexts reads each tool's current context from its kubeconfig,
// without following a symlink the tool planted.
func readContexts(tools map[string]*ToolReport, homeRoot string, workers int) {
	work := make(chan *ToolReport)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for t := range work {
				home, err := homefs.OpenHome(filepath.Join(homeRoot, t.Tool), homefs.Owner{UID: int(t.UID), GID: int(t.UID)})
				if err == nil {
					t.Context, err = kubecontext.Current(home)
					home.Close()
				}
				if err != nil {
					t.ContextError = err.Error()
				}
			}
		})
	}
	for _, t := range tools {
		work <- t
	}
	close(work)
	wg.Wait()
}
