package admission

import (
	"fmt"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"

	"github.com/toolforge-go/toolforge/internal/tenancy"
)

// Each of these is what a tool could try, with its own certificate, to get
// out of its uid or namespace; each is refused with a message naming the
// rule, the field and what is allowed.
func TestAToolCannotCreateAPodThatEscapes(t *testing.T) {
	f := setup(t)
	ctx := testContext(t)
	betaUID := f.beta.UID
	for _, tc := range []struct {
		name   string
		change func(p *corev1.Pod)
		want   []string
	}{
		{"a privileged container", func(p *corev1.Pod) {
			p.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{Privileged: ptr.To(true)}
		}, []string{"identity: spec.containers[0].securityContext.privileged", "not allowed"}},
		{"runAsUser 0", func(p *corev1.Pod) {
			p.Spec.SecurityContext = &corev1.PodSecurityContext{RunAsUser: ptr.To[int64](0)}
		}, []string{"identity: spec.securityContext.runAsUser: uid 0 (root) is not allowed", fmt.Sprintf("this tool runs as uid %d", f.alpha.UID)}},
		{"runAsUser 0 in a container", func(p *corev1.Pod) {
			p.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{RunAsUser: ptr.To[int64](0)}
		}, []string{"identity: spec.containers[0].securityContext.runAsUser: uid 0 (root)"}},
		{"another tool's uid", func(p *corev1.Pod) {
			p.Spec.SecurityContext = &corev1.PodSecurityContext{RunAsUser: ptr.To(betaUID)}
		}, []string{fmt.Sprintf("identity: spec.securityContext.runAsUser: uid %d is not allowed", betaUID)}},
		{"another tool's group", func(p *corev1.Pod) {
			p.Spec.SecurityContext = &corev1.PodSecurityContext{FSGroup: ptr.To(betaUID)}
		}, []string{fmt.Sprintf("identity: spec.securityContext.fsGroup: gid %d is not allowed", betaUID)}},
		{"allowPrivilegeEscalation true", func(p *corev1.Pod) {
			p.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{AllowPrivilegeEscalation: ptr.To(true)}
		}, []string{"identity: spec.containers[0].securityContext.allowPrivilegeEscalation: true is not allowed"}},
		{"added capabilities", func(p *corev1.Pod) {
			p.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{Capabilities: &corev1.Capabilities{Add: []corev1.Capability{"SYS_ADMIN"}}}
		}, []string{"identity: spec.containers[0].securityContext.capabilities.add: adding capabilities [SYS_ADMIN]"}},
		{"hostNetwork", func(p *corev1.Pod) { p.Spec.HostNetwork = true }, []string{"identity: spec.hostNetwork: true is not allowed"}},
		{"hostPort", func(p *corev1.Pod) {
			p.Spec.Containers[0].Ports = []corev1.ContainerPort{{ContainerPort: 8000, HostPort: 8000}}
		}, []string{"identity: spec.containers[0].ports: hostPort 8000"}},
		{"hostPID", func(p *corev1.Pod) { p.Spec.HostPID = true }, []string{"identity: spec.hostPID: true is not allowed"}},
		{"hostIPC", func(p *corev1.Pod) { p.Spec.HostIPC = true }, []string{"identity: spec.hostIPC: true is not allowed"}},
		{"a hostPath volume", func(p *corev1.Pod) {
			p.Spec.Volumes = []corev1.Volume{{Name: "etc", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/etc"}}}}
		}, []string{"volumes: spec.volumes[0].hostPath: No hostPath volumes allowed"}},
		{"a volume named home on another tool's path", func(p *corev1.Pod) {
			p.Spec.Volumes = []corev1.Volume{{Name: "home", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/data/project/beta"}}}}
			p.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "home", MountPath: "/data/project/alpha"}}
		}, []string{"volumes: spec.volumes[0].hostPath: No hostPath volumes allowed", `"/data/project/beta"`}},
		{"the shared read-only claim as a read-write volume of its own", func(p *corev1.Pod) {
			p.Spec.Volumes = []corev1.Volume{{Name: "mine", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "tool-dumps"}}}}
			p.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "mine", MountPath: "/mnt/dumps"}}
		}, []string{`volumes: spec.volumes[0].persistentVolumeClaim.readOnly: volume "mine" uses the read-only claim "tool-dumps" read-write (allowed: readOnly: true)`,
			`volumes: spec.containers[0].volumeMounts[0].readOnly: container "main" mounts volume "mine" of the read-only claim "tool-dumps" read-write`}},
		{"the shared read-only claim as a read-only volume mounted read-write", func(p *corev1.Pod) {
			p.Spec.Volumes = []corev1.Volume{{Name: "mine", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "tool-dumps", ReadOnly: true}}}}
			p.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "mine", MountPath: "/mnt/dumps"}}
		}, []string{`volumes: spec.containers[0].volumeMounts[0].readOnly: container "main" mounts volume "mine" of the read-only claim "tool-dumps" read-write`}},
		{"the shared read-only claim read-write in a pod without the platform's storage", func(p *corev1.Pod) {
			p.Labels = map[string]string{tenancy.MountStorageLabel: MountNone}
			p.Spec.Volumes = []corev1.Volume{{Name: "tool-dumps", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "tool-dumps"}}}}
			p.Spec.InitContainers = []corev1.Container{{Name: "setup", Image: allowedImage, Command: []string{"true"}, VolumeMounts: []corev1.VolumeMount{{Name: "tool-dumps", MountPath: "/mnt/dumps"}}}}
		}, []string{`volumes: spec.volumes[0].persistentVolumeClaim.readOnly: volume "tool-dumps" uses the read-only claim "tool-dumps" read-write`,
			`volumes: spec.initContainers[0].volumeMounts[0].readOnly: init container "setup" mounts volume "tool-dumps"`}},
		{"an NFS volume of another tool's share", func(p *corev1.Pod) {
			p.Spec.Volumes = []corev1.Volume{{Name: "share", VolumeSource: corev1.VolumeSource{NFS: &corev1.NFSVolumeSource{Server: "nfs.example", Path: "/srv/tools/beta"}}}}
		}, []string{"volumes: spec.volumes[0]: volume \"share\" of type nfs is not allowed"}},
		{"an image from Docker Hub", func(p *corev1.Pod) { p.Spec.Containers[0].Image = "docker.io/nginx" },
			[]string{`registry: spec.containers[0].image: image "docker.io/nginx" of container "main" is not from an allowed registry (allowed: docker-registry.tools.wmflabs.org)`}},
		{"an image from a look-alike registry", func(p *corev1.Pod) {
			p.Spec.Containers[0].Image = "docker-registry.tools.wmflabs.org.evil.com/toolforge-python311-sssd-base:latest"
		}, []string{"registry: spec.containers[0].image", "is not from an allowed registry"}},
		{"an image whose path starts with the registry", func(p *corev1.Pod) {
			p.Spec.Containers[0].Image = "evil.com/docker-registry.tools.wmflabs.org/toolforge-python311-sssd-base:latest"
		}, []string{"registry: spec.containers[0].image", "is not from an allowed registry"}},
		{"an init container from Docker Hub", func(p *corev1.Pod) {
			p.Spec.InitContainers = []corev1.Container{{Name: "setup", Image: "busybox", Command: []string{"true"}}}
		}, []string{`registry: spec.initContainers[0].image: image "busybox" of init container "setup" is not from an allowed registry`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pod := compliantPod("escape")
			tc.change(pod)
			_, err := dryRunPod(ctx, f.alphaKube, f.alpha.Namespace, pod)
			wantDenied(t, err, tc.want...)
		})
	}
}

func TestAToolCannotCreateAWorkloadWhosePodsWouldEscape(t *testing.T) {
	f := setup(t)
	ctx := testContext(t)
	ns := f.alpha.Namespace
	dry := metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}
	template := func(change func(*corev1.PodSpec)) corev1.PodTemplateSpec {
		p := compliantPod("")
		change(&p.Spec)
		return corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "x"}}, Spec: p.Spec}
	}
	selector := &metav1.LabelSelector{MatchLabels: map[string]string{"app": "x"}}
	dockerHub := func(s *corev1.PodSpec) { s.Containers[0].Image = "docker.io/nginx" }
	for _, tc := range []struct {
		name   string
		create func() error
		want   []string
	}{
		{"a Deployment from Docker Hub", func() error {
			_, err := f.alphaKube.AppsV1().Deployments(ns).Create(ctx, &appsv1.Deployment{
				ObjectMeta: metav1.ObjectMeta{Name: "web"},
				Spec:       appsv1.DeploymentSpec{Selector: selector, Template: template(dockerHub)},
			}, dry)
			return err
		}, []string{`registry: spec.template.spec.containers[0].image: image "docker.io/nginx"`}},
		{"a CronJob from Docker Hub", func() error {
			tmpl := template(dockerHub)
			tmpl.Spec.RestartPolicy = corev1.RestartPolicyNever
			_, err := f.alphaKube.BatchV1().CronJobs(ns).Create(ctx, &batchv1.CronJob{
				ObjectMeta: metav1.ObjectMeta{Name: "nightly"},
				Spec:       batchv1.CronJobSpec{Schedule: "0 3 * * *", JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: tmpl}}},
			}, dry)
			return err
		}, []string{`registry: spec.jobTemplate.spec.template.spec.containers[0].image: image "docker.io/nginx"`}},
		{"a Job running as root", func() error {
			tmpl := template(func(s *corev1.PodSpec) { s.SecurityContext = &corev1.PodSecurityContext{RunAsUser: ptr.To[int64](0)} })
			tmpl.Spec.RestartPolicy = corev1.RestartPolicyNever
			_, err := f.alphaKube.BatchV1().Jobs(ns).Create(ctx, &batchv1.Job{
				ObjectMeta: metav1.ObjectMeta{Name: "once"},
				Spec:       batchv1.JobSpec{Template: tmpl},
			}, dry)
			return err
		}, []string{"identity: spec.template.spec.securityContext.runAsUser: uid 0 (root) is not allowed"}},
		{"a StatefulSet with a hostPath volume", func() error {
			_, err := f.alphaKube.AppsV1().StatefulSets(ns).Create(ctx, &appsv1.StatefulSet{
				ObjectMeta: metav1.ObjectMeta{Name: "db"},
				Spec: appsv1.StatefulSetSpec{Selector: selector, Template: template(func(s *corev1.PodSpec) {
					s.Volumes = []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/data/project/beta"}}}}
				})},
			}, dry)
			return err
		}, []string{"volumes: spec.template.spec.volumes[0].hostPath: No hostPath volumes allowed"}},
		{"a ReplicaSet with an init container from Docker Hub", func() error {
			_, err := f.alphaKube.AppsV1().ReplicaSets(ns).Create(ctx, &appsv1.ReplicaSet{
				ObjectMeta: metav1.ObjectMeta{Name: "rs"},
				Spec: appsv1.ReplicaSetSpec{Selector: selector, Template: template(func(s *corev1.PodSpec) {
					s.InitContainers = []corev1.Container{{Name: "setup", Image: "alpine"}}
				})},
			}, dry)
			return err
		}, []string{`registry: spec.template.spec.initContainers[0].image: image "alpine"`}},
		// Tools may not create DaemonSets at all; an admin acting in a tool
		// namespace is still held to the rules.
		{"a DaemonSet in a tool namespace, even from an admin", func() error {
			_, err := cluster.Client.AppsV1().DaemonSets(ns).Create(ctx, &appsv1.DaemonSet{
				ObjectMeta: metav1.ObjectMeta{Name: "ds"},
				Spec:       appsv1.DaemonSetSpec{Selector: selector, Template: template(func(s *corev1.PodSpec) { s.HostNetwork = true })},
			}, dry)
			return err
		}, []string{"identity: spec.template.spec.hostNetwork: true is not allowed"}},
	} {
		t.Run(tc.name, func(t *testing.T) { wantDenied(t, tc.create(), tc.want...) })
	}
}

func TestARunningPodCannotGetAnEphemeralContainerFromAnotherRegistry(t *testing.T) {
	f := setup(t)
	ctx := testContext(t)
	ns := f.alpha.Namespace
	pod, err := f.alphaKube.CoreV1().Pods(ns).Create(ctx, compliantPod("debug-me"), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = f.alphaKube.CoreV1().Pods(ns).Delete(ctx, pod.Name, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)})
	})

	withDebug := func(image string) *corev1.Pod {
		p, err := cluster.Client.CoreV1().Pods(ns).Get(ctx, pod.Name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		p.Spec.EphemeralContainers = append(p.Spec.EphemeralContainers, corev1.EphemeralContainer{EphemeralContainerCommon: corev1.EphemeralContainerCommon{
			Name: "debug", Image: image, Command: []string{"sh"}, Stdin: true, TTY: true,
		}})
		return p
	}
	// The tool may debug its own pods (kubectl debug), and its debug
	// container is held to the registry rule… (kwok updates the pod's
	// status meanwhile: retry on conflicts.)
	err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		_, err := f.alphaKube.CoreV1().Pods(ns).UpdateEphemeralContainers(ctx, pod.Name, withDebug("busybox"), metav1.UpdateOptions{})
		return err
	})
	wantDenied(t, err, `registry: spec.ephemeralContainers[0].image: image "busybox" of ephemeral container "debug" is not from an allowed registry`)
	// …and an allowed debug container gets the tool's restrictions and storage.
	var got *corev1.Pod
	err = retry.RetryOnConflict(retry.DefaultRetry, func() (err error) {
		got, err = f.alphaKube.CoreV1().Pods(ns).UpdateEphemeralContainers(ctx, pod.Name, withDebug(allowedImage), metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	e := got.Spec.EphemeralContainers[0]
	if e.SecurityContext == nil || e.SecurityContext.AllowPrivilegeEscalation == nil || *e.SecurityContext.AllowPrivilegeEscalation ||
		e.SecurityContext.Capabilities == nil || len(e.SecurityContext.Capabilities.Drop) != 1 {
		t.Errorf("ephemeral container security context = %+v", e.SecurityContext)
	}
	if len(e.VolumeMounts) == 0 || e.VolumeMounts[0].MountPath != "/data/project/alpha" {
		t.Errorf("ephemeral container mounts = %+v, want the tool's home", e.VolumeMounts)
	}
}

func TestARunningPodsImageCannotBeChangedToAnotherRegistry(t *testing.T) {
	f := setup(t)
	ctx := testContext(t)
	ns := f.alpha.Namespace
	if _, err := f.alphaKube.CoreV1().Pods(ns).Create(ctx, compliantPod("swap-image"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = f.alphaKube.CoreV1().Pods(ns).Delete(ctx, "swap-image", metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)})
	})
	_, err := kubectlAs(ctx, f.alpha, "set", "image", "pod/swap-image", "main=docker.io/nginx")
	wantDenied(t, err, `registry: spec.containers[0].image: image "docker.io/nginx" of container "main" is not from an allowed registry`)
	// Other changes of the pod still go through.
	if _, err := kubectlAs(ctx, f.alpha, "label", "pod/swap-image", "touched=yes"); err != nil {
		t.Fatal(err)
	}
}
