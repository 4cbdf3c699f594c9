package accounts_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/toolforge-go/toolforge/internal/testcluster"
)

// The attack on the read-only shared data: the claim deleted and
// made again by the tool without the platform's marks, asking for the
// platform's volume read-write. (Admission refuses both to a tool; here,
// without admission, an admin impersonates the tool.) The controller never
// binds the volume to that claim: it deletes it, unbound, and makes its
// own, to which the volume is bound again.
func TestTheControllerNeverRebindsAPlatformVolumeToAClaimItDidNotMake(t *testing.T) {
	f := newFixture(t)
	f.write(account{name: "claims-a", uid: 57501})
	f.mustOnce()
	const ns, volume = "tool-claims-a", "tool-claims-a-dumps"
	claims := cluster.Client.CoreV1().PersistentVolumeClaims(ns)
	bound := func() (*corev1.PersistentVolumeClaim, error) {
		pvc, err := claims.Get(ctx(), "tool-dumps", metav1.GetOptions{})
		if err != nil {
			return nil, err
		}
		if pvc.Status.Phase != corev1.ClaimBound {
			return nil, fmt.Errorf("tool-dumps is %s", pvc.Status.Phase)
		}
		return pvc, nil
	}
	var platform *corev1.PersistentVolumeClaim
	testcluster.Eventually(t, time.Minute, func() (err error) { platform, err = bound(); return err })

	asTheTool := []string{"--as=claims-a", "--as-group=toolforge", "--as-group=system:authenticated", "-n", ns}
	if out, err := kubectl(cluster.Kubeconfig, append(asTheTool, "delete", "pvc", "tool-dumps")...); err != nil {
		t.Fatalf("delete as the tool: %v\n%s", err, out)
	}
	manifest := filepath.Join(t.TempDir(), "claim.yaml")
	if err := os.WriteFile(manifest, []byte(`apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: tool-dumps}
spec:
  accessModes: [ReadWriteMany]
  resources: {requests: {storage: 10Gi}}
  storageClassName: ""
  volumeName: `+volume+`
`), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := kubectl(cluster.Kubeconfig, append(asTheTool, "create", "-f", manifest)...); err != nil {
		t.Fatalf("create as the tool: %v\n%s", err, out)
	}
	impostor, err := claims.Get(ctx(), "tool-dumps", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// Whatever happens next, the impostor is never bound.
	events, err := claims.Watch(ctx(), metav1.ListOptions{FieldSelector: fields.OneTermEqualSelector("metadata.name", "tool-dumps").String(), ResourceVersion: impostor.ResourceVersion})
	if err != nil {
		t.Fatal(err)
	}
	defer events.Stop()

	out, err := f.once()
	if err == nil || !strings.Contains(out, fmt.Sprintf("PVC %s/tool-dumps (uid %s) was not made by the platform for volume %s: deleted it", ns, impostor.UID, volume)) {
		t.Fatalf("a pass over the impostor: %v\n%s", err, out)
	}
	if pv, err := cluster.Client.CoreV1().PersistentVolumes().Get(ctx(), volume, metav1.GetOptions{}); err != nil || pv.Spec.ClaimRef == nil || pv.Spec.ClaimRef.UID == impostor.UID {
		t.Fatalf("the volume after the pass: %v, bound ahead to %+v (the impostor is %s)", err, pv.Spec.ClaimRef, impostor.UID)
	}
	testcluster.Eventually(t, time.Minute, func() error {
		if _, err := claims.Get(ctx(), "tool-dumps", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			return fmt.Errorf("the impostor is not gone yet (%v)", err)
		}
		return nil
	})

	// The next pass makes the platform's claim again, and the volume is
	// bound to it.
	f.mustOnce()
	var mine *corev1.PersistentVolumeClaim
	testcluster.Eventually(t, time.Minute, func() (err error) { mine, err = bound(); return err })
	if mine.UID == impostor.UID || mine.UID == platform.UID || mine.Annotations["toolforge.org/read-only"] != "true" {
		t.Fatalf("the claim bound at the end: uid %s, annotations %v", mine.UID, mine.Annotations)
	}
	if pv, err := cluster.Client.CoreV1().PersistentVolumes().Get(ctx(), volume, metav1.GetOptions{}); err != nil || pv.Spec.ClaimRef.UID != mine.UID {
		t.Fatalf("the volume is bound to %+v, want the platform's claim %s (%v)", pv.Spec.ClaimRef, mine.UID, err)
	}
	// Every event of the name, up to the platform's claim bound: the
	// impostor is never bound on the way.
	timeout := time.After(time.Minute)
	for {
		select {
		case ev, open := <-events.ResultChan():
			pvc, ok := ev.Object.(*corev1.PersistentVolumeClaim)
			if !open || ev.Type == watch.Error || !ok {
				t.Fatalf("watch ended: %v", ev.Object)
			}
			if pvc.UID == impostor.UID && (pvc.Status.Phase == corev1.ClaimBound || pvc.Annotations["pv.kubernetes.io/bind-completed"] != "") {
				t.Fatalf("the impostor was bound: %s %v", pvc.Status.Phase, pvc.Annotations)
			}
			if pvc.UID == mine.UID && pvc.Status.Phase == corev1.ClaimBound {
				return
			}
		case <-timeout:
			t.Fatal("the watch never showed the platform's claim bound")
		}
	}
}
