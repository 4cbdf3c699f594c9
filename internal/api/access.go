package api

import (
	"context"
	"fmt"
	"sync"
	"time"

	authzv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	authzclient "k8s.io/client-go/kubernetes/typed/authorization/v1"

	"github.com/toolforge-go/toolforge/internal/tenancy"
)

// rbacAccess lets a tool use the API exactly when Kubernetes would let it
// run jobs itself: it asks the API server (SubjectAccessReview) whether
// the tool's own identity may create Jobs in its namespace. A disabled
// tool, whose role binding the accounts controller removed, is refused;
// the API never gives a tool more than its RBAC does. Answers are cached
// briefly: allowed for allowTTL, denied for denyTTL (so a newly enabled
// tool is let in quickly).
type rbacAccess struct {
	sar               authzclient.SubjectAccessReviewInterface
	allowTTL, denyTTL time.Duration
	now               func() time.Time

	mu    sync.Mutex
	cache map[string]accessEntry
}

type accessEntry struct {
	ok      bool
	expires time.Time
}

func newRBACAccess(sar authzclient.SubjectAccessReviewInterface) *rbacAccess {
	return &rbacAccess{sar: sar, allowTTL: 30 * time.Second, denyTTL: 3 * time.Second, now: time.Now, cache: map[string]accessEntry{}}
}

func (a *rbacAccess) Allowed(ctx context.Context, tool string) (bool, error) {
	a.mu.Lock()
	e, hit := a.cache[tool]
	a.mu.Unlock()
	if hit && a.now().Before(e.expires) {
		return e.ok, nil
	}
	review := &authzv1.SubjectAccessReview{Spec: authzv1.SubjectAccessReviewSpec{
		User:   tool,
		Groups: []string{tenancy.ToolGroup, "system:authenticated"},
		ResourceAttributes: &authzv1.ResourceAttributes{
			Namespace: tenancy.Namespace(tool), Verb: "create", Group: "batch", Resource: "jobs",
		},
	}}
	got, err := a.sar.Create(ctx, review, metav1.CreateOptions{})
	if err != nil {
		return false, fmt.Errorf("ask whether tool %q may run jobs: %w", tool, err)
	}
	ok := got.Status.Allowed && !got.Status.Denied
	ttl := a.denyTTL
	if ok {
		ttl = a.allowTTL
	}
	a.mu.Lock()
	a.cache[tool] = accessEntry{ok: ok, expires: a.now().Add(ttl)}
	a.mu.Unlock()
	return ok, nil
}
