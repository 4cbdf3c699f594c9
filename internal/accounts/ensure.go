package accounts

import (
	"context"
	"fmt"
	"maps"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// managedBy is the value of app.kubernetes.io/managed-by on everything this
// controller owns; its cache only sees objects carrying it.
const managedBy = "toolforge-accounts"

// Label keys this controller puts on what it owns.
const (
	labelAdmin = "toolforge.org/admin"
)

// outcome says what ensure did.
type outcome int

const (
	unchanged outcome = iota
	created
	updated
)

// ensure makes the cluster hold want: it reads the current object from the
// cache (upToDate must not change it), creates it when missing, and updates it only when upToDate says it
// differs (fix copies want's owned fields into the current object). A
// converged object costs no write.
func ensure[T client.Object](ctx context.Context, r *Reconciler, want T, upToDate func(cur T) bool, fix func(cur T)) (outcome, error) {
	cur := want.DeepCopyObject().(T)
	key := client.ObjectKeyFromObject(want)
	err := r.client.Get(ctx, key, cur)
	if apierrors.IsNotFound(err) {
		err = r.client.Create(ctx, want)
		if err == nil {
			return created, nil
		}
		if !apierrors.IsAlreadyExists(err) {
			return unchanged, fmt.Errorf("create %T %s: %w", want, key, err)
		}
		// It exists without our label (a hand edit), so the cache cannot
		// see it: read it from the API and take it back.
		if err = r.apiReader.Get(ctx, key, cur); err != nil {
			return unchanged, fmt.Errorf("get %T %s: %w", want, key, err)
		}
	} else if err != nil {
		return unchanged, fmt.Errorf("get %T %s: %w", want, key, err)
	}
	if hasLabels(cur, want.GetLabels()) && upToDate(cur) {
		return unchanged, nil
	}
	// The cache hands out its own objects (no copy per read): copy before
	// changing anything.
	cur = cur.DeepCopyObject().(T)
	labels := cur.GetLabels()
	if labels == nil {
		labels = map[string]string{}
	}
	maps.Copy(labels, want.GetLabels())
	cur.SetLabels(labels)
	fix(cur)
	if err := r.client.Update(ctx, cur); err != nil {
		return unchanged, fmt.Errorf("update %T %s: %w", want, key, err)
	}
	return updated, nil
}

func hasLabels(obj client.Object, want map[string]string) bool {
	have := obj.GetLabels()
	for k, v := range want {
		if have[k] != v {
			return false
		}
	}
	return true
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
