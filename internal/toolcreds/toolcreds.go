// Package toolcreds is the admins' view of a tool's credentials: what the
// accounts controller recorded of the certificate it issued (the marker
// ConfigMap), and the seeds' repair step, regenerate: delete the marker,
// and the controller issues a new certificate and kubeconfig.
package toolcreds

import (
	"context"
	"fmt"
	"io"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/toolforge-go/toolforge/internal/tenancy"
)

// Ops reads (admin's identity) and regenerates (impersonating) credentials.
type Ops struct {
	Read, Write kubernetes.Interface
	Progress    io.Writer
}

// Status is a tool's credentials as the controller recorded them.
type Status struct {
	Tool   string `json:"tool"`
	Status string `json:"status"` // provisioned, disabled, refused
	// Message says why a refused tool is not provisioned.
	Message string `json:"message,omitempty"`
	// Fingerprint is the sha256 of the certificate in use (DER).
	Fingerprint string    `json:"certificateSHA256"`
	Expiry      time.Time `json:"expiry"`
	// Issued is when it was issued: the last renewal or regeneration.
	Issued time.Time `json:"issued,omitzero"`
}

// Show reads the tool's marker.
func (o *Ops) Show(ctx context.Context, tool string) (Status, error) {
	cm, err := o.marker(ctx, tool)
	if err != nil {
		return Status{Tool: tool}, err
	}
	if cm == nil {
		return Status{Tool: tool}, fmt.Errorf("tool %s has no credentials record (ConfigMap %s/%s): not provisioned yet, or being regenerated", tool, tenancy.Namespace(tool), tenancy.MarkerConfigMap)
	}
	return statusOf(tool, cm), nil
}

func statusOf(tool string, cm *corev1.ConfigMap) Status {
	st := Status{Tool: tool, Status: cm.Data[tenancy.MarkerStatus], Message: cm.Data[tenancy.MarkerMessage], Fingerprint: cm.Data[tenancy.MarkerFingerprint]}
	st.Expiry, _ = time.Parse(time.RFC3339, cm.Data[tenancy.MarkerExpiry])
	st.Issued, _ = time.Parse(time.RFC3339, cm.Data[tenancy.MarkerIssued])
	return st
}

// marker is the tool's marker, nil when there is none.
func (o *Ops) marker(ctx context.Context, tool string) (*corev1.ConfigMap, error) {
	if _, err := o.Read.CoreV1().Namespaces().Get(ctx, tenancy.Namespace(tool), metav1.GetOptions{}); apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("no tool %q: namespace %s does not exist", tool, tenancy.Namespace(tool))
	} else if err != nil {
		return nil, fmt.Errorf("namespace of tool %s: %w", tool, err)
	}
	cm, err := o.Read.CoreV1().ConfigMaps(tenancy.Namespace(tool)).Get(ctx, tenancy.MarkerConfigMap, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("credentials record of %s: %w", tool, err)
	}
	return cm, nil
}

// Regenerate deletes the tool's marker and waits (up to wait) until the
// accounts controller has issued a certificate other than the one before.
// A marker already gone (a regeneration under way) is waited for.
func (o *Ops) Regenerate(ctx context.Context, tool string, wait time.Duration) (before, after Status, err error) {
	cm, err := o.marker(ctx, tool)
	if err != nil {
		return before, after, err
	}
	before = Status{Tool: tool}
	if cm != nil {
		before = statusOf(tool, cm)
		switch {
		case before.Message != "":
			return before, after, fmt.Errorf("tool %s is %s: %s", tool, before.Status, before.Message)
		case before.Status != "" && before.Status != "provisioned":
			return before, after, fmt.Errorf("tool %s is %s: its credentials come back when it is enabled again", tool, before.Status)
		}
		// The UID precondition: never delete a marker the controller
		// re-made meanwhile.
		err := o.Write.CoreV1().ConfigMaps(cm.Namespace).Delete(ctx, cm.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &cm.UID}})
		if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			return before, after, fmt.Errorf("delete credentials record of %s: %w", tool, err)
		}
		if o.Progress != nil {
			fmt.Fprintf(o.Progress, "deleted ConfigMap %s/%s (certificate sha256 %s)\n", cm.Namespace, cm.Name, before.Fingerprint)
		}
	}
	if o.Progress != nil {
		fmt.Fprintf(o.Progress, "waiting up to %s for the accounts controller to issue new credentials for %s\n", wait, tool)
	}
	deadline := time.Now().Add(wait)
	for {
		cm, err := o.marker(ctx, tool)
		if err != nil {
			return before, after, err
		}
		if cm != nil {
			after = statusOf(tool, cm)
			if after.Fingerprint != "" && after.Fingerprint != before.Fingerprint {
				return before, after, nil
			}
		}
		if time.Now().After(deadline) {
			return before, after, fmt.Errorf("no new credentials for %s after %s: is toolforged accounts running? (its log names each tool it could not converge)", tool, wait)
		}
		select {
		case <-ctx.Done():
			return before, after, ctx.Err()
		case <-time.After(300 * time.Millisecond):
		}
	}
}
