package accounts_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
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

	out := f.mustOnce()
	if !strings.Contains(out, fmt.Sprintf("PVC %s/tool-dumps (uid %s) is not the claim its volume was made for (%s): deleted it, unbound, and made the platform's", ns, impostor.UID, volume)) {
		t.Fatalf("the pass does not report the impostor:\n%s", out)
	}
	if _, err := claims.Get(ctx(), "tool-dumps", metav1.GetOptions{}); err != nil {
		t.Fatalf("no platform claim after the pass: %v", err)
	}
	var mine *corev1.PersistentVolumeClaim
	testcluster.Eventually(t, time.Minute, func() (err error) { mine, err = bound(); return err })
	if mine.UID == impostor.UID || mine.UID == platform.UID || mine.Annotations["toolforge.org/read-only"] != "true" {
		t.Fatalf("the claim bound at the end: uid %s, annotations %v", mine.UID, mine.Annotations)
	}
	if pv, err := cluster.Client.CoreV1().PersistentVolumes().Get(ctx(), volume, metav1.GetOptions{}); err != nil || pv.Spec.ClaimRef.UID != mine.UID {
		t.Fatalf("the volume is bound to %+v, want the platform's claim %s (%v)", pv.Spec.ClaimRef, mine.UID, err)
	}
	// Every event of the name, up to the platform's claim bound: the
	// impostor is never bound on the way (nor the volume bound ahead to it).
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
