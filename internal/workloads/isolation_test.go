package workloads_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestAToolCannotReadOrWriteAnotherToolsHomeFromItsJobs(t *testing.T) {
	p := setup(t)
	t.Parallel()
	victim, intruder := p.Tools["victim"], p.Tools["intruder"]
	// A file anyone could read, were it reachable.
	p.ok(t, "victim", "jobs", "run", "secret", "--image", "python3.11", "--wait", "300", "--command", "echo victim-secret > secret.txt; chmod 644 secret.txt; chmod 755 .")
	// The intruder tries from inside a job: the path, the claim's usual
	// place, and a search of the whole file system.
	p.ok(t, "intruder", "jobs", "run", "snoop", "--image", "python3.11", "--no-filelog", "--wait", "300", "--command",
		`exec 2>&1; cat /data/project/victim/secret.txt; echo pwned > /data/project/victim/pwned.txt; ls /data/project/; grep -rs victim-secret / --exclude-dir=proc --exclude-dir=sys -l | head -1; echo done`)
	got := p.ok(t, "intruder", "jobs", "logs", "snoop").Stdout
	want := "cat: /data/project/victim/secret.txt: No such file or directory\n" +
		"/bin/sh: 1: cannot create /data/project/victim/pwned.txt: Directory nonexistent\n" +
		"intruder\n" +
		"done\n"
	if got != want {
		t.Fatalf("the intruder's job printed:\n%s\nwant:\n%s", got, want)
	}
	if _, err := os.Stat(filepath.Join(victim.Home, "pwned.txt")); !os.IsNotExist(err) {
		t.Fatalf("the intruder wrote in the victim's home (%v)", err)
	}
	// Nor can it mount the victim's home: not as a host path, and not by
	// claiming the victim's volume.
	kube, err := intruder.Client()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "mount-victim", Namespace: intruder.Namespace},
		Spec: corev1.PodSpec{
			Containers: []corev1.Container{{Name: "c", Image: "docker-registry.tools.wmflabs.org/toolforge-python311-sssd-web:latest", Command: []string{"cat", "/v/secret.txt"}, VolumeMounts: []corev1.VolumeMount{{Name: "v", MountPath: "/v"}}}},
			Volumes:    []corev1.Volume{{Name: "v", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: victim.Home}}}},
		},
	}
	if _, err := kube.CoreV1().Pods(intruder.Namespace).Create(ctx, pod, metav1.CreateOptions{}); err == nil || !strings.Contains(err.Error(), "hostPath") {
		t.Fatalf("a pod mounting the victim's home as a host path: %v", err)
	}
	empty := ""
	pvc := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: "steal", Namespace: intruder.Namespace},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteMany}, VolumeName: "tool-victim-home", StorageClassName: &empty,
			Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resourceMust("1Gi")}},
		},
	}
	if _, err := kube.CoreV1().PersistentVolumeClaims(intruder.Namespace).Create(ctx, pvc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// The volume stays bound to the victim's claim: the binder refuses
	// the intruder's (it says so in an event on the claim).
	until(t, 2*time.Minute, func() error {
		evs, err := cluster.Client.CoreV1().Events(intruder.Namespace).List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=steal"})
		if err != nil {
			return err
		}
		for _, ev := range evs.Items {
			if strings.Contains(ev.Message, "already bound to a different claim") {
				return nil
			}
		}
		return fmt.Errorf("no refusal event yet (%d events)", len(evs.Items))
	})
	pv, err := cluster.Client.CoreV1().PersistentVolumes().Get(ctx, "tool-victim-home", metav1.GetOptions{})
	if err != nil || pv.Spec.ClaimRef == nil || pv.Spec.ClaimRef.Namespace != victim.Namespace {
		t.Fatalf("the victim's volume: %v %+v", err, pv.Spec.ClaimRef)
	}
}
