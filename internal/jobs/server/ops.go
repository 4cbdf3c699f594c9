package server

import (
	"context"
	"errors"
	"fmt"
	"github.com/toolforge-go/toolforge/internal/jobs"
	"reflect"
	"sort"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/toolforge-go/toolforge/internal/ensure"
	"github.com/toolforge-go/toolforge/internal/images"
	"github.com/toolforge-go/toolforge/internal/podmetrics"
	"github.com/toolforge-go/toolforge/internal/route"
	"github.com/toolforge-go/toolforge/internal/tenancy"
)

// prepared is a validated job ready to be written.
type prepared struct {
	job      *jobs.Job
	target   Target
	objs     Objects
	warnings []string
}

// prepare validates j against everything known before writing: its own
// settings, the image catalogue, the tool's limit range and quota.
func (s *Store) prepare(ctx context.Context, tool string, j *jobs.Job) (*prepared, error) {
	j.Normalize()
	if err := j.Validate(); err != nil {
		return nil, route.BadRequest("%s", err.Error())
	}
	if j.Emails != "none" && !s.Mail {
		return nil, route.BadRequest("--emails %s: this platform sends no email (no mail server is configured); use --emails none", j.Emails)
	}
	ref, img, err := s.resolveImage(ctx, tool, j)
	if err != nil {
		return nil, err
	}
	t, err := s.target(ctx, tool)
	if err != nil {
		return nil, err
	}
	t.Image, t.Built = ref, jobs.IsBuiltImage(j.Image)
	warnings, err := checkLimits(j, t.Limits)
	if err != nil {
		return nil, route.BadRequest("%s", err.Error())
	}
	if img.State == images.StateDeprecated {
		warnings = append(warnings, fmt.Sprintf("image %s is deprecated; see `toolforge jobs images` for its successor", img.Name))
	}
	objs, err := Build(j, t)
	if err != nil {
		return nil, err
	}
	return &prepared{job: j, target: t, objs: objs, warnings: warnings}, nil
}

// resolveImage is the image reference j's pods run, and its catalogue
// entry (none for a built image). A catalogue image is stored and shown by
// its short name, as the original does: a job made with --image
// tf-python39 is the same job as one loaded from a file saying python3.9.
func (s *Store) resolveImage(ctx context.Context, tool string, j *jobs.Job) (string, images.Image, error) {
	if built, ok := jobs.ParseBuiltImage(j.Image); ok {
		ref, err := s.builtImage(j.Image, built)
		return ref, images.Image{}, err
	}
	cat, err := s.Images(ctx)
	if err != nil {
		return "", images.Image{}, err
	}
	img, ok := cat.Lookup(j.Image)
	if !ok {
		return "", images.Image{}, route.BadRequest("--image: %s", cat.UnknownError(j.Image).Error())
	}
	j.Image = img.Name
	return img.JobImage(), img, nil
}

// Create makes a new job.
func (s *Store) Create(ctx context.Context, tool string, j *jobs.Job) (*jobs.Info, []string, error) {
	p, err := s.prepare(ctx, tool, j)
	if err != nil {
		return nil, nil, err
	}
	if e, err := s.find(ctx, tool, j.Name); err != nil {
		return nil, nil, err
	} else if e != nil {
		return nil, nil, route.Conflict("a job named '%s' already exists (delete it first, or use `toolforge jobs load` to update it)", j.Name)
	}
	if err := checkCounts(j, p.target.Limits); err != nil {
		return nil, nil, route.BadRequest("%s", err.Error())
	}
	if err := s.checkPublished(ctx, p.objs.Ingress); err != nil {
		return nil, nil, err
	}
	if err := s.write(ctx, p.objs); err != nil {
		return nil, nil, err
	}
	info := s.info(p.entry(), nil, &p.target, nil)
	return &info, p.warnings, nil
}

// entry is the prepared job as the store reports a job it finds.
func (p *prepared) entry() *entry {
	return &entry{def: p.job, stored: true, obj: p.objs.Top, service: p.objs.Service, ingress: p.objs.Ingress}
}

// write creates a job's objects; if a later one fails, those made before
// it are removed again so that nothing is left half-made.
func (s *Store) write(ctx context.Context, objs Objects) error {
	var made []client.Object
	for _, obj := range []client.Object{objs.Top, objs.Service, objs.Ingress} {
		if reflect.ValueOf(obj).IsNil() {
			continue
		}
		if err := s.Writer.Create(ctx, obj); err != nil {
			for _, m := range made {
				if derr := s.Writer.Delete(ctx, m, client.PropagationPolicy(metav1.DeletePropagationBackground)); derr != nil && !apierrors.IsNotFound(derr) {
					s.Log.Error("roll back a job's object after a later one failed", "namespace", m.GetNamespace(), "name", m.GetName(), "err", derr)
				}
			}
			return writeError(obj, err)
		}
		made = append(made, obj)
	}
	for _, m := range made {
		s.written(m, false)
	}
	return nil
}

// checkPublished refuses to publish a job at a host whose root another
// Ingress of the tool already routes (its web service, another published
// job): two routes for one host would split its traffic at random. Read
// from the API server, as the tool's other Ingresses are not cached.
func (s *Store) checkPublished(ctx context.Context, want *networkingv1.Ingress) error {
	if want == nil {
		return nil
	}
	host := want.Spec.Rules[0].Host
	list, err := s.Kube.NetworkingV1().Ingresses(want.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("list the tool's ingresses: %w", err)
	}
	for _, ing := range list.Items {
		if ing.Name == want.Name && ing.Labels[tenancy.LabelManagedBy] == tenancy.ManagedByJobs {
			continue // this job's own, being updated
		}
		for _, r := range ing.Spec.Rules {
			if r.Host != host || r.HTTP == nil {
				continue
			}
			for _, path := range r.HTTP.Paths {
				if path.Path == "" || path.Path == "/" {
					return route.Conflict("--publish: %s is already served by Ingress '%s'%s; stop that first", host, ing.Name, ingressOwner(&ing))
				}
			}
		}
	}
	return nil
}

func ingressOwner(ing *networkingv1.Ingress) string {
	switch ing.Labels[tenancy.LabelManagedBy] {
	case tenancy.ManagedByWeb:
		return " (the tool's web service: `webservice stop`)"
	case tenancy.ManagedByJobs:
		return fmt.Sprintf(" (published job '%s': `toolforge jobs delete %s`)", ing.Labels[tenancy.LabelAppName], ing.Labels[tenancy.LabelAppName])
	}
	return ""
}

// writeError explains a refused write in the user's terms.
func writeError(obj client.Object, err error) error {
	switch {
	case apierrors.IsAlreadyExists(err):
		return route.Conflict("a job named '%s' already exists", obj.GetName())
	case apierrors.IsForbidden(err) && strings.Contains(err.Error(), "exceeded quota"):
		return route.BadRequest("the tool's quota does not allow this job: %s", quotaReason(err))
	case apierrors.IsInvalid(err), apierrors.IsBadRequest(err):
		return route.BadRequest("Kubernetes refused the job: %v", err)
	}
	return fmt.Errorf("create %T %s/%s: %w", obj, obj.GetNamespace(), obj.GetName(), err)
}

func quotaReason(err error) string {
	msg := err.Error()
	if _, after, ok := strings.Cut(msg, "exceeded quota: "); ok {
		return "exceeded quota " + after
	}
	return msg
}

// Apply makes job j exist as defined: creates it, updates it when its
// definition (or the running object) differs, or leaves it alone.
func (s *Store) Apply(ctx context.Context, tool string, j *jobs.Job) (string, *jobs.Info, []string, error) {
	return s.apply(ctx, tool, j, false)
}

// CheckApply says what Apply would do (created, updated or unchanged)
// and why it would refuse, writing nothing: the definition is checked
// against the catalogue, the limit range and the quota as Apply checks it.
// A migration asks the new cluster this for every job before it changes
// anything.
func (s *Store) CheckApply(ctx context.Context, tool string, j *jobs.Job) (string, *jobs.Info, []string, error) {
	return s.apply(ctx, tool, j, true)
}

func (s *Store) apply(ctx context.Context, tool string, j *jobs.Job, dryRun bool) (string, *jobs.Info, []string, error) {
	p, err := s.prepare(ctx, tool, j)
	if err != nil {
		return "", nil, nil, err
	}
	cur, err := s.find(ctx, tool, j.Name)
	if err != nil {
		return "", nil, nil, err
	}
	if err := s.checkPublished(ctx, p.objs.Ingress); err != nil {
		return "", nil, nil, err
	}
	if cur == nil {
		if err := checkCounts(j, p.target.Limits); err != nil {
			return "", nil, nil, route.BadRequest("%s", err.Error())
		}
		if !dryRun {
			if err := s.write(ctx, p.objs); err != nil {
				return "", nil, nil, err
			}
		}
		info := s.info(p.entry(), nil, &p.target, nil)
		return jobs.Created, &info, p.warnings, nil
	}
	if cur.stored && cur.def.Equal(j) && len(Drift(cur.obj, cur.service, cur.ingress, p.objs)) == 0 {
		info := s.info(cur, nil, &p.target, nil)
		return jobs.Unchanged, &info, p.warnings, nil
	}
	if dryRun {
		info := s.info(&entry{def: p.job, stored: true, obj: p.objs.Top, service: p.objs.Service}, nil, &p.target, nil)
		return jobs.Updated, &info, p.warnings, nil
	}
	if cur.def.Kind() == j.Kind() && j.Kind() != jobs.OneOff {
		err = s.update(ctx, cur, p.objs)
	} else {
		// A Job's pod template is immutable, and a job changing kind
		// changes object type: replace it.
		if err = s.remove(ctx, cur); err == nil {
			err = s.write(ctx, p.objs)
		}
	}
	if err != nil {
		return "", nil, nil, err
	}
	info := s.info(p.entry(), nil, &p.target, nil)
	return jobs.Updated, &info, p.warnings, nil
}

// update changes a scheduled or continuous job in place, through the
// platform's one create-or-update: the definition's labels, annotation and
// spec are put on the live object, which is written only if that changed it.
func (s *Store) update(ctx context.Context, cur *entry, want Objects) error {
	written := ensure.Written(func(obj client.Object) { s.written(obj, false) })
	var err error
	switch top := want.Top.(type) {
	case *batchv1.CronJob:
		_, err = ensure.Object(ctx, s.Writer, top, func(live *batchv1.CronJob) error {
			setDefinition(live, top)
			live.Spec = top.Spec
			return nil
		}, written)
	case *appsv1.Deployment:
		_, err = ensure.Object(ctx, s.Writer, top, func(live *appsv1.Deployment) error {
			setDefinition(live, top)
			live.Spec = top.Spec
			return nil
		}, written)
	default:
		return fmt.Errorf("update %T: only scheduled and continuous jobs are updated in place", want.Top)
	}
	if err != nil {
		return writeError(cur.obj, err)
	}
	if err := s.updateService(ctx, cur.service, want.Service); err != nil {
		return err
	}
	return s.updateIngress(ctx, cur.ingress, want.Ingress)
}

// setDefinition gives live the labels and definition annotation of want;
// other annotations (a restart's, kubectl's) stay.
func setDefinition(live, want client.Object) {
	live.SetLabels(want.GetLabels())
	annotations := live.GetAnnotations()
	if annotations == nil {
		annotations = map[string]string{}
	}
	annotations[AnnotationDefinition] = want.GetAnnotations()[AnnotationDefinition]
	live.SetAnnotations(annotations)
}

func (s *Store) updateService(ctx context.Context, live, want *corev1.Service) error {
	switch {
	case live == nil && want == nil:
		return nil
	case want == nil:
		if err := s.Writer.Delete(ctx, live); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("delete service %s: %w", live.Name, err)
		}
		s.written(live, true)
		return nil
	}
	// Made if missing, else its labels, ports and selector put back.
	_, err := ensure.Object(ctx, s.Writer, want, func(cur *corev1.Service) error {
		cur.Labels = want.Labels
		cur.Spec.Ports, cur.Spec.Selector = want.Spec.Ports, want.Spec.Selector
		return nil
	}, ensure.Written(func(obj client.Object) { s.written(obj, false) }))
	if err != nil {
		return writeError(want, err)
	}
	return nil
}

// updateIngress makes, changes (another port) or removes a continuous
// job's Ingress as its --publish and --port now say.
func (s *Store) updateIngress(ctx context.Context, live, want *networkingv1.Ingress) error {
	switch {
	case live == nil && want == nil:
		return nil
	case want == nil:
		if err := s.Writer.Delete(ctx, live); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("delete ingress %s: %w", live.Name, err)
		}
		s.written(live, true)
		return nil
	}
	_, err := ensure.Object(ctx, s.Writer, want, func(cur *networkingv1.Ingress) error {
		cur.Labels = want.Labels
		cur.Spec.Rules = want.Spec.Rules
		return nil
	}, ensure.Written(func(obj client.Object) { s.written(obj, false) }))
	if err != nil {
		return writeError(want, err)
	}
	return nil
}

// Get is one job, with hints from its pods and any drift.
func (s *Store) Get(ctx context.Context, tool, name string) (*jobs.Info, error) {
	e, err := s.find(ctx, tool, name)
	if err != nil {
		return nil, err
	}
	if e == nil {
		return nil, route.NotFound("Job '%s' does not exist", name)
	}
	pods, err := s.pods(ctx, tool, name)
	if err != nil {
		return nil, err
	}
	cat, t, err := s.context(ctx, tool)
	if err != nil {
		return nil, err
	}
	info := s.info(e, cat, t, pods)
	info.StatusShort, info.StatusLong = status(e.obj, pods, s.restartReasons(ctx, tool, pods))
	info.ExitCode = exitCode(pods)
	info.Usage = s.usage(ctx, tool, e, pods)
	return &info, nil
}

// usage says what the job's running pods use against their limits, from
// the metrics API; "" when nothing runs or the cluster measures nothing
// (no metrics API, or pods too new to be measured). A failure to read it
// only loses that line.
func (s *Store) usage(ctx context.Context, tool string, e *entry, pods []*corev1.Pod) string {
	// The limits are a running pod's: the tool's LimitRange fills in
	// those the job does not set, on the pod, not on its template.
	var running *corev1.Pod
	for _, p := range pods {
		if p.Status.Phase == corev1.PodRunning && len(p.Spec.Containers) > 0 {
			running = p
		}
	}
	if running == nil || s.Kube == nil {
		return ""
	}
	selector := labels.SelectorFromSet(labels.Set{tenancy.LabelAppName: e.def.Name, tenancy.LabelManagedBy: tenancy.ManagedByJobs}).String()
	u, ok, err := podmetrics.Read(ctx, s.Kube.Discovery().RESTClient(), tenancy.Namespace(tool), selector)
	if err != nil {
		s.Log.Info("no pod metrics", "tool", tool, "job", e.def.Name, "err", err)
	}
	s.Log.Debug("pod metrics", "tool", tool, "job", e.def.Name, "selector", selector, "measured", ok, "pods", u.Pods)
	if !ok {
		return ""
	}
	limits := running.Spec.Containers[0].Resources.Limits
	return podmetrics.Describe(u, limits[corev1.ResourceCPU], limits[corev1.ResourceMemory])
}

// restartReasons says, for each pod whose container was restarted, what
// the kubelet reported about it: a failed health check is not in the
// container's status (the kill looks like any exit 137), only in the
// pod's events. A failure to read them only loses the explanation.
func (s *Store) restartReasons(ctx context.Context, tool string, pods []*corev1.Pod) map[string]string {
	out := map[string]string{}
	for _, p := range pods {
		restarted := false
		for _, cs := range p.Status.ContainerStatuses {
			restarted = restarted || cs.RestartCount > 0
		}
		if !restarted {
			continue
		}
		list, err := s.Kube.CoreV1().Events(tenancy.Namespace(tool)).List(ctx, metav1.ListOptions{
			FieldSelector: "involvedObject.kind=Pod,involvedObject.name=" + p.Name,
		})
		if err != nil {
			s.Log.Info("no events for a restarted pod", "tool", tool, "pod", p.Name, "err", err)
			continue
		}
		var killed, unhealthy *corev1.Event
		for i := range list.Items {
			ev := &list.Items[i]
			switch {
			case ev.Reason == "Killing" && strings.Contains(ev.Message, "probe"):
				if killed == nil || eventTime(ev).After(eventTime(killed)) {
					killed = ev
				}
			case ev.Reason == "Unhealthy":
				if unhealthy == nil || eventTime(ev).After(eventTime(unhealthy)) {
					unhealthy = ev
				}
			}
		}
		if killed == nil {
			continue
		}
		why := "The health check failed: " + strings.TrimSuffix(killed.Message, ".")
		if unhealthy != nil {
			why += " (" + strings.TrimSpace(unhealthy.Message) + ")"
		}
		out[p.Name] = why + "."
	}
	return out
}

func eventTime(ev *corev1.Event) time.Time {
	if !ev.LastTimestamp.IsZero() {
		return ev.LastTimestamp.Time
	}
	if !ev.EventTime.IsZero() {
		return ev.EventTime.Time
	}
	return ev.FirstTimestamp.Time
}

// List is every job of the tool, by name.
func (s *Store) List(ctx context.Context, tool string) ([]jobs.Info, error) {
	entries, err := s.list(ctx, tool)
	if err != nil {
		return nil, err
	}
	cat, t, err := s.context(ctx, tool)
	if err != nil {
		return nil, err
	}
	out := make([]jobs.Info, 0, len(entries))
	for _, e := range entries {
		// A one-off job whose pod succeeded is done, as --wait and show
		// say, before the Job controller marks it: list agrees with them.
		var pods []*corev1.Pod
		if j, ok := e.obj.(*batchv1.Job); ok && endCondition(&j.Status) == nil {
			if pods, err = s.pods(ctx, tool, e.def.Name); err != nil {
				return nil, err
			}
		}
		out = append(out, s.info(e, cat, t, pods))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// context is the catalogue and target for reporting jobs; either may be
// nil when unavailable (reports then skip the drift check).
func (s *Store) context(ctx context.Context, tool string) (*images.Catalogue, *Target, error) {
	cat, err := s.Images(ctx)
	if err != nil {
		return nil, nil, err
	}
	t, err := s.target(ctx, tool)
	if err != nil {
		return cat, nil, nil
	}
	return cat, &t, nil
}

// info reports entry e. With a catalogue and target it also checks the
// running object against what the definition makes.
func (s *Store) info(e *entry, cat *images.Catalogue, t *Target, pods []*corev1.Pod) jobs.Info {
	info := jobs.Info{Job: *e.def, ImageState: "unknown"}
	if ing := e.ingress; ing != nil && len(ing.Spec.Rules) > 0 {
		info.URL = tenancy.WebURL(s.WebURL, ing.Spec.Rules[0].Host)
	}
	if spec := podSpecOf(e.obj); spec != nil && len(spec.Containers) > 0 {
		info.ImageRef = spec.Containers[0].Image
	}
	if c, ok := e.obj.(*batchv1.CronJob); ok {
		info.ScheduleActual = c.Spec.Schedule
	}
	info.StatusShort, info.StatusLong = status(e.obj, pods, nil)
	if !e.stored {
		info.Drift = append(info.Drift, "the job has no stored definition (made outside the jobs framework?); what is shown is read from the running object")
	}
	if cat == nil {
		info.ImageState = images.StateStable
		return info
	}
	tt := Target{}
	if t != nil {
		tt = *t
	}
	if b, built := jobs.ParseBuiltImage(e.def.Image); built {
		ref, err := s.builtImage(e.def.Image, b)
		if err != nil {
			return info
		}
		info.ImageState = images.StateStable
		tt.Image, tt.Built = ref, true
	} else {
		img, ok := cat.Lookup(e.def.Image)
		if !ok {
			return info
		}
		info.ImageState = img.State
		tt.Image = img.JobImage()
	}
	if t == nil || !e.stored {
		return info
	}
	want, err := Build(e.def, tt)
	if err == nil {
		info.Drift = append(info.Drift, Drift(e.obj, e.service, e.ingress, want)...)
	}
	return info
}

// Delete removes job name and everything it made.
func (s *Store) Delete(ctx context.Context, tool, name string) error {
	e, err := s.find(ctx, tool, name)
	if err != nil {
		return err
	}
	if e == nil {
		return route.NotFound("Job '%s' does not exist", name)
	}
	return s.remove(ctx, e)
}

func (s *Store) remove(ctx context.Context, e *entry) error {
	bg := client.PropagationPolicy(metav1.DeletePropagationBackground)
	var errs []error
	if err := s.Writer.Delete(ctx, e.obj, bg); err != nil && !apierrors.IsNotFound(err) {
		errs = append(errs, fmt.Errorf("delete %s: %w", e.obj.GetName(), err))
	}
	if e.service != nil {
		if err := s.Writer.Delete(ctx, e.service); err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("delete service %s: %w", e.service.Name, err))
		}
	}
	if e.ingress != nil {
		if err := s.Writer.Delete(ctx, e.ingress); err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("delete ingress %s: %w", e.ingress.Name, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	s.written(e.obj, true)
	if e.service != nil {
		s.written(e.service, true)
	}
	if e.ingress != nil {
		s.written(e.ingress, true)
	}
	return nil
}

// Flush removes every job of the tool and returns how many there were.
func (s *Store) Flush(ctx context.Context, tool string) (int, error) {
	entries, err := s.list(ctx, tool)
	if err != nil {
		return 0, err
	}
	errs := make(chan error, len(entries))
	sem := make(chan struct{}, 8)
	for _, e := range entries {
		sem <- struct{}{}
		go func() {
			defer func() { <-sem }()
			errs <- s.remove(ctx, e)
		}()
	}
	var all []error
	for range entries {
		all = append(all, <-errs)
	}
	return len(entries), errors.Join(all...)
}

// builtImage resolves a tool's built image (tool-<tool>/<name>[:tag|@digest],
// with or without the registry's host) to the reference its pods pull.
// Any tool's image may be run (as the original's public projects); an
// image from another registry is refused.
func (s *Store) builtImage(image string, b jobs.BuiltRef) (string, error) {
	if s.BuiltRegistry == "" {
		return "", route.BadRequest("--image %s: a build service image, and this platform runs no build service; see `toolforge jobs images` for the catalogue", image)
	}
	if b.Host != "" && b.Host != s.BuiltRegistry {
		return "", route.BadRequest("--image %s: built images come from the platform's registry %s, not %s", image, s.BuiltRegistry, b.Host)
	}
	return b.Reference(s.BuiltRegistry), nil
}
