package suspend

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/toolforge-go/toolforge/internal/accounts/account"
	"github.com/toolforge-go/toolforge/internal/homefs"
)

const ns = "tool-alpha"

func objectMeta(name string) metav1.ObjectMeta { return metav1.ObjectMeta{Name: name, Namespace: ns} }

func TestStoppingAndRestoringGivesBackExactlyWhatWasRunning(t *testing.T) {
	c := fake.NewClientBuilder().WithObjects(
		&appsv1.Deployment{ObjectMeta: objectMeta("web"), Spec: appsv1.DeploymentSpec{Replicas: ptr.To[int32](2)}},
		&appsv1.StatefulSet{ObjectMeta: objectMeta("idle"), Spec: appsv1.StatefulSetSpec{Replicas: ptr.To[int32](0)}},
		&batchv1.CronJob{ObjectMeta: objectMeta("nightly")},
		&batchv1.CronJob{ObjectMeta: objectMeta("paused"), Spec: batchv1.CronJobSpec{Suspend: ptr.To(true)}},
		&batchv1.Job{ObjectMeta: objectMeta("running")},
		&batchv1.Job{ObjectMeta: objectMeta("done"), Status: batchv1.JobStatus{CompletionTime: ptr.To(metav1.Now())}},
		&corev1.Pod{ObjectMeta: objectMeta("bare")},
		&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "owned", Namespace: ns, OwnerReferences: []metav1.OwnerReference{{APIVersion: "v1", Kind: "ReplicaSet", Name: "web-1", UID: "u"}}}},
	).Build()
	w := account.Writer{Client: c, APIReader: c}
	ctx := context.Background()
	get := func(obj client.Object, name string) client.Object {
		t.Helper()
		if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, obj); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return obj
	}
	if err := Stop(ctx, w, ns); err != nil {
		t.Fatal(err)
	}
	if d := get(&appsv1.Deployment{}, "web").(*appsv1.Deployment); *d.Spec.Replicas != 0 {
		t.Errorf("deployment replicas %d", *d.Spec.Replicas)
	}
	if cj := get(&batchv1.CronJob{}, "nightly").(*batchv1.CronJob); !ptr.Deref(cj.Spec.Suspend, false) {
		t.Error("cron job not suspended")
	}
	if j := get(&batchv1.Job{}, "running").(*batchv1.Job); !ptr.Deref(j.Spec.Suspend, false) {
		t.Error("running job not suspended")
	}
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "bare"}, &corev1.Pod{}); !apierrors.IsNotFound(err) {
		t.Errorf("bare pod: %v", err)
	}
	get(&corev1.Pod{}, "owned")

	if err := Restore(ctx, w, ns); err != nil {
		t.Fatal(err)
	}
	if d := get(&appsv1.Deployment{}, "web").(*appsv1.Deployment); *d.Spec.Replicas != 2 || len(d.Annotations) != 0 {
		t.Errorf("deployment after restore: replicas %d, annotations %v", *d.Spec.Replicas, d.Annotations)
	}
	if s := get(&appsv1.StatefulSet{}, "idle").(*appsv1.StatefulSet); *s.Spec.Replicas != 0 {
		t.Errorf("a statefulset at zero before came back with %d", *s.Spec.Replicas)
	}
	if cj := get(&batchv1.CronJob{}, "nightly").(*batchv1.CronJob); ptr.Deref(cj.Spec.Suspend, true) {
		t.Error("cron job still suspended")
	}
	if cj := get(&batchv1.CronJob{}, "paused").(*batchv1.CronJob); !ptr.Deref(cj.Spec.Suspend, false) {
		t.Error("a cron job the tool had paused itself was resumed")
	}
}

func TestTheNoteIsWrittenOnce(t *testing.T) {
	dir := t.TempDir()
	home, err := homefs.OpenHome(dir, homefs.Owner{UID: os.Getuid(), GID: os.Getgid()})
	if err != nil {
		t.Fatal(err)
	}
	defer home.Close()
	first := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	if err := WriteNote(home, first); err != nil {
		t.Fatal(err)
	}
	if err := WriteNote(home, first.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(dir + "/k8s.disabled")
	if err != nil || !strings.Contains(string(data), "disabled on 2026-01-02T03:04:05Z") {
		t.Fatalf("note %q, %v", data, err)
	}
}
