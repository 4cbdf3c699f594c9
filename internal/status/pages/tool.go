package pages

import (
	"sort"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/toolforge-go/toolforge/internal/jobs"
	"github.com/toolforge-go/toolforge/internal/status/wire"
	"github.com/toolforge-go/toolforge/internal/tenancy"
	"github.com/toolforge-go/toolforge/internal/webservice"
)

// ToolList is /tools/: the tools whose name contains query.
func (b *Builder) ToolList(query string) wire.ToolList {
	out := wire.ToolList{Page: b.page(), Query: query, Active: []wire.ToolSummary{}, Idle: []wire.ToolSummary{}}
	for _, ns := range b.Src.Namespaces() {
		t, ok := toolOf(ns)
		if !ok || !matches(t, query) {
			continue
		}
		s := wire.ToolSummary{Name: t}
		pods := b.Src.Pods(ns.Name)
		for _, p := range pods {
			if !finished(p) {
				s.Pods++
			}
			s.Problems += len(problems(p, t))
		}
		s.WebService = webDeployment(b.Src.Deployments(ns.Name), t) != nil
		s.Jobs = len(b.jobObjects(ns.Name))
		if b.active(ns.Name) {
			out.Active = append(out.Active, s)
		} else {
			out.Idle = append(out.Idle, s)
		}
	}
	for _, l := range [][]wire.ToolSummary{out.Active, out.Idle} {
		sort.Slice(l, func(i, j int) bool { return l[i].Name < l[j].Name })
	}
	return out
}

// Tool is /tools/<t>/.
func (b *Builder) Tool(t string) (wire.Tool, error) {
	ns, err := b.toolNamespace(t)
	if err != nil {
		return wire.Tool{}, err
	}
	out := wire.Tool{
		Page: b.page(), Name: t, Namespace: ns.Name, Active: b.active(ns.Name),
		Jobs: []wire.Job{}, Pods: []wire.Pod{}, Quota: []wire.Quota{}, IngressHosts: []string{},
	}
	pods := b.Src.Pods(ns.Name)
	for _, p := range pods {
		out.Pods = append(out.Pods, podSummary(p))
	}
	sortPods(out.Pods)
	out.WebService = b.webService(ns.Name, t)
	restartsByJob := map[string]int32{}
	for _, p := range pods {
		if p.Labels[tenancy.LabelManagedBy] == tenancy.ManagedByJobs {
			restartsByJob[p.Labels[tenancy.LabelAppName]] += restarts(p)
		}
	}
	for _, obj := range b.jobObjects(ns.Name) {
		j := job(obj)
		j.Restarts = restartsByJob[j.Name]
		out.Jobs = append(out.Jobs, j)
	}
	sort.Slice(out.Jobs, func(i, j int) bool { return out.Jobs[i].Name < out.Jobs[j].Name })
	out.Quota = quota(b.Src.Quotas(ns.Name), ns.Name)
	hosts := map[string]bool{}
	for _, ing := range b.Src.Ingresses(ns.Name) {
		for _, r := range ing.Spec.Rules {
			if r.Host != "" {
				hosts[r.Host] = true
			}
		}
	}
	for h := range hosts {
		out.IngressHosts = append(out.IngressHosts, h)
	}
	sort.Strings(out.IngressHosts)
	if b.Events != nil {
		out.Events, out.EventsKept = b.Events(t), true
	}
	return out, nil
}

// quota is the tool's quota (the one the accounts controller makes, else
// the first), resource by resource.
func quota(quotas []*corev1.ResourceQuota, ns string) []wire.Quota {
	out := []wire.Quota{}
	if len(quotas) == 0 {
		return out
	}
	q := quotas[0]
	for _, cand := range quotas {
		if cand.Name == ns {
			q = cand
		}
	}
	for name, hard := range q.Status.Hard {
		used := q.Status.Used[name]
		out = append(out, wire.Quota{Resource: string(name), Used: used.String(), Hard: hard.String(), Fraction: fraction(used, hard)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Resource < out[j].Resource })
	return out
}

func webDeployment(deps []*appsv1.Deployment, tool string) *appsv1.Deployment {
	for _, d := range deps {
		if d.Name == tool && d.Labels[tenancy.LabelManagedBy] == tenancy.ManagedByWeb && d.Labels[tenancy.LabelComponent] == tenancy.ComponentWeb {
			return d
		}
	}
	return nil
}

func (b *Builder) webService(ns, tool string) *wire.WebService {
	d := webDeployment(b.Src.Deployments(ns), tool)
	if d == nil {
		return nil
	}
	ws := &wire.WebService{Type: d.Annotations[webservice.TypeAnnotation], Replicas: replicas(d), Ready: d.Status.ReadyReplicas}
	ws.State = deploymentState(d)
	for _, ing := range b.Src.Ingresses(ns) {
		if ing.Name == tool && ing.Labels[tenancy.LabelManagedBy] == tenancy.ManagedByWeb && len(ing.Spec.Rules) > 0 {
			ws.URL = tenancy.WebURL(b.Src.WebURL(), ing.Spec.Rules[0].Host)
		}
	}
	return ws
}

func replicas(d *appsv1.Deployment) int32 {
	if d.Spec.Replicas == nil {
		return 1
	}
	return *d.Spec.Replicas
}

func deploymentState(d *appsv1.Deployment) string {
	want := replicas(d)
	switch {
	case want == 0:
		return jobs.StatusNotRun
	case d.Status.ReadyReplicas >= want:
		return jobs.StatusRunning
	}
	for _, c := range d.Status.Conditions {
		if c.Type == appsv1.DeploymentReplicaFailure && c.Status == corev1.ConditionTrue {
			return jobs.StatusNotRun
		}
	}
	return jobs.StatusPending
}

// jobObjects are a namespace's jobs-framework jobs: CronJobs, one-off
// Jobs (not the runs of a CronJob) and continuous Deployments.
func (b *Builder) jobObjects(ns string) []any {
	var out []any
	for _, c := range b.Src.CronJobs(ns) {
		out = append(out, c)
	}
	for _, j := range b.Src.Jobs(ns) {
		if j.Labels[tenancy.LabelComponent] == tenancy.ComponentJobs {
			out = append(out, j)
		}
	}
	for _, d := range b.Src.Deployments(ns) {
		if d.Labels[tenancy.LabelManagedBy] == tenancy.ManagedByJobs {
			out = append(out, d)
		}
	}
	return out
}

func job(obj any) wire.Job {
	switch o := obj.(type) {
	case *batchv1.CronJob:
		j := wire.Job{Name: name(o.Labels, o.Name), Type: wire.JobScheduled, Schedule: o.Spec.Schedule, State: cronState(o)}
		j.Command, j.Image = command(o.Spec.JobTemplate.Spec.Template)
		if t := o.Status.LastScheduleTime; t != nil {
			at := t.UTC()
			j.LastRun = &at
		}
		return j
	case *batchv1.Job:
		j := wire.Job{Name: name(o.Labels, o.Name), Type: wire.JobOneOff, State: jobState(o)}
		j.Command, j.Image = command(o.Spec.Template)
		if t := o.Status.StartTime; t != nil {
			at := t.UTC()
			j.LastRun = &at
		}
		return j
	case *appsv1.Deployment:
		j := wire.Job{Name: name(o.Labels, o.Name), Type: wire.JobContinuous, State: deploymentState(o)}
		j.Command, j.Image = command(o.Spec.Template)
		return j
	}
	return wire.Job{}
}

func name(labels map[string]string, fallback string) string {
	if n := labels[tenancy.LabelAppName]; n != "" {
		return n
	}
	return fallback
}

// command is what a job's container runs: the shell command the jobs
// framework wraps in `sh -c`, or the command line as given.
func command(t corev1.PodTemplateSpec) (cmd, image string) {
	if len(t.Spec.Containers) == 0 {
		return "", ""
	}
	c := t.Spec.Containers[0]
	argv := append(append([]string(nil), c.Command...), c.Args...)
	if len(argv) == 4 && argv[0] == "/bin/sh" && argv[1] == "-c" && argv[2] == "--" {
		return jobs.UserCommand(argv[3]), c.Image
	}
	return strings.Join(argv, " "), c.Image
}

func jobState(j *batchv1.Job) string {
	for _, c := range j.Status.Conditions {
		if c.Status != corev1.ConditionTrue {
			continue
		}
		switch c.Type {
		case batchv1.JobComplete:
			return jobs.StatusCompleted
		case batchv1.JobFailed:
			return jobs.StatusFailed
		}
	}
	switch {
	case j.Spec.Suspend != nil && *j.Spec.Suspend:
		return jobs.StatusSuspended
	case j.Status.Active > 0:
		return jobs.StatusRunning
	}
	return jobs.StatusPending
}

// StateWaiting is a scheduled job between runs.
const StateWaiting = "Waiting for scheduled time"

func cronState(c *batchv1.CronJob) string {
	switch {
	case c.Spec.Suspend != nil && *c.Spec.Suspend:
		return jobs.StatusSuspended
	case len(c.Status.Active) > 0:
		return jobs.StatusRunning
	}
	return StateWaiting
}
