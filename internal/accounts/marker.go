package accounts

import (
	"context"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/toolforge-go/toolforge/internal/tenancy"
)

// MarkerName is the ConfigMap in each tool namespace recording what was
// provisioned. Deleting it makes the controller regenerate the tool's
// credentials (the seeds' documented repair step).
const MarkerName = tenancy.MarkerConfigMap

// Marker statuses.
const (
	statusProvisioned = "provisioned"
	statusDisabled    = "disabled"
)

// marker is the content of a marker ConfigMap.
type marker struct {
	Status      string
	Expiry      time.Time
	Fingerprint string
	// Issued is when the certificate was issued: its last renewal or
	// regeneration, as toolforge-admin credentials show shows it.
	Issued time.Time
}

func (m marker) data() map[string]string {
	d := map[string]string{tenancy.MarkerStatus: m.Status}
	if m.Fingerprint != "" {
		d[tenancy.MarkerFingerprint] = m.Fingerprint
		d[tenancy.MarkerExpiry] = m.Expiry.UTC().Format(time.RFC3339)
		if !m.Issued.IsZero() {
			d[tenancy.MarkerIssued] = m.Issued.UTC().Format(time.RFC3339)
		}
	}
	return d
}

// readMarker returns the marker at key, and whether it exists.
func (r *Reconciler) readMarker(ctx context.Context, key client.ObjectKey) (marker, bool, error) {
	var cm corev1.ConfigMap
	if err := r.client.Get(ctx, key, &cm); apierrors.IsNotFound(err) {
		return marker{}, false, nil
	} else if err != nil {
		return marker{}, false, err
	}
	m := marker{Status: cm.Data[tenancy.MarkerStatus], Fingerprint: cm.Data[tenancy.MarkerFingerprint]}
	m.Expiry, _ = time.Parse(time.RFC3339, cm.Data[tenancy.MarkerExpiry])
	m.Issued, _ = time.Parse(time.RFC3339, cm.Data[tenancy.MarkerIssued])
	return m, true, nil
}

func (r *Reconciler) writeMarker(ctx context.Context, key client.ObjectKey, labels map[string]string, m marker) (outcome, error) {
	want := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: key.Name, Namespace: key.Namespace, Labels: labels},
		Data:       m.data(),
	}
	return ensureObject(ctx, r, want, func(cur *corev1.ConfigMap) error { cur.Data = want.Data; return nil })
}
