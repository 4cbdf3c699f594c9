package admission

import (
	"context"
	"fmt"
	"github.com/toolforge-go/toolforge/internal/ensure"
	"github.com/toolforge-go/toolforge/internal/servingcert"
	"log/slog"
	"reflect"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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
	certs      servingcert.Source
	// cache reads the tool namespaces and the platform claims for the pods
	// webhook's match condition; cacheChanged says when they change.
	cache        client.Reader
	cacheChanged <-chan struct{}
	resync       time.Duration
	// injectOnly: the webhook configurations are the chart's; only their
	// CA bundle and the pods webhook's match condition are ours.
	injectOnly bool
	log        *slog.Logger

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
	count := func(r ensure.Result, err error) error {
		if r != ensure.Unchanged {
			writes++
		}
		return err
	}
	// Parameters before the bindings that read them.
	wantParams := params(i.platformNS, i.settings.get())
	if err := count(ensure.Object(ctx, i.client, wantParams,
		func(cur *corev1.ConfigMap) error { cur.Data = wantParams.Data; return nil })); err != nil {
		return err
	}
	for _, p := range []struct {
		policy *admissionregistrationv1.ValidatingAdmissionPolicy
		params bool
	}{{ingressPolicy(), true}, {servicesPolicy(), false}, {claimsPolicy(), true}} {
		if err := count(ensure.Object(ctx, i.client, p.policy,
			func(cur *admissionregistrationv1.ValidatingAdmissionPolicy) error {
				cur.Spec = p.policy.Spec
				return nil
			})); err != nil {
			return err
		}
		b := binding(p.policy.Name, i.platformNS, p.params)
		if err := count(ensure.Object(ctx, i.client, b,
			func(cur *admissionregistrationv1.ValidatingAdmissionPolicyBinding) error {
				cur.Spec = b.Spec
				return nil
			})); err != nil {
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
	if i.injectOnly {
		if err := count(i.inject(ctx, bundle, fast)); err != nil {
			return err
		}
		i.installed = &fast
		return nil
	}
	mutating := mutatingConfig(i.endpoint, bundle, i.timeout, fast)
	if err := count(ensure.Object(ctx, i.client, mutating,
		func(cur *admissionregistrationv1.MutatingWebhookConfiguration) error {
			cur.Webhooks = mutating.Webhooks
			return nil
		})); err != nil {
		return err
	}
	i.installed = &fast
	validating := validatingConfig(i.endpoint, bundle, i.timeout)
	return count(ensure.Object(ctx, i.client, validating,
		func(cur *admissionregistrationv1.ValidatingWebhookConfiguration) error {
			cur.Webhooks = validating.Webhooks
			return nil
		}))
}

// inject keeps, in the webhook configurations another installer made (the
// Helm chart), what only the server knows: the CA bundle of every webhook
// and the pods webhook's match condition (the fast path, made from the
// caches). Everything else (rules, failure policy, selectors, timeouts)
// is the installer's: a hand edit of it is that installer's drift to
// report and repair. Nothing is created: a missing configuration is an
// error until the installer makes it.
func (i *installer) inject(ctx context.Context, bundle []byte, fast fastPath) (ensure.Result, error) {
	condition := []admissionregistrationv1.MatchCondition{needsWebhook(fast)}
	mutating := &admissionregistrationv1.MutatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: WebhookConfigName}}
	r1, err := ensure.Object(ctx, i.client, mutating, func(cur *admissionregistrationv1.MutatingWebhookConfiguration) error {
		for k := range cur.Webhooks {
			w := &cur.Webhooks[k]
			w.ClientConfig.CABundle = bundle
			if w.Name == podsWebhook {
				w.MatchConditions = condition
			}
		}
		return nil
	}, ensure.UpdateOnly())
	if err != nil {
		return r1, err
	}
	validating := &admissionregistrationv1.ValidatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: WebhookConfigName}}
	r2, err := ensure.Object(ctx, i.client, validating, func(cur *admissionregistrationv1.ValidatingWebhookConfiguration) error {
		for k := range cur.Webhooks {
			cur.Webhooks[k].ClientConfig.CABundle = bundle
		}
		return nil
	}, ensure.UpdateOnly())
	return max(r1, r2), err
}
