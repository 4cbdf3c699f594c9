// Package account is the small core every reconciler of the accounts
// controller shares: the tool as they provision it, the labels that mark
// what the controller owns (its cache sees only objects carrying them),
// and how it writes: through the platform's one create-or-update,
// internal/ensure, reading its cache and falling back to the API for an
// object whose labels were removed by hand.
package account

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/toolforge-go/toolforge/internal/ensure"
	"github.com/toolforge-go/toolforge/internal/homefs"
	"github.com/toolforge-go/toolforge/internal/tenancy"
)

// ManagedBy is the value of app.kubernetes.io/managed-by on everything
// the accounts controller owns.
const ManagedBy = "toolforge-accounts"

// LabelAdmin names the admin an object is owned for.
const LabelAdmin = "toolforge.org/admin"

// Account types, the account_type label of the metrics.
const (
	TypeTool  = "tool"
	TypeAdmin = "admin"
)

// Tool is a tool account as the reconcilers provision it: the source's
// entry with its home resolved.
type Tool struct {
	Name string
	UID  int64
	// Home is the absolute path of the tool's home directory.
	Home string
}

// Admin is a platform admin as the reconcilers provision them: the
// source's entry with the home resolved.
type Admin struct {
	Name string
	UID  int64
	Home string
}

// Namespace is the tool's namespace, tool-<name>.
func (t Tool) Namespace() string { return tenancy.Namespace(t.Name) }

// Owner is whom the tool's files are given to: its uid, and the group of
// the same number.
func Owner(uid int64) homefs.Owner { return homefs.Owner{UID: int(uid), GID: int(uid)} }

// Owned are the labels of every object the controller owns.
func Owned() map[string]string {
	return map[string]string{tenancy.LabelManagedBy: ManagedBy}
}

// ToolLabels are the labels of every object owned on behalf of a tool.
func ToolLabels(tool string) map[string]string {
	return map[string]string{tenancy.LabelManagedBy: ManagedBy, tenancy.LabelTool: tool}
}

// AdminLabels are the labels of every object owned on behalf of an admin.
func AdminLabels(name string) map[string]string {
	return map[string]string{tenancy.LabelManagedBy: ManagedBy, LabelAdmin: name}
}

// Writer is how reconcilers read and write what they own: reads from the
// controller's cache of owned objects, writes to the API server.
type Writer struct {
	// Client reads from the cache (its objects are the cache's own: copy
	// before changing one) and writes to the API.
	Client client.Client
	// APIReader reads from the API, for what the cache cannot see.
	APIReader client.Reader
}

// Ensure makes the cluster hold want through internal/ensure, falling back
// to the API for an object whose labels were removed by hand (the cache
// cannot see it), and writes only what mutate changed.
func Ensure[T client.Object](ctx context.Context, w Writer, want T, mutate ensure.Mutate[T], opts ...ensure.Option) (ensure.Result, error) {
	return ensure.Object(ctx, w.Client, want, mutate, append(opts, ensure.WithFallbackReader(w.APIReader))...)
}

// DeleteIfExists deletes obj; a missing object is not an error. It reports
// whether it deleted something.
func (w Writer) DeleteIfExists(ctx context.Context, obj client.Object) (bool, error) {
	if err := w.Client.Get(ctx, client.ObjectKeyFromObject(obj), obj); apierrors.IsNotFound(err) {
		return false, nil
	} else if err != nil {
		return false, err
	}
	if err := w.Client.Delete(ctx, obj); err != nil && !apierrors.IsNotFound(err) {
		return false, fmt.Errorf("delete %T %s: %w", obj, client.ObjectKeyFromObject(obj), err)
	}
	return true, nil
}

// SetAnnotation sets one annotation of obj.
func SetAnnotation(obj client.Object, k, v string) {
	a := obj.GetAnnotations()
	if a == nil {
		a = map[string]string{}
	}
	a[k] = v
	obj.SetAnnotations(a)
}
