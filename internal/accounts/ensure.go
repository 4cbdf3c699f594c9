package accounts

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/toolforge-go/toolforge/internal/ensure"
)

// managedBy is the value of app.kubernetes.io/managed-by on everything this
// controller owns; its cache only sees objects carrying it.
const managedBy = "toolforge-accounts"

// Label keys this controller puts on what it owns.
const (
	labelAdmin = "toolforge.org/admin"
)

// outcome says what a step did: the shared helper's result.
type outcome = ensure.Result

const (
	unchanged = ensure.Unchanged
	created   = ensure.Created
	updated   = ensure.Updated
)

// ensureObject makes the cluster hold want through the platform's one
// create-or-update: reads from the cache, falls back to the API for an
// object whose labels were removed by hand (the cache cannot see it), and
// writes only what mutate changed.
func ensureObject[T client.Object](ctx context.Context, r *Reconciler, want T, mutate ensure.Mutate[T], opts ...ensure.Option) (outcome, error) {
	return ensure.Object(ctx, r.client, want, mutate, append(opts, ensure.WithFallbackReader(r.apiReader))...)
}

// deleteIfExists deletes obj; a missing object is not an error. It reports
// whether it deleted something.
func deleteIfExists(ctx context.Context, r *Reconciler, obj client.Object) (bool, error) {
	if err := r.client.Get(ctx, client.ObjectKeyFromObject(obj), obj); apierrors.IsNotFound(err) {
		return false, nil
	} else if err != nil {
		return false, err
	}
	if err := r.client.Delete(ctx, obj); err != nil && !apierrors.IsNotFound(err) {
		return false, fmt.Errorf("delete %T %s: %w", obj, client.ObjectKeyFromObject(obj), err)
	}
	return true, nil
}

// toolLabels are the labels of every object owned on behalf of a tool.
func toolLabels(tool string) map[string]string {
	return map[string]string{"app.kubernetes.io/managed-by": managedBy, "toolforge.org/tool": tool}
}
