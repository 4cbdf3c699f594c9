// Package observer is the admins' side of observer access (the original's
// wmcs-enable-cluster-monitor): a tool is granted read-only access to
// non-sensitive kinds cluster-wide by a label on its namespace, and the
// accounts controller makes (and removes) ServiceAccount <t>-obs and its
// binding to ClusterRole tool-observer. Declared, not scripted: the grant
// is reconciled, and goes with the tool.
package observer

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/toolforge-go/toolforge/internal/tenancy"
)

// Ops grants and revokes observer access.
type Ops struct {
	// Read is the admin's own identity; Write impersonates a cluster
	// admin. RBAC objects are read with Write: `view` does not show them.
	Read, Write kubernetes.Interface
	Progress    io.Writer
}

// Status is one tool's observer access.
type Status struct {
	Tool           string `json:"tool"`
	Enabled        bool   `json:"enabled"`        // the namespace asks for it
	ServiceAccount string `json:"serviceAccount"` // <t>-obs in tool-<t>
	Granted        bool   `json:"granted"`        // the ServiceAccount and its binding exist

	objectsLeft bool // either of them exists
}

func (o *Ops) say(format string, args ...any) {
	if o.Progress != nil {
		fmt.Fprintf(o.Progress, format+"\n", args...)
	}
}

// toolNamespace checks that tool is a provisioned tool.
func (o *Ops) toolNamespace(ctx context.Context, tool string) error {
	ns, err := o.Read.CoreV1().Namespaces().Get(ctx, tenancy.Namespace(tool), metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return fmt.Errorf("no tool %q: namespace %s does not exist", tool, tenancy.Namespace(tool))
	}
	if err != nil {
		return fmt.Errorf("namespace of tool %s: %w", tool, err)
	}
	if ns.Labels[tenancy.LabelTool] != tool {
		return fmt.Errorf("namespace %s is not tool %s's (label %s is %q)", ns.Name, tool, tenancy.LabelTool, ns.Labels[tenancy.LabelTool])
	}
	return nil
}

// Set enables or disables observer access for tool and, with wait > 0,
// waits until the accounts controller has made (or removed) its objects.
// Setting what is already set writes nothing.
func (o *Ops) Set(ctx context.Context, tool string, enabled bool, wait time.Duration) (Status, error) {
	if err := o.toolNamespace(ctx, tool); err != nil {
		return Status{}, err
	}
	st, err := o.Get(ctx, tool)
	if err != nil {
		return st, err
	}
	if st.Enabled != enabled {
		var value any // null removes the label
		if enabled {
			value = tenancy.ObserverEnabled
		}
		patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"labels": map[string]any{tenancy.LabelObserver: value}}})
		if _, err := o.Write.CoreV1().Namespaces().Patch(ctx, tenancy.Namespace(tool), types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
			return st, fmt.Errorf("label namespace %s: %w", tenancy.Namespace(tool), err)
		}
	}
	if wait <= 0 {
		return o.Get(ctx, tool)
	}
	what := "granted"
	if !enabled {
		what = "removed"
	}
	o.say("waiting up to %s for the accounts controller to have %s observer access of %s", wait, what, tool)
	deadline := time.Now().Add(wait)
	for {
		st, err := o.Get(ctx, tool)
		if err != nil {
			return st, err
		}
		if st.Granted == enabled && (enabled || !st.objectsLeft) {
			return st, nil
		}
		if time.Now().After(deadline) {
			return st, fmt.Errorf("observer access of %s not %s after %s: is toolforged accounts running? (its log names each tool it could not converge)", tool, what, wait)
		}
		select {
		case <-ctx.Done():
			return st, ctx.Err()
		case <-time.After(300 * time.Millisecond):
		}
	}
}

// Get is one tool's observer access.
func (o *Ops) Get(ctx context.Context, tool string) (Status, error) {
	st := Status{Tool: tool, ServiceAccount: tenancy.Namespace(tool) + "/" + tenancy.ObserverServiceAccount(tool)}
	ns, err := o.Read.CoreV1().Namespaces().Get(ctx, tenancy.Namespace(tool), metav1.GetOptions{})
	if err != nil {
		return st, fmt.Errorf("namespace of tool %s: %w", tool, err)
	}
	st.Enabled = ns.Labels[tenancy.LabelObserver] == tenancy.ObserverEnabled
	sa, err := exists(o.Read.CoreV1().ServiceAccounts(ns.Name).Get(ctx, tenancy.ObserverServiceAccount(tool), metav1.GetOptions{}))
	if err != nil {
		return st, fmt.Errorf("observer ServiceAccount of %s: %w", tool, err)
	}
	crb, err := exists(o.Write.RbacV1().ClusterRoleBindings().Get(ctx, tenancy.ObserverBinding(tool), metav1.GetOptions{}))
	if err != nil {
		return st, fmt.Errorf("observer binding of %s: %w", tool, err)
	}
	st.Granted = sa && crb
	st.objectsLeft = sa || crb
	return st, nil
}

func exists[T any](_ T, err error) (bool, error) {
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	return err == nil, err
}

// List is every tool with observer access enabled, by name.
func (o *Ops) List(ctx context.Context) ([]Status, error) {
	list, err := o.Read.CoreV1().Namespaces().List(ctx, metav1.ListOptions{LabelSelector: tenancy.LabelObserver + "=" + tenancy.ObserverEnabled})
	if err != nil {
		return nil, fmt.Errorf("list namespaces: %w", err)
	}
	out := []Status{}
	for _, ns := range list.Items {
		tool := ns.Labels[tenancy.LabelTool]
		if tool == "" {
			continue
		}
		st, err := o.Get(ctx, tool)
		if err != nil {
			return nil, err
		}
		out = append(out, st)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Tool < out[j].Tool })
	return out, nil
}
