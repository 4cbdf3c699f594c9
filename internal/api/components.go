package api

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/pflag"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/source"

	"github.com/toolforge-go/toolforge/internal/components"
	componentsserver "github.com/toolforge-go/toolforge/internal/components/server"
	"github.com/toolforge-go/toolforge/internal/components/v1alpha1"
	"github.com/toolforge-go/toolforge/internal/ensure"
	"github.com/toolforge-go/toolforge/internal/route"
)

// componentsPart is the components service (/components/v1) and its
// deployment executor. It comes after the jobs and builds parts, whose
// code it deploys through.
type componentsPart struct {
	deadline, stepDeadline time.Duration
	tokenDays              int
}

func (*componentsPart) Name() string { return "components" }

func (p *componentsPart) AddFlags(fs *pflag.FlagSet) {
	fs.DurationVar(&p.deadline, "components-deadline", time.Hour, "a components deployment that has not ended after this fails (every component not yet run keeps its previous version)")
	fs.DurationVar(&p.stepDeadline, "components-build-deadline", 45*time.Minute, "a component's build that has not ended after this fails its deployment")
	fs.IntVar(&p.tokenDays, "components-token-days", components.DefaultTokenLifetimeDays, "days a new deploy token is valid")
}

func (p *componentsPart) Setup(ctx context.Context, h *Host) ([]route.Route, error) {
	if h.Jobs == nil {
		return nil, fmt.Errorf("the components part needs the jobs part before it")
	}
	log := h.Log.With("part", "components")
	// Custom resources have no protobuf encoding.
	cfgJSON := rest.CopyConfig(h.Config)
	cfgJSON.ContentType, cfgJSON.AcceptContentTypes = "application/json", "application/json"
	c, err := client.New(cfgJSON, client.Options{Scheme: h.Manager.GetScheme(), Mapper: h.Manager.GetRESTMapper()})
	if err != nil {
		return nil, err
	}
	if h.Env.Common.InstallRBAC {
		if err := InstallComponentsCRDs(ctx, c); err != nil {
			log.Info("the components CRDs were not installed by the API server (an admin installs them)", "err", err)
		}
	}
	// Without its CRDs (not installed by an admin yet) the service says
	// so on each of its routes; the rest of the API serves.
	if _, err := h.Manager.GetRESTMapper().RESTMapping(schema.GroupKind{Group: v1alpha1.Group, Kind: "ComponentDeployment"}, v1alpha1.Version); err != nil {
		log.Error("the components service is disabled: its CRDs are not served (install them: toolforged --install-rbac, or the Helm chart)", "err", err)
		return componentsserver.Disabled("the components service is not installed on this platform (its CRDs are missing): ask the admins"), nil
	}
	svc := &componentsserver.Service{
		Client: c, Kube: h.Kube, Jobs: h.Jobs, Log: log,
		Deadline: p.deadline, StepDeadline: p.stepDeadline,
		TokenLifetime: time.Duration(p.tokenDays) * 24 * time.Hour,
	}
	if h.Builds != nil {
		svc.Builds = h.Builds
	}
	// The executor wakes on a deployment's changes; while its builds run
	// it looks again on a timer (builds live in another namespace).
	dc, err := cache.New(cfgJSON, cache.Options{
		Scheme: h.Manager.GetScheme(), Mapper: h.Manager.GetRESTMapper(),
		ByObject:         map[client.Object]cache.ByObject{&v1alpha1.ComponentDeployment{}: {}},
		DefaultTransform: cache.TransformStripManagedFields(),
	})
	if err != nil {
		return nil, fmt.Errorf("components cache: %w", err)
	}
	if err := h.AddCache(dc); err != nil {
		return nil, err
	}
	ctl, err := controller.NewUnmanaged("components", controller.Options{Reconciler: svc, MaxConcurrentReconciles: 4, SkipNameValidation: ptr.To(true)})
	if err != nil {
		return nil, err
	}
	if err := ctl.Watch(source.Kind[client.Object](dc, &v1alpha1.ComponentDeployment{}, &handler.EnqueueRequestForObject{})); err != nil {
		return nil, err
	}
	if err := h.Manager.Add(ctl); err != nil {
		return nil, err
	}
	return svc.Routes(), nil
}

// InstallComponentsCRDs installs the componentconfigs and
// componentdeployments CRDs and waits until they serve (an admin's step;
// the API server tries it at start).
func InstallComponentsCRDs(ctx context.Context, c client.Client) error {
	for _, crd := range v1alpha1.CRDs() {
		if _, err := ensure.Object(ctx, c, crd, func(cur *apiextensionsv1.CustomResourceDefinition) error { cur.Spec = crd.Spec; return nil }); err != nil {
			return fmt.Errorf("CRD %s: %w", crd.Name, err)
		}
		if err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
			var cur apiextensionsv1.CustomResourceDefinition
			if err := c.Get(ctx, client.ObjectKey{Name: crd.Name}, &cur); err != nil {
				return false, nil
			}
			for _, cond := range cur.Status.Conditions {
				if cond.Type == apiextensionsv1.Established && cond.Status == apiextensionsv1.ConditionTrue {
					return true, nil
				}
			}
			return false, nil
		}); err != nil {
			return fmt.Errorf("CRD %s is not established: %w", crd.Name, err)
		}
	}
	return nil
}
