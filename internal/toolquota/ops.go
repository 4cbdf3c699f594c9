package toolquota

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"sort"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/toolforge-go/toolforge/internal/tenancy"
)

// AppliedAnnotation on a tool's ResourceQuota records the overrides (as
// in the namespace's annotation) the accounts controller last made it
// with: set and reset wait for it to match.
const AppliedAnnotation = "toolforge.org/quota-overrides-applied"

// Ops shows and changes tools' quota overrides. Read is the admin's own
// identity, Write the impersonating one.
type Ops struct {
	Read, Write kubernetes.Interface
	Progress    io.Writer
}

// Line is one key of a tool's quota.
type Line struct {
	Key      string `json:"key"`
	Hard     string `json:"hard"`
	Used     string `json:"used,omitempty"`
	Override string `json:"override,omitempty"` // set by an admin
}

// Status is a tool's quota as the cluster has it.
type Status struct {
	Tool      string            `json:"tool"`
	Overrides map[string]string `json:"overrides"`
	// Applied says the ResourceQuota holds the overrides (the accounts
	// controller has caught up).
	Applied bool   `json:"applied"`
	Quota   []Line `json:"quota"`
}

func quotaName(tool string) string { return "tool-" + tool }

// Show reads the tool's overrides and its ResourceQuota.
func (o *Ops) Show(ctx context.Context, tool string) (Status, error) {
	st := Status{Tool: tool, Overrides: map[string]string{}}
	ns, err := o.Read.CoreV1().Namespaces().Get(ctx, tenancy.Namespace(tool), metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return st, fmt.Errorf("no tool %q: namespace %s does not exist", tool, tenancy.Namespace(tool))
	} else if err != nil {
		return st, fmt.Errorf("namespace of tool %s: %w", tool, err)
	}
	raw := ns.Annotations[tenancy.AnnotationQuota]
	overrides, err := Decode(raw)
	if err != nil {
		return st, fmt.Errorf("namespace %s: %w", ns.Name, err)
	}
	for k, v := range overrides {
		st.Overrides[string(k)] = v.String()
	}
	rq, err := o.Read.CoreV1().ResourceQuotas(ns.Name).Get(ctx, quotaName(tool), metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return st, nil
	} else if err != nil {
		return st, fmt.Errorf("quota of tool %s: %w", tool, err)
	}
	st.Applied = rq.Annotations[AppliedAnnotation] == Encode(overrides)
	keys := map[string]bool{}
	for k := range rq.Spec.Hard {
		keys[string(k)] = true
	}
	for k := range st.Overrides {
		keys[k] = true
	}
	for _, k := range sortedKeys(keys) {
		l := Line{Key: k, Override: st.Overrides[k]}
		if q, ok := rq.Spec.Hard[corev1.ResourceName(k)]; ok {
			l.Hard = q.String()
		}
		if q, ok := rq.Status.Used[corev1.ResourceName(k)]; ok {
			l.Used = q.String()
		}
		st.Quota = append(st.Quota, l)
	}
	return st, nil
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Set adds or changes overrides; Reset removes the given keys (all with
// none). Both write only when the overrides change, then with wait > 0
// wait until the accounts controller has applied them.
func (o *Ops) Set(ctx context.Context, tool string, set corev1.ResourceList, wait time.Duration) (Status, error) {
	return o.change(ctx, tool, func(cur corev1.ResourceList) { maps.Copy(cur, set) }, wait)
}

// Reset removes overrides: keys, or every one when keys is empty.
func (o *Ops) Reset(ctx context.Context, tool string, keys []string, wait time.Duration) (Status, error) {
	for _, k := range keys {
		if err := ValidateKey(k); err != nil {
			return Status{}, err
		}
	}
	return o.change(ctx, tool, func(cur corev1.ResourceList) {
		if len(keys) == 0 {
			clear(cur)
		}
		for _, k := range keys {
			delete(cur, corev1.ResourceName(k))
		}
	}, wait)
}

func (o *Ops) change(ctx context.Context, tool string, edit func(corev1.ResourceList), wait time.Duration) (Status, error) {
	ns, err := o.Read.CoreV1().Namespaces().Get(ctx, tenancy.Namespace(tool), metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return Status{}, fmt.Errorf("no tool %q: namespace %s does not exist", tool, tenancy.Namespace(tool))
	} else if err != nil {
		return Status{}, fmt.Errorf("namespace of tool %s: %w", tool, err)
	}
	if ns.Labels[tenancy.LabelTool] != tool {
		return Status{}, fmt.Errorf("namespace %s is not tool %s's", ns.Name, tool)
	}
	old := ns.Annotations[tenancy.AnnotationQuota]
	cur, err := Decode(old)
	if err != nil {
		// What is there is broken: start over from what is asked for.
		cur = corev1.ResourceList{}
	}
	edit(cur)
	want := Encode(cur)
	if want != old {
		var value any = want
		if want == "" {
			value = nil // removes the annotation
		}
		// The resourceVersion makes the patch fail rather than lose an
		// override another admin set meanwhile.
		patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{
			"resourceVersion": ns.ResourceVersion,
			"annotations":     map[string]any{tenancy.AnnotationQuota: value},
		}})
		if _, err := o.Write.CoreV1().Namespaces().Patch(ctx, ns.Name, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
			return Status{}, fmt.Errorf("set quota overrides of %s: %w", tool, err)
		}
	}
	if wait <= 0 {
		return o.Show(ctx, tool)
	}
	if o.Progress != nil {
		fmt.Fprintf(o.Progress, "waiting up to %s for the accounts controller to apply the quota of %s\n", wait, tool)
	}
	deadline := time.Now().Add(wait)
	for {
		st, err := o.Show(ctx, tool)
		if err != nil {
			return st, err
		}
		if st.Applied {
			return st, nil
		}
		if time.Now().After(deadline) {
			return st, fmt.Errorf("the quota of %s does not hold the overrides after %s: is toolforged accounts running? (its log names each tool it could not converge)", tool, wait)
		}
		select {
		case <-ctx.Done():
			return st, ctx.Err()
		case <-time.After(300 * time.Millisecond):
		}
	}
}
