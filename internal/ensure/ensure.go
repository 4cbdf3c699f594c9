// Package ensure is the platform's one create-or-update: make the cluster
// hold an object as a component wants it, level-based and idempotent. It
// reads the current object, lets the caller set the fields it owns on it,
// and writes only when that changed something (semantic equality), so a
// converged object costs no write and re-running is always safe. Every
// controller and installer of the platform (accounts, admission, the API's
// RBAC and published ConfigMap, web services, jobs) writes through it.
package ensure

import (
	"context"
	"fmt"
	"maps"
	"reflect"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Result says what Object did.
type Result int

// Results, ordered: the larger one of several steps says what a pass did.
const (
	Unchanged Result = iota
	Created
	Updated
)

func (r Result) String() string {
	return [...]string{"unchanged", "created", "updated"}[r]
}

// Mutate sets, on the current object, the fields the caller owns, as want
// has them. It must be a function of cur and want only (no side effects:
// it may run more than once when a write meets a conflict). An error stops
// the write and is returned as is (e.g. "the object is being deleted").
type Mutate[T client.Object] func(cur T) error

// Option changes how Object works.
type Option func(*options)

type options struct {
	updateOnly bool
	fallback   client.Reader
	replace    func(cur client.Object) bool
	written    func(obj client.Object)
}

// Written is told the object as written (its new resourceVersion
// included) after a create, update or replacement: for a caller that waits
// until its cache has its own writes.
func Written(f func(obj client.Object)) Option { return func(o *options) { o.written = f } }

// UpdateOnly says the object is another installer's to create (the Helm
// chart's): a missing one is an error (NotFound, wrapped), never created
// from want, whose fields beyond what mutate sets are then ignored.
func UpdateOnly() Option { return func(o *options) { o.updateOnly = true } }

// WithFallbackReader reads an object the create found to exist while the
// client's reads do not see it: a cache that only holds labelled objects
// misses one whose labels were removed by hand. Object then takes it back
// (the labels are put back with the rest).
func WithFallbackReader(r client.Reader) Option { return func(o *options) { o.fallback = r } }

// ReplaceWhen says that cur cannot become what is wanted by an update
// (an immutable field differs, like a binding's roleRef): Object deletes
// it and creates want instead.
func ReplaceWhen[T client.Object](f func(cur T) bool) Option {
	return func(o *options) { o.replace = func(cur client.Object) bool { return f(cur.(T)) } }
}

// Object makes the cluster hold want: creates it when missing; otherwise
// merges want's labels into the current object, applies mutate and
// updates it when that changed anything. c reads (from a cache, when it is
// a manager's client) and writes. A conflict is retried with a fresh read.
func Object[T client.Object](ctx context.Context, c client.Client, want T, mutate Mutate[T], opts ...Option) (Result, error) {
	return run(ctx, clientStore[T]{c: c}, want, mutate, opts)
}

// TypedClient is what client-go's typed clients offer for one kind (e.g.
// kube.CoreV1().Services(ns)), for callers that hold a clientset rather
// than a controller-runtime client.
type TypedClient[T client.Object] interface {
	Get(ctx context.Context, name string, opts metav1.GetOptions) (T, error)
	Create(ctx context.Context, obj T, opts metav1.CreateOptions) (T, error)
	Update(ctx context.Context, obj T, opts metav1.UpdateOptions) (T, error)
	Delete(ctx context.Context, name string, opts metav1.DeleteOptions) error
}

// Typed is Object through a typed client.
func Typed[T client.Object](ctx context.Context, api TypedClient[T], want T, mutate Mutate[T], opts ...Option) (Result, error) {
	return run(ctx, typedStore[T]{api: api}, want, mutate, opts)
}

// store is the four calls Object needs, whoever serves them.
type store[T client.Object] interface {
	get(ctx context.Context, want T) (T, error)
	create(ctx context.Context, obj T) error
	update(ctx context.Context, obj T) error
	delete(ctx context.Context, obj T) error
}

func run[T client.Object](ctx context.Context, s store[T], want T, mutate Mutate[T], opts []Option) (Result, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	kind := kindOf(want)
	key := client.ObjectKeyFromObject(want)
	result := Unchanged
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cur, err := s.get(ctx, want)
		if apierrors.IsNotFound(err) && o.updateOnly {
			return fmt.Errorf("%s %s is not installed: %w", kind, key, err)
		}
		if apierrors.IsNotFound(err) {
			// The caller's want stays a template: create a copy.
			obj := want.DeepCopyObject().(T)
			err = s.create(ctx, obj)
			if err == nil {
				result = Created
				o.tell(obj)
				return nil
			}
			if !apierrors.IsAlreadyExists(err) {
				return fmt.Errorf("create %s %s: %w", kind, key, err)
			}
			// Made meanwhile by someone else, or there all along without
			// the labels a cache selects by: read it and take it over.
			if o.fallback != nil {
				cur = want.DeepCopyObject().(T)
				err = o.fallback.Get(ctx, key, cur)
			} else {
				cur, err = s.get(ctx, want)
			}
			if err != nil {
				return fmt.Errorf("get %s %s: %w", kind, key, err)
			}
		} else if err != nil {
			return fmt.Errorf("get %s %s: %w", kind, key, err)
		}
		if o.replace != nil && o.replace(cur) {
			if err := s.delete(ctx, cur); err != nil && !apierrors.IsNotFound(err) {
				return fmt.Errorf("delete %s %s to replace it: %w", kind, key, err)
			}
			obj := want.DeepCopyObject().(T)
			if err := s.create(ctx, obj); err != nil {
				return fmt.Errorf("replace %s %s: %w", kind, key, err)
			}
			result = Updated
			o.tell(obj)
			return nil
		}
		// A cache may hand out its own objects (no copy per read): copy
		// before changing anything.
		before := cur
		cur = cur.DeepCopyObject().(T)
		labels := cur.GetLabels()
		if labels == nil {
			labels = map[string]string{}
		}
		maps.Copy(labels, want.GetLabels())
		cur.SetLabels(labels)
		if err := mutate(cur); err != nil {
			return err
		}
		if equality.Semantic.DeepEqual(before, cur) {
			return nil
		}
		if err := s.update(ctx, cur); err != nil {
			if apierrors.IsConflict(err) {
				return err // retried with a fresh read
			}
			return fmt.Errorf("update %s %s: %w", kind, key, err)
		}
		result = Updated
		o.tell(cur)
		return nil
	})
	if err != nil {
		return Unchanged, err
	}
	return result, nil
}

func (o *options) tell(obj client.Object) {
	if o.written != nil {
		o.written(obj)
	}
}

type clientStore[T client.Object] struct{ c client.Client }

func (s clientStore[T]) get(ctx context.Context, want T) (T, error) {
	cur := want.DeepCopyObject().(T)
	return cur, s.c.Get(ctx, client.ObjectKeyFromObject(want), cur)
}
func (s clientStore[T]) create(ctx context.Context, obj T) error { return s.c.Create(ctx, obj) }
func (s clientStore[T]) update(ctx context.Context, obj T) error { return s.c.Update(ctx, obj) }
func (s clientStore[T]) delete(ctx context.Context, obj T) error {
	return s.c.Delete(ctx, obj, client.Preconditions{UID: ptrTo(obj.GetUID())})
}

type typedStore[T client.Object] struct{ api TypedClient[T] }

func (s typedStore[T]) get(ctx context.Context, want T) (T, error) {
	return s.api.Get(ctx, want.GetName(), metav1.GetOptions{})
}
func (s typedStore[T]) create(ctx context.Context, obj T) error {
	_, err := s.api.Create(ctx, obj, metav1.CreateOptions{})
	return err
}
func (s typedStore[T]) update(ctx context.Context, obj T) error {
	_, err := s.api.Update(ctx, obj, metav1.UpdateOptions{})
	return err
}
func (s typedStore[T]) delete(ctx context.Context, obj T) error {
	uid := obj.GetUID()
	return s.api.Delete(ctx, obj.GetName(), metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}})
}

// kindOf names the object's kind for messages (Deployment, not
// *v1.Deployment): typed objects seldom carry their TypeMeta.
func kindOf(obj client.Object) string {
	t := reflect.TypeOf(obj)
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t.Name()
}

func ptrTo[V any](v V) *V { return &v }
