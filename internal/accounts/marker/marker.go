// Package marker keeps the accounts controller's record of what it
// provisioned for an account: the ConfigMap maintain-kubeusers in each tool
// namespace (maintain-kubeusers-admin-<name> in the platform namespace for
// an admin). Deleting a tool's makes the controller regenerate its
// credentials (the seeds' documented repair step).
package marker

import (
	"context"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/toolforge-go/toolforge/internal/accounts/account"
	"github.com/toolforge-go/toolforge/internal/ensure"
	"github.com/toolforge-go/toolforge/internal/tenancy"
)

// Name is the marker ConfigMap in each tool namespace.
const Name = tenancy.MarkerConfigMap

// Statuses.
const (
	StatusProvisioned = "provisioned"
	StatusDisabled    = "disabled"
	// StatusRefused: the account cannot be provisioned as the source
	// describes it (Reason and Message say why); what it had is kept.
	StatusRefused = "refused"
)

// ReasonHomeRefused: the account's home is outside its root or shared.
const ReasonHomeRefused = "HomeRefused"

// Marker is the content of a marker ConfigMap.
type Marker struct {
	Status      string
	Expiry      time.Time
	Fingerprint string
	// Issued is when the certificate was issued: its last renewal or
	// regeneration, as toolforge-admin credentials show shows it.
	Issued time.Time
	// Reason and Message say why an account is refused.
	Reason, Message string
}

// ToolKey is where tool's marker is.
func ToolKey(tool string) client.ObjectKey {
	return client.ObjectKey{Namespace: tenancy.Namespace(tool), Name: Name}
}

// AdminKey is where admin name's marker is.
func AdminKey(platformNS, name string) client.ObjectKey {
	return client.ObjectKey{Namespace: platformNS, Name: "maintain-kubeusers-admin-" + name}
}

// Data is the marker as the ConfigMap holds it.
func (m Marker) Data() map[string]string {
	d := map[string]string{tenancy.MarkerStatus: m.Status}
	if m.Reason != "" {
		d[tenancy.MarkerReason] = m.Reason
		d[tenancy.MarkerMessage] = m.Message
	}
	if m.Fingerprint != "" {
		d[tenancy.MarkerFingerprint] = m.Fingerprint
		d[tenancy.MarkerExpiry] = m.Expiry.UTC().Format(time.RFC3339)
		if !m.Issued.IsZero() {
			d[tenancy.MarkerIssued] = m.Issued.UTC().Format(time.RFC3339)
		}
	}
	return d
}

// Parse reads a marker from a ConfigMap's data.
func Parse(data map[string]string) Marker {
	m := Marker{Status: data[tenancy.MarkerStatus], Fingerprint: data[tenancy.MarkerFingerprint],
		Reason: data[tenancy.MarkerReason], Message: data[tenancy.MarkerMessage]}
	m.Expiry, _ = time.Parse(time.RFC3339, data[tenancy.MarkerExpiry])
	m.Issued, _ = time.Parse(time.RFC3339, data[tenancy.MarkerIssued])
	return m
}

// Read returns the marker at key, and whether it exists.
func Read(ctx context.Context, c client.Reader, key client.ObjectKey) (Marker, bool, error) {
	var cm corev1.ConfigMap
	if err := c.Get(ctx, key, &cm); apierrors.IsNotFound(err) {
		return Marker{}, false, nil
	} else if err != nil {
		return Marker{}, false, err
	}
	return Parse(cm.Data), true, nil
}

// Write makes the marker at key hold m.
func Write(ctx context.Context, w account.Writer, key client.ObjectKey, labels map[string]string, m Marker) (ensure.Result, error) {
	want := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: key.Name, Namespace: key.Namespace, Labels: labels},
		Data:       m.Data(),
	}
	return account.Ensure(ctx, w, want, func(cur *corev1.ConfigMap) error { cur.Data = want.Data; return nil })
}
