package webservice

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/toolforge-go/toolforge/internal/ensure"
	"github.com/toolforge-go/toolforge/internal/tenancy"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Lines users' scripts rely on (SPEC §7).
const (
	lineStarting   = "Starting webservice"
	lineStopping   = "Stopping webservice"
	lineRestarting = "Restarting webservice"
	lineNotRunning = "webservice is not running"
)

// RunningLine is what status prints for a running web service.
func RunningLine(typ string) string { return fmt.Sprintf("webservice of type %s is running", typ) }

// NotRunningLine is what status prints otherwise.
const NotRunningLine = lineNotRunning

// ErrAlreadyRunning is start's answer when the web service runs.
var ErrAlreadyRunning = errors.New("webservice is already running")

// Start makes the web service's Service, Ingress and Deployment, waits for
// its pods, and records the settings in the manifest. What it created is
// removed again when a later step fails.
func (c *Client) Start(ctx context.Context, o Options) error {
	return c.StartSaying(ctx, o, lineStarting)
}

// StartSaying is Start announcing itself with line instead of "Starting
// webservice" (a migration names the cluster).
func (c *Client) StartSaying(ctx context.Context, o Options, line string) error {
	p, err := c.prepare(ctx, o, false)
	if err != nil {
		return err
	}
	cur, err := c.current(ctx)
	if err != nil {
		return err
	}
	if err := cur.foreign(); err != nil {
		return err
	}
	if cur.running() {
		return fmt.Errorf("%w (type %s); use `webservice restart` to restart it or apply new settings", ErrAlreadyRunning, cur.dep.Annotations[TypeAnnotation])
	}
	if err := c.hostTaken(ctx); err != nil {
		return err
	}
	fmt.Fprintln(c.Out, line)
	return c.start(ctx, p)
}

// hostTaken refuses to start when another Ingress of the tool (a published
// job's) already routes the web service's host: two routes for one host
// would split its traffic at random.
func (c *Client) hostTaken(ctx context.Context) error {
	host := Host(c.Tool, c.Domain)
	list, err := c.Kube.NetworkingV1().Ingresses(c.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("list ingresses of %s: %w", c.Namespace, err)
	}
	for _, ing := range list.Items {
		if ing.Name == c.Tool {
			continue // the web service's own (or foreign, refused already)
		}
		for _, r := range ing.Spec.Rules {
			if r.Host != host || r.HTTP == nil {
				continue
			}
			for _, path := range r.HTTP.Paths {
				if path.Path == "" || path.Path == "/" {
					what := "Ingress '" + ing.Name + "'"
					if ing.Labels[tenancy.LabelManagedBy] == tenancy.ManagedByJobs {
						what = fmt.Sprintf("the published job '%s' (`toolforge jobs delete %s`, or run it without --publish)", ing.Labels[tenancy.LabelAppName], ing.Labels[tenancy.LabelAppName])
					}
					return fmt.Errorf("%s is already served by %s; stop that first", tenancy.WebURL(c.WebURL, host), what)
				}
			}
		}
	}
	return nil
}

func (c *Client) start(ctx context.Context, p *prepared) error {
	var made []string
	err := c.makeFresh(ctx, p.spec, &made)
	if err == nil {
		err = c.waitReady(ctx, p.spec.Replicas)
		if errors.Is(err, errNotReady) {
			fmt.Fprintf(c.ErrOut, "warning: %v; see `webservice status` and `webservice logs`\n", err)
			err = nil
		}
	}
	if err == nil && !c.WithoutHome {
		p.manifest.SetRunning(p.settings)
		err = p.manifest.Write(c.ManifestPath())
	}
	if err != nil {
		return c.rollback(made, fmt.Errorf("webservice could not start: %w", err))
	}
	fmt.Fprintf(c.ErrOut, "Your webservice is at %s\n", tenancy.WebURL(c.WebURL, Host(c.Tool, c.Domain)))
	return nil
}

// makeFresh waits for any previous instance to go and makes the objects;
// should a previous instance still be on its way out when it writes (a
// stop racing this start), it waits again, a few times.
func (c *Client) makeFresh(ctx context.Context, sp Spec, made *[]string) error {
	for attempt := 1; ; attempt++ {
		if err := c.waitPrevious(ctx); err != nil {
			return err
		}
		m, err := c.ensure(ctx, sp, false)
		*made = append(*made, m...)
		if !errors.Is(err, errBeingDeleted) || attempt == 3 {
			return err
		}
	}
}

// rollback deletes what a failed start made, so nothing is left half
// created. It runs even when the caller's context is cancelled.
func (c *Client) rollback(made []string, cause error) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	errs := []error{cause}
	for i := len(made) - 1; i >= 0; i-- {
		errs = append(errs, c.deleteObject(ctx, made[i]))
	}
	if errors.Join(errs[1:]...) == nil {
		errs = append(errs, errors.New("nothing was left running"))
	}
	return errors.Join(errs...)
}

// Restart applies the resolved settings to the running web service and
// replaces its pods; a web service that does not run is started.
func (c *Client) Restart(ctx context.Context, o Options) error {
	p, err := c.prepare(ctx, o, false)
	if err != nil {
		return err
	}
	cur, err := c.current(ctx)
	if err != nil {
		return err
	}
	if err := cur.foreign(); err != nil {
		return err
	}
	if !cur.running() {
		if err := c.hostTaken(ctx); err != nil {
			return err
		}
		fmt.Fprintln(c.ErrOut, "webservice is not running, starting it")
		fmt.Fprintln(c.Out, lineStarting)
		return c.start(ctx, p)
	}
	fmt.Fprintln(c.Out, lineRestarting)
	if _, err := c.ensure(ctx, p.spec, true); err != nil {
		return fmt.Errorf("restart webservice: %w", err)
	}
	if err := c.waitReady(ctx, p.spec.Replicas); err != nil {
		if !errors.Is(err, errNotReady) {
			return fmt.Errorf("restart webservice: %w", err)
		}
		fmt.Fprintf(c.ErrOut, "warning: %v; see `webservice status` and `webservice logs`\n", err)
	}
	if c.WithoutHome {
		return nil
	}
	p.manifest.SetRunning(p.settings)
	return p.manifest.Write(c.ManifestPath())
}

// Stop deletes the web service's objects, waits for its pods to go, and
// clears the manifest's running state (its settings stay for the next
// start).
func (c *Client) Stop(ctx context.Context) error {
	return c.StopSaying(ctx, lineStopping)
}

// StopSaying is Stop announcing itself with line instead of "Stopping
// webservice".
func (c *Client) StopSaying(ctx context.Context, line string) error {
	cur, err := c.current(ctx)
	if err != nil {
		return err
	}
	if cur.anyManaged() {
		fmt.Fprintln(c.Out, line)
		var errs []error
		cur.each(func(kind string, obj metav1.Object) {
			if managed(obj.GetLabels()) {
				errs = append(errs, c.deleteObject(ctx, kind))
			}
		})
		if err := errors.Join(errs...); err != nil {
			return err
		}
		if err := c.waitPodsGone(ctx); err != nil {
			fmt.Fprintf(c.ErrOut, "warning: %v\n", err)
		}
	} else {
		fmt.Fprintln(c.ErrOut, lineNotRunning)
	}
	if c.WithoutHome {
		return nil
	}
	m, err := ReadManifest(c.ManifestPath())
	if err != nil {
		// The web service is stopped; only the record of it is broken, and
		// the next start reports that with the fix.
		fmt.Fprintf(c.ErrOut, "warning: %v\n", err)
		return nil
	}
	if !m.Running() {
		return nil
	}
	m.SetStopped()
	return m.Write(c.ManifestPath())
}

// ensure makes the objects match spec: creates missing ones, updates the
// ones it manages. restart also rolls the pods. It returns the kinds it
// created, for rollback.
func (c *Client) ensure(ctx context.Context, sp Spec, restart bool) ([]string, error) {
	var made []string
	step := func(kind string, f func() (bool, error)) error {
		created, err := f()
		if created {
			made = append(made, kind)
		}
		return err
	}
	if err := step("service", func() (bool, error) { return c.ensureService(ctx, sp.Service()) }); err != nil {
		return made, err
	}
	if err := step("ingress", func() (bool, error) { return c.ensureIngress(ctx, sp.Ingress()) }); err != nil {
		return made, err
	}
	want := sp.Deployment()
	if restart {
		want.Spec.Template.Annotations = map[string]string{restartedAnnotation: time.Now().UTC().Format(time.RFC3339Nano)}
	}
	err := step("deployment", func() (bool, error) { return c.ensureDeployment(ctx, want) })
	return made, err
}

// ensureService, ensureIngress and ensureDeployment write through the
// platform's one create-or-update (internal/ensure), which reads the
// object first: the existing one is not met with AlreadyExists from a
// create, since quota admission runs first and a full quota of Services
// would refuse the create of one that is already there. They are only
// called after the existing objects were checked to be the web service's
// own. Each reports whether it created its object, for rollback.
func (c *Client) ensureService(ctx context.Context, want *corev1.Service) (bool, error) {
	r, err := ensure.Typed(ctx, c.Kube.CoreV1().Services(c.Namespace), want, func(cur *corev1.Service) error {
		if cur.DeletionTimestamp != nil {
			return errBeingDeleted
		}
		cur.Labels, cur.Spec.Selector, cur.Spec.Ports, cur.Spec.Type = want.Labels, want.Spec.Selector, want.Spec.Ports, want.Spec.Type
		return nil
	})
	return r == ensure.Created, err
}

func (c *Client) ensureIngress(ctx context.Context, want *networkingv1.Ingress) (bool, error) {
	r, err := ensure.Typed(ctx, c.Kube.NetworkingV1().Ingresses(c.Namespace), want, func(cur *networkingv1.Ingress) error {
		if cur.DeletionTimestamp != nil {
			return errBeingDeleted
		}
		cur.Labels, cur.Spec = want.Labels, want.Spec
		return nil
	})
	return r == ensure.Created, err
}

func (c *Client) ensureDeployment(ctx context.Context, want *appsv1.Deployment) (bool, error) {
	r, err := ensure.Typed(ctx, c.Kube.AppsV1().Deployments(c.Namespace), want, func(cur *appsv1.Deployment) error {
		if cur.DeletionTimestamp != nil {
			return errBeingDeleted
		}
		cur.Labels, cur.Annotations = want.Labels, want.Annotations
		cur.Spec.Replicas, cur.Spec.Strategy, cur.Spec.Template = want.Spec.Replicas, want.Spec.Strategy, want.Spec.Template
		cur.Spec.RevisionHistoryLimit = want.Spec.RevisionHistoryLimit
		return nil
	})
	return r == ensure.Created, err
}
