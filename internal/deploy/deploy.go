package deploy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"reflect"
	"strings"
	"time"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/release"
	"helm.sh/helm/v3/pkg/storage/driver"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// AnnotationCluster marks the release namespace with the control
// repository's name for its cluster, so that one cluster's pins are never
// applied to another (a kubeconfig context mixed up).
const AnnotationCluster = "toolforge.org/deploy-cluster"

// Deployer acts on one cluster.
type Deployer struct {
	// Config reaches the cluster with the power to deploy (the admin's
	// writer, impersonating a cluster admin).
	Config *rest.Config
	// Progress gets one line per step of long work (stderr).
	Progress io.Writer
	Log      *slog.Logger
}

func (d *Deployer) progress(c *Component, format string, args ...any) {
	if d.Progress != nil {
		fmt.Fprintf(d.Progress, "%s/%s: %s\n", c.Cluster, c.Name, fmt.Sprintf(format, args...))
	}
}

func (d *Deployer) log() *slog.Logger {
	if d.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return d.Log
}

// Version is what a component runs or should run.
type Version struct {
	Chart string `json:"chart"`
	Image string `json:"image"`
}

// pinnedVersion is the pin's.
func pinnedVersion(c *Component) Version {
	return Version{Chart: c.ChartVersion, Image: c.Image.Tag}
}

// releaseVersion is what a release deployed: its chart version and the
// image tag it was given (else the chart's appVersion, the chart's
// default).
func releaseVersion(rel *release.Release) Version {
	v := Version{}
	if rel.Chart != nil && rel.Chart.Metadata != nil {
		v.Chart, v.Image = rel.Chart.Metadata.Version, rel.Chart.Metadata.AppVersion
	}
	if img, ok := rel.Config["image"].(map[string]any); ok {
		if tag, ok := img["tag"].(string); ok && tag != "" {
			v.Image = tag
		}
	}
	return v
}

// Status is a component's state on its cluster.
type Status struct {
	Cluster   string  `json:"cluster"`
	Component string  `json:"component"`
	Namespace string  `json:"namespace"`
	Release   string  `json:"release"`
	Pinned    Version `json:"pinned"`
	// Deployed is the release's current revision, nil if never deployed.
	Deployed *Version `json:"deployed,omitempty"`
	Revision int      `json:"revision,omitempty"`
	// State is Helm's word for the revision: deployed, failed,
	// pending-upgrade, …
	State string `json:"state,omitempty"`
	// Drift lists the release's objects whose live state differs.
	Drift []ObjectChange `json:"drift"`
	// InSync: deployed at the pin, state deployed, no drift.
	InSync bool `json:"inSync"`
	// Error says why the state could not be read (exit code 2).
	Error string `json:"error,omitempty"`
}

// clients are what every verb needs on the cluster.
type clients struct {
	kube   kubernetes.Interface
	dyn    dynamic.Interface
	mapper meta.RESTMapper
	helm   *action.Configuration
}

func (d *Deployer) clients(c *Component) (*clients, error) {
	cfg := rest.CopyConfig(d.Config)
	// Warnings (a deprecation, Pod Security's warn mode) go to the log,
	// not into the verbs' output.
	cfg.WarningHandler = rest.NoWarnings{}
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	g, err := newGetter(cfg, c.Namespace)
	if err != nil {
		return nil, err
	}
	mapper, err := g.ToRESTMapper()
	if err != nil {
		return nil, err
	}
	h, err := helmConfig(cfg, c.Namespace, d.log())
	if err != nil {
		return nil, err
	}
	return &clients{kube: kube, dyn: dyn, mapper: mapper, helm: h}, nil
}

// Status reads a component's state: deployed against pinned, and the
// drift of the live objects from the deployed release.
func (d *Deployer) Status(ctx context.Context, c *Component) Status {
	s := Status{Cluster: c.Cluster, Component: c.Name, Namespace: c.Namespace, Release: c.Release, Pinned: pinnedVersion(c), Drift: []ObjectChange{}}
	cl, err := d.clients(c)
	if err != nil {
		s.Error = err.Error()
		return s
	}
	if err := checkCluster(ctx, cl.kube, c); err != nil {
		s.Error = err.Error()
		return s
	}
	rel, err := cl.helm.Releases.Last(c.Release)
	if errors.Is(err, driver.ErrReleaseNotFound) {
		return s
	}
	if err != nil {
		s.Error = fmt.Sprintf("read release %s/%s: %v", c.Namespace, c.Release, err)
		return s
	}
	v := releaseVersion(rel)
	s.Deployed, s.Revision, s.State = &v, rel.Version, rel.Info.Status.String()
	drift, err := d.drift(ctx, cl, rel.Manifest, c.Namespace)
	if err != nil {
		s.Error = err.Error()
		return s
	}
	s.Drift = drift
	s.InSync = v == s.Pinned && rel.Info.Status == release.StatusDeployed && len(drift) == 0
	return s
}

func (d *Deployer) drift(ctx context.Context, cl *clients, manifest, ns string) ([]ObjectChange, error) {
	objs, err := objects(manifest, ns, cl.mapper)
	if err != nil {
		return nil, err
	}
	out := []ObjectChange{}
	for _, o := range objs {
		ch, err := compare(ctx, cl.dyn, cl.mapper, o)
		if err != nil {
			return nil, err
		}
		if ch != nil {
			out = append(out, *ch)
		}
	}
	return out, nil
}

// checkCluster refuses a release namespace that another cluster of the
// control repository deployed to.
func checkCluster(ctx context.Context, kube kubernetes.Interface, c *Component) error {
	ns, err := kube.CoreV1().Namespaces().Get(ctx, c.Namespace, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read namespace %s: %w", c.Namespace, err)
	}
	if got := ns.Annotations[AnnotationCluster]; got != "" && got != c.Cluster {
		return fmt.Errorf("this cluster's %s namespace was deployed as cluster %q, not %q: is the kubeconfig context (--context) the right one?", c.Namespace, got, c.Cluster)
	}
	return nil
}

// Plan is what apply would do to a component.
type Plan struct {
	Cluster   string         `json:"cluster"`
	Component string         `json:"component"`
	From      *Version       `json:"from,omitempty"`
	To        Version        `json:"to"`
	Changes   []ObjectChange `json:"changes"`
}

// Empty: apply would change nothing.
func (p Plan) Empty() bool {
	return p.From != nil && *p.From == p.To && len(p.Changes) == 0
}

// Diff renders the pinned release and compares it with the cluster:
// objects to create, change (a diff each) and delete, and the version
// change.
func (d *Deployer) Diff(ctx context.Context, c *Component) (*Plan, error) {
	cl, err := d.clients(c)
	if err != nil {
		return nil, err
	}
	if err := checkCluster(ctx, cl.kube, c); err != nil {
		return nil, err
	}
	ch, err := LoadChart(c)
	if err != nil {
		return nil, err
	}
	p := &Plan{Cluster: c.Cluster, Component: c.Name, To: pinnedVersion(c), Changes: []ObjectChange{}}
	var oldManifest string
	rel, err := cl.helm.Releases.Last(c.Release)
	switch {
	case errors.Is(err, driver.ErrReleaseNotFound):
	case err != nil:
		return nil, fmt.Errorf("read release %s/%s: %w", c.Namespace, c.Release, err)
	default:
		v := releaseVersion(rel)
		p.From, oldManifest = &v, rel.Manifest
	}
	manifest, err := render(cl.helm, c, ch)
	if err != nil {
		return nil, err
	}
	want, err := objects(manifest, c.Namespace, cl.mapper)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for _, o := range want {
		seen[objectKey(o)] = true
		change, err := compare(ctx, cl.dyn, cl.mapper, o)
		if err != nil {
			return nil, err
		}
		if change != nil {
			if change.Change == "missing" {
				change.Change = "create"
			}
			p.Changes = append(p.Changes, *change)
		}
	}
	if oldManifest != "" {
		old, err := objects(oldManifest, c.Namespace, cl.mapper)
		if err != nil {
			return nil, err
		}
		for _, o := range old {
			if !seen[objectKey(o)] {
				p.Changes = append(p.Changes, ObjectChange{Kind: o.GetKind(), Namespace: o.GetNamespace(), Name: o.GetName(), Change: "delete"})
			}
		}
	}
	return p, nil
}

// render is the pinned release's manifest, as an install would make it on
// this cluster (its version and API groups), without touching it.
func render(h *action.Configuration, c *Component, ch *chart.Chart) (string, error) {
	in := action.NewInstall(h)
	in.ReleaseName, in.Namespace = c.Release, c.Namespace
	// A dry run against the cluster: its version and API groups, nothing
	// written.
	in.DryRun, in.Replace = true, true
	rel, err := in.Run(ch, c.HelmValues())
	if err != nil {
		return "", fmt.Errorf("render chart %s %s: %w", c.Chart, c.ChartVersion, err)
	}
	return rel.Manifest, nil
}

// ErrRolledBack is apply's failure after which the previous revision was
// restored.
var ErrRolledBack = errors.New("rolled back")

// Result is what apply did.
type Result struct {
	Cluster   string   `json:"cluster"`
	Component string   `json:"component"`
	Action    string   `json:"action"` // installed, upgraded, unchanged, rolled-back, failed
	From      *Version `json:"from,omitempty"`
	To        Version  `json:"to"`
	Revision  int      `json:"revision,omitempty"`
	Took      string   `json:"took"`
	Error     string   `json:"error,omitempty"`
}

// Apply installs or upgrades a component to exactly its pin, waits until
// every workload is ready, and when that fails rolls the release back to
// the revision it had (or removes a first install) and says so. A
// component already at its pin, with its values and without drift, is
// left alone.
func (d *Deployer) Apply(ctx context.Context, c *Component) (*Result, error) {
	start := time.Now()
	res := &Result{Cluster: c.Cluster, Component: c.Name, To: pinnedVersion(c)}
	finish := func(action string, err error) (*Result, error) {
		res.Action, res.Took = action, time.Since(start).Round(time.Second).String()
		if err != nil {
			res.Error = err.Error()
		}
		return res, err
	}
	cl, err := d.clients(c)
	if err != nil {
		return finish("failed", err)
	}
	if err := checkCluster(ctx, cl.kube, c); err != nil {
		return finish("failed", err)
	}
	d.progress(c, "loading chart %s %s", c.Chart, c.ChartVersion)
	ch, err := LoadChart(c)
	if err != nil {
		return finish("failed", err)
	}
	vals := c.HelmValues()
	prev, err := cl.helm.Releases.Last(c.Release)
	if err != nil && !errors.Is(err, driver.ErrReleaseNotFound) {
		return finish("failed", fmt.Errorf("read release %s/%s: %w", c.Namespace, c.Release, err))
	}
	if prev != nil {
		v := releaseVersion(prev)
		res.From = &v
		if prev.Info.Status == release.StatusDeployed && v == res.To && sameValues(prev.Config, vals) {
			drift, err := d.drift(ctx, cl, prev.Manifest, c.Namespace)
			if err != nil {
				return finish("failed", err)
			}
			if len(drift) == 0 {
				d.progress(c, "in sync at chart %s, image %s: nothing to do", v.Chart, v.Image)
				res.Revision = prev.Version
				return finish("unchanged", nil)
			}
			d.progress(c, "%d object(s) drifted from revision %d: applying it again", len(drift), prev.Version)
		}
	}
	if err := ensureNamespace(ctx, cl.kube, c); err != nil {
		return finish("failed", err)
	}
	stop := d.watchRollout(ctx, cl.kube, c)
	var rel *release.Release
	if prev == nil {
		d.progress(c, "installing chart %s, image %s (waiting up to %s for readiness)", c.ChartVersion, c.Image.Ref(), c.Timeout)
		in := action.NewInstall(cl.helm)
		in.ReleaseName, in.Namespace = c.Release, c.Namespace
		in.Wait, in.Timeout = true, c.Timeout.Duration
		rel, err = in.RunWithContext(ctx, ch, vals)
	} else {
		d.progress(c, "upgrading from chart %s, image %s to chart %s, image %s (waiting up to %s for readiness)", res.From.Chart, res.From.Image, c.ChartVersion, c.Image.Tag, c.Timeout)
		up := action.NewUpgrade(cl.helm)
		up.Namespace = c.Namespace
		up.Wait, up.Timeout, up.MaxHistory = true, c.Timeout.Duration, 10
		up.ResetValues = true
		rel, err = up.RunWithContext(ctx, c.Release, ch, vals)
	}
	stop()
	if err == nil {
		res.Revision = rel.Version
		d.progress(c, "revision %d ready: chart %s, image %s", rel.Version, c.ChartVersion, c.Image.Tag)
		if prev == nil {
			return finish("installed", nil)
		}
		return finish("upgraded", nil)
	}
	if errors.Is(err, context.DeadlineExceeded) || strings.Contains(err.Error(), "deadline exceeded") || strings.Contains(err.Error(), "timed out") {
		err = fmt.Errorf("not ready within %s (the last lines above say which workloads were not; kubectl get pods -n %s says why): %w", c.Timeout, c.Namespace, err)
	}
	d.progress(c, "failed: %v", err)
	return d.undo(ctx, cl, c, prev, err, finish)
}

// undo puts a component back as it was after a failed apply: the last
// deployed revision again, or nothing after a failed first install.
func (d *Deployer) undo(ctx context.Context, cl *clients, c *Component, prev *release.Release, cause error, finish func(string, error) (*Result, error)) (*Result, error) {
	if prev == nil {
		d.progress(c, "removing the failed first install")
		un := action.NewUninstall(cl.helm)
		un.Wait, un.Timeout = true, c.Timeout.Duration
		if _, err := un.Run(c.Release); err != nil {
			return finish("failed", fmt.Errorf("%w; removing the failed install failed too: %v", cause, err))
		}
		return finish("failed", fmt.Errorf("install failed and was removed: %w", cause))
	}
	good, err := lastDeployed(cl.helm, c.Release)
	if err != nil {
		return finish("failed", fmt.Errorf("%w; no revision to roll back to: %v", cause, err))
	}
	v := releaseVersion(good)
	d.progress(c, "rolling back to revision %d (chart %s, image %s)", good.Version, v.Chart, v.Image)
	stop := d.watchRollout(ctx, cl.kube, c)
	rb := action.NewRollback(cl.helm)
	rb.Version, rb.Wait, rb.Timeout = good.Version, true, c.Timeout.Duration
	err = rb.Run(c.Release)
	stop()
	if err != nil {
		return finish("failed", fmt.Errorf("%w; rolling back to revision %d failed too: %v", cause, good.Version, err))
	}
	cur, err := cl.helm.Releases.Last(c.Release)
	if err == nil {
		d.progress(c, "rolled back: revision %d runs chart %s, image %s", cur.Version, v.Chart, v.Image)
	}
	return finish("rolled-back", fmt.Errorf("%w to chart %s, image %s after: %v", ErrRolledBack, v.Chart, v.Image, cause))
}

// lastDeployed is the newest revision that was deployed successfully
// (superseded since, or current).
func lastDeployed(h *action.Configuration, name string) (*release.Release, error) {
	hist, err := h.Releases.History(name)
	if err != nil {
		return nil, err
	}
	var best *release.Release
	for _, r := range hist {
		if r.Info.Status != release.StatusDeployed && r.Info.Status != release.StatusSuperseded {
			continue
		}
		if best == nil || r.Version > best.Version {
			best = r
		}
	}
	if best == nil {
		return nil, errors.New("no revision was ever deployed")
	}
	return best, nil
}

// sameValues compares values as the release stored them with new ones
// (both as JSON: numbers alike).
func sameValues(a, b map[string]any) bool {
	norm := func(m map[string]any) any {
		var v any
		data, _ := json.Marshal(m)
		_ = json.Unmarshal(data, &v)
		if v == nil {
			v = map[string]any{}
		}
		return v
	}
	return reflect.DeepEqual(norm(a), norm(b))
}

// ensureNamespace makes the release namespace before the release (Helm
// keeps its records there), owned by the release so that the chart's
// Namespace object takes it over, and marked with the cluster's name.
func ensureNamespace(ctx context.Context, kube kubernetes.Interface, c *Component) error {
	nsAPI := kube.CoreV1().Namespaces()
	ns, err := nsAPI.Get(ctx, c.Namespace, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		ns = &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: c.Namespace}}
		setOwnership(ns, c)
		_, err = nsAPI.Create(ctx, ns, metav1.CreateOptions{})
		if err != nil {
			return fmt.Errorf("create namespace %s: %w", c.Namespace, err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("read namespace %s: %w", c.Namespace, err)
	}
	if ns.Annotations[AnnotationCluster] == c.Cluster && ns.Annotations["meta.helm.sh/release-name"] == c.Release {
		return nil
	}
	setOwnership(ns, c)
	if _, err := nsAPI.Update(ctx, ns, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("mark namespace %s as the release's: %w", c.Namespace, err)
	}
	return nil
}

func setOwnership(ns *corev1.Namespace, c *Component) {
	if ns.Labels == nil {
		ns.Labels = map[string]string{}
	}
	if ns.Annotations == nil {
		ns.Annotations = map[string]string{}
	}
	ns.Labels["app.kubernetes.io/managed-by"] = "Helm"
	ns.Annotations["meta.helm.sh/release-name"] = c.Release
	ns.Annotations["meta.helm.sh/release-namespace"] = c.Namespace
	ns.Annotations[AnnotationCluster] = c.Cluster
}

// watchRollout prints a line whenever a Deployment of the release
// namespace changes how many of its pods are ready and up to date, until
// stop is called: what apply is waiting for.
func (d *Deployer) watchRollout(ctx context.Context, kube kubernetes.Interface, c *Component) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		last := map[string]string{}
		tick := time.NewTicker(2 * time.Second)
		defer tick.Stop()
		for {
			list, err := kube.AppsV1().Deployments(c.Namespace).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/instance=" + c.Release})
			if err == nil {
				for _, dep := range list.Items {
					want := int32(1)
					if dep.Spec.Replicas != nil {
						want = *dep.Spec.Replicas
					}
					line := fmt.Sprintf("%s: %d/%d up to date, %d ready", dep.Name, dep.Status.UpdatedReplicas, want, dep.Status.ReadyReplicas)
					if last[dep.Name] != line {
						last[dep.Name] = line
						d.progress(c, "%s", line)
					}
				}
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	return func() { cancel(); <-done }
}

// Summary is a one-line account of a status.
func (s Status) Summary() string {
	switch {
	case s.Error != "":
		return "error: " + s.Error
	case s.Deployed == nil:
		return "not deployed"
	}
	var parts []string
	if *s.Deployed != s.Pinned {
		parts = append(parts, fmt.Sprintf("deployed chart %s, image %s; pinned chart %s, image %s", s.Deployed.Chart, s.Deployed.Image, s.Pinned.Chart, s.Pinned.Image))
	}
	if s.State != release.StatusDeployed.String() {
		parts = append(parts, "revision "+fmt.Sprint(s.Revision)+" is "+s.State)
	}
	if len(s.Drift) > 0 {
		var names []string
		for _, o := range s.Drift {
			names = append(names, o.String()+" ("+o.Change+")")
		}
		parts = append(parts, "drifted: "+strings.Join(names, ", "))
	}
	if len(parts) == 0 {
		return "in sync"
	}
	return strings.Join(parts, "; ")
}
