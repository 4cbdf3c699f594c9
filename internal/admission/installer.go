package admission

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"reflect"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// installer keeps admission's cluster-scoped objects as they should be:
// the webhook configurations (with the current CA bundle), the policies,
// their bindings and parameters. It runs on the leader, on start, when the
// settings or the CA bundle change, and periodically to undo hand edits.
// It never removes them: with the server stopped, tool pods are refused.
type installer struct {
	client     client.Client
	endpoint   endpoint
	timeout    int32
	platformNS string
	settings   *settingsSource
	certs      certSource
	// cache reads the tool namespaces and the platform claims for the pods
	// webhook's match condition; cacheChanged says when they change.
	cache        client.Reader
	cacheChanged <-chan struct{}
	resync       time.Duration
	log          *slog.Logger

	// installed is what the last installed match condition was made
	// from: events that do not change it cost nothing.
	installed *fastPath
}

func (i *installer) NeedLeaderElection() bool { return true }

func (i *installer) Start(ctx context.Context) error {
	settingsChanged := i.settings.subscribe()
	for {
		wait := i.resync
		if err := i.sync(ctx); err != nil {
			i.log.Error("admission configuration not installed; retrying", "err", err)
			wait = 2 * time.Second
		}
		if !i.waitForChange(ctx, settingsChanged, wait) {
			return nil
		}
	}
}

// waitForChange returns when the settings, the CA bundle or the fast
// path change, or after wait; false when ctx ends. Namespaces and claims
// change with every tool provisioned, the fast path's uids too, its
// storage hardly ever.
func (i *installer) waitForChange(ctx context.Context, settingsChanged <-chan struct{}, wait time.Duration) bool {
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return false
		case <-settingsChanged:
		case <-i.certs.Changed():
		case <-timer.C:
		case <-i.cacheChanged:
			fast, err := i.currentFastPath(ctx)
			if err == nil && i.installed != nil && reflect.DeepEqual(fast, *i.installed) {
				continue
			}
		}
		return true
	}
}

// currentFastPath is what the pods webhook's match condition is made from, now.
func (i *installer) currentFastPath(ctx context.Context) (fastPath, error) {
	var pvcs corev1.PersistentVolumeClaimList
	if err := i.cache.List(ctx, &pvcs); err != nil {
		return fastPath{}, fmt.Errorf("list platform claims: %w", err)
	}
	var namespaces corev1.NamespaceList
	if err := i.cache.List(ctx, &namespaces); err != nil {
		return fastPath{}, fmt.Errorf("list tool namespaces: %w", err)
	}
	s := i.settings.get()
	return fastPath{
		UIDs: fastPathNamespaces(namespaces.Items),
		// What every tool may use (no tool is named "").
		Registries: s.RegistriesFor(""),
		Storage:    storageTemplates(pvcs.Items, s.Mounts),
	}, nil
}

// sync makes every object as it should be; it returns how many it wrote.
func (i *installer) sync(ctx context.Context) (err error) {
	writes := 0
	defer func() {
		if writes > 0 {
			i.log.Info("admission configuration installed", "writes", writes)
		}
	}()
	count := func(wrote bool, err error) error {
		if wrote {
			writes++
		}
		return err
	}
	// Parameters before the bindings that read them.
	if err := count(ensure(ctx, i.client, params(i.platformNS, i.settings.get()),
		func(cur, want *corev1.ConfigMap) bool { return equality.Semantic.DeepEqual(cur.Data, want.Data) },
		func(cur, want *corev1.ConfigMap) { cur.Data = want.Data })); err != nil {
		return err
	}
	for _, p := range []struct {
		policy *admissionregistrationv1.ValidatingAdmissionPolicy
		params bool
	}{{ingressPolicy(), true}, {servicesPolicy(), false}} {
		if err := count(ensure(ctx, i.client, p.policy,
			func(cur, want *admissionregistrationv1.ValidatingAdmissionPolicy) bool {
				return equality.Semantic.DeepEqual(cur.Spec, want.Spec)
			},
			func(cur, want *admissionregistrationv1.ValidatingAdmissionPolicy) { cur.Spec = want.Spec })); err != nil {
			return err
		}
		if err := count(ensure(ctx, i.client, binding(p.policy.Name, i.platformNS, p.params),
			func(cur, want *admissionregistrationv1.ValidatingAdmissionPolicyBinding) bool {
				return equality.Semantic.DeepEqual(cur.Spec, want.Spec)
			},
			func(cur, want *admissionregistrationv1.ValidatingAdmissionPolicyBinding) { cur.Spec = want.Spec })); err != nil {
			return err
		}
	}
	bundle := i.certs.CABundle()
	if len(bundle) == 0 {
		return fmt.Errorf("no CA bundle yet for the webhook configurations")
	}
	fast, err := i.currentFastPath(ctx)
	if err != nil {
		return err
	}
	if err := count(ensure(ctx, i.client, mutatingConfig(i.endpoint, bundle, i.timeout, fast),
		func(cur, want *admissionregistrationv1.MutatingWebhookConfiguration) bool {
			return equality.Semantic.DeepEqual(cur.Webhooks, want.Webhooks)
		},
		func(cur, want *admissionregistrationv1.MutatingWebhookConfiguration) { cur.Webhooks = want.Webhooks })); err != nil {
		return err
	}
	i.installed = &fast
	return count(ensure(ctx, i.client, validatingConfig(i.endpoint, bundle, i.timeout),
		func(cur, want *admissionregistrationv1.ValidatingWebhookConfiguration) bool {
			return equality.Semantic.DeepEqual(cur.Webhooks, want.Webhooks)
		},
		func(cur, want *admissionregistrationv1.ValidatingWebhookConfiguration) { cur.Webhooks = want.Webhooks }))
}

// ensure creates want, or updates the existing object when same says it
// differs (or it lacks want's labels); it reports whether it wrote.
func ensure[T client.Object](ctx context.Context, c client.Client, want T, same func(cur, want T) bool, set func(cur, want T)) (bool, error) {
	cur := want.DeepCopyObject().(T)
	err := c.Get(ctx, client.ObjectKeyFromObject(want), cur)
	if apierrors.IsNotFound(err) {
		if err := c.Create(ctx, want.DeepCopyObject().(T)); err != nil {
			return false, fmt.Errorf("create %T %s: %w", want, want.GetName(), err)
		}
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("read %T %s: %w", want, want.GetName(), err)
	}
	labels := cur.GetLabels()
	hasLabels := true
	for k, v := range want.GetLabels() {
		hasLabels = hasLabels && labels[k] == v
	}
	if same(cur, want) && hasLabels {
		return false, nil
	}
	set(cur, want)
	if labels == nil {
		labels = map[string]string{}
	}
	maps.Copy(labels, want.GetLabels())
	cur.SetLabels(labels)
	if err := c.Update(ctx, cur); err != nil {
		return false, fmt.Errorf("update %T %s: %w", want, want.GetName(), err)
	}
	return true, nil
}
