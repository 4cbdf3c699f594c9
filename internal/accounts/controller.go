package accounts

import (
	"context"
	"maps"
	"time"

	certv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	"github.com/toolforge-go/toolforge/internal/accounts/account"
	"github.com/toolforge-go/toolforge/internal/tenancy"
)

// passRunner makes a full pass at start and every interval: it picks up
// source changes and anything the watches missed. With once, it makes one
// pass and ends the daemon with its result.
type passRunner struct {
	r        *Reconciler
	cache    cache.Cache
	interval time.Duration
	once     bool
	exit     func(error)
}

// NeedLeaderElection: only the leader provisions; a one-off run is its own
// leader.
func (p *passRunner) NeedLeaderElection() bool { return !p.once }

func (p *passRunner) Start(ctx context.Context) error {
	start := time.Now()
	if !p.cache.WaitForCacheSync(ctx) {
		return ctx.Err()
	}
	p.r.log.Info("caches synced", "took", time.Since(start).Round(time.Millisecond))
	// Whatever CSRs exist now belong to attempts that died with an earlier
	// process: nothing of this one is in flight yet.
	if err := p.r.credentials.CollectCSRs(ctx); err != nil {
		p.r.log.Error("collect leftover CSRs", "err", err)
	}
	for {
		err := p.r.pass(ctx)
		if p.once {
			p.exit(err)
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(p.interval):
		}
	}
}

// setupControllers reconciles an account as soon as something it owns is
// changed or deleted by hand, between passes.
func (r *Reconciler) setupControllers(mgr manager.Manager, c cache.Cache) error {
	opts := controller.Options{MaxConcurrentReconciles: r.opts.Workers, NeedLeaderElection: ptr.To(true)}
	tools := builder.ControllerManagedBy(mgr).Named("accounts-tools").WithOptions(opts)
	for _, obj := range toolKinds() {
		tools = tools.WatchesRawSource(source.Kind(c, obj, byLabel(tenancy.LabelTool), changedByOthers()))
	}
	if err := tools.Complete(reconcileWith(r.reconcileTool)); err != nil {
		return err
	}
	admins := builder.ControllerManagedBy(mgr).Named("accounts-admins").WithOptions(opts)
	for _, obj := range []client.Object{&rbacv1.ClusterRoleBinding{}, &corev1.ConfigMap{}} {
		admins = admins.WatchesRawSource(source.Kind(c, obj, byLabel(account.LabelAdmin), changedByOthers()))
	}
	return admins.Complete(reconcileWith(r.reconcileAdmin))
}

// toolKinds are the kinds owned per tool.
func toolKinds() []client.Object {
	return []client.Object{&corev1.Namespace{}, &corev1.ResourceQuota{}, &corev1.LimitRange{}, &rbacv1.RoleBinding{}, &corev1.ConfigMap{}, &corev1.PersistentVolumeClaim{}, &corev1.PersistentVolume{},
		&corev1.ServiceAccount{}, &rbacv1.ClusterRoleBinding{}}
}

// ownedKinds are all the kinds this controller owns and caches.
func ownedKinds() []client.Object {
	return append(toolKinds(), &rbacv1.ClusterRole{}, &rbacv1.Role{}, &certv1.CertificateSigningRequest{})
}

func reconcileWith(fn func(context.Context, string) (time.Duration, error)) reconcile.Reconciler {
	return reconcile.Func(func(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
		after, err := fn(ctx, req.Name)
		return reconcile.Result{RequeueAfter: after}, err
	})
}

// byLabel enqueues the account named by an object's label.
func byLabel(label string) handler.EventHandler {
	return handler.EnqueueRequestsFromMapFunc(func(_ context.Context, obj client.Object) []reconcile.Request {
		if name := obj.GetLabels()[label]; name != "" {
			return []reconcile.Request{{NamespacedName: types.NamespacedName{Name: name}}}
		}
		return nil
	})
}

// changedByOthers lets through deletions and changes to what this
// controller owns. Creations are its own (or the initial listing, which
// the first pass covers), and status updates (quota usage, PV binding) are
// none of its business.
func changedByOthers() predicate.Predicate {
	return predicate.Funcs{
		CreateFunc:  func(event.CreateEvent) bool { return false },
		GenericFunc: func(event.GenericEvent) bool { return false },
		DeleteFunc:  func(event.DeleteEvent) bool { return true },
		UpdateFunc: func(e event.UpdateEvent) bool {
			return !maps.Equal(e.ObjectOld.GetLabels(), e.ObjectNew.GetLabels()) ||
				!maps.Equal(e.ObjectOld.GetAnnotations(), e.ObjectNew.GetAnnotations()) ||
				!equality.Semantic.DeepEqual(owned(e.ObjectOld), owned(e.ObjectNew))
		},
	}
}

// owned is the part of an object this controller decides.
func owned(obj client.Object) any {
	switch o := obj.(type) {
	case *corev1.ResourceQuota:
		return o.Spec
	case *corev1.LimitRange:
		return o.Spec
	case *rbacv1.RoleBinding:
		return []any{o.RoleRef, o.Subjects}
	case *rbacv1.ClusterRoleBinding:
		return []any{o.RoleRef, o.Subjects}
	case *corev1.ServiceAccount:
		return nil // only its existence and labels
	case *corev1.ConfigMap:
		return o.Data
	case *corev1.PersistentVolumeClaim:
		return o.Spec.VolumeName
	case *corev1.PersistentVolume:
		if o.Spec.ClaimRef == nil {
			return nil
		}
		return []string{o.Spec.ClaimRef.Namespace, o.Spec.ClaimRef.Name}
	case *corev1.Namespace:
		// Labels and annotations (observer access, quota overrides) are
		// compared apart.
		return o.DeletionTimestamp != nil
	}
	return nil
}
