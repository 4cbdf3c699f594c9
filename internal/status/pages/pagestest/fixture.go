package pagestest

import (
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/toolforge-go/toolforge/internal/jobs"
	jobserver "github.com/toolforge-go/toolforge/internal/jobs/server"
	"github.com/toolforge-go/toolforge/internal/tenancy"
	"github.com/toolforge-go/toolforge/internal/webservice"
)

// Epoch is the creation time of the fixture's objects.
var Epoch = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

// Payload is markup a tool controls, put in its job's command and its web
// service type: the pages must show it as text.
const Payload = `<script>document.title="pwned"</script><img src=x onerror="document.title='pwned'">`

// Demo is a cluster with one ready worker, a platform namespace with a
// crash-looping pod, tool "demo" (web service, a scheduled, a continuous
// and a one-off job, pods, quota) and idle tool "quiet".
func Demo() *Source {
	s := &Source{KubeVersion: "v1.36.3"}
	s.NodeList = []*corev1.Node{{
		ObjectMeta: metav1.ObjectMeta{Name: "node-1", Labels: map[string]string{"kubernetes.io/hostname": "node-1"}},
		Spec:       corev1.NodeSpec{Taints: []corev1.Taint{{Key: "dedicated", Value: "tools", Effect: corev1.TaintEffectNoSchedule}}},
		Status: corev1.NodeStatus{
			Allocatable: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4"), corev1.ResourceMemory: resource.MustParse("8Gi")},
			Conditions:  []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady"}},
			NodeInfo:    corev1.NodeSystemInfo{KubeletVersion: "v1.36.3"},
		},
	}}
	s.NamespaceList = []*corev1.Namespace{
		{ObjectMeta: metav1.ObjectMeta{Name: "kube-system"}},
		{ObjectMeta: metav1.ObjectMeta{Name: "tool-demo", Labels: tenancy.NamespaceLabels("demo", 50001)}},
		{ObjectMeta: metav1.ObjectMeta{Name: "tool-quiet", Labels: tenancy.NamespaceLabels("quiet", 50002)}},
		// Named like a tool's, but not labelled as one.
		{ObjectMeta: metav1.ObjectMeta{Name: "tool-fake"}},
	}
	spec := webservice.Spec{Tool: "demo", Namespace: "tool-demo", Domain: "toolforge.org", Type: Payload, Image: "docker-registry.tools.wmflabs.org/toolforge-python311-sssd-web:latest", Replicas: 1}
	web := spec.Deployment()
	web.Status.ReadyReplicas = 1
	s.DeploymentList = append(s.DeploymentList, web)
	s.IngressList = append(s.IngressList, spec.Ingress())
	target := jobserver.Target{Tool: "demo", UID: 50001, Image: "docker-registry.tools.wmflabs.org/toolforge-bookworm-sssd:latest"}
	for _, j := range []*jobs.Job{
		{Name: "nightly", Command: "./nightly.sh", Image: "bookworm", Schedule: "17 3 * * *"},
		{Name: "bot", Command: Payload, Image: "bookworm", Continuous: true},
		{Name: "once", Command: "echo once", Image: "bookworm"},
	} {
		j.Normalize()
		objs, err := jobserver.Build(j, target)
		if err != nil {
			panic(err)
		}
		switch o := objs.Top.(type) {
		case *batchv1.CronJob:
			at := metav1.NewTime(Epoch.Add(time.Hour))
			o.Status.LastScheduleTime = &at
			s.CronJobList = append(s.CronJobList, o)
		case *appsv1.Deployment:
			s.DeploymentList = append(s.DeploymentList, o)
		case *batchv1.Job:
			o.Status.Succeeded = 1
			o.Status.Conditions = []batchv1.JobCondition{{Type: batchv1.JobComplete, Status: corev1.ConditionTrue}}
			s.JobList = append(s.JobList, o)
		}
	}
	s.PodList = []*corev1.Pod{
		pod("tool-demo", "demo-abc", webservice.Labels("demo"), spec.Image, corev1.PodRunning, 0, nil),
		pod("tool-demo", "bot-xyz", jobserver.Labels("demo", "bot", jobs.Continuous), target.Image, corev1.PodRunning, 3,
			&corev1.ContainerStateTerminated{Reason: "OOMKilled", ExitCode: 137}),
		pod("tool-demo", "once-1", jobserver.Labels("demo", "once", jobs.OneOff), target.Image, corev1.PodSucceeded, 0, nil),
		crashLooping(pod("kube-system", "coredns-1", nil, "registry.k8s.io/coredns:v1", corev1.PodRunning, 9, nil)),
	}
	s.QuotaList = []*corev1.ResourceQuota{{
		ObjectMeta: metav1.ObjectMeta{Name: "tool-demo", Namespace: "tool-demo"},
		Status: corev1.ResourceQuotaStatus{
			Hard: corev1.ResourceList{corev1.ResourcePods: resource.MustParse("4"), corev1.ResourceLimitsMemory: resource.MustParse("8Gi")},
			Used: corev1.ResourceList{corev1.ResourcePods: resource.MustParse("3"), corev1.ResourceLimitsMemory: resource.MustParse("2Gi")},
		},
	}}
	return s
}

func pod(ns, name string, labels map[string]string, image string, phase corev1.PodPhase, restarts int32, last *corev1.ContainerStateTerminated) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: labels, CreationTimestamp: metav1.NewTime(Epoch)},
		Spec: corev1.PodSpec{NodeName: "node-1", Containers: []corev1.Container{{
			Name: "main", Image: image,
			Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("250m"), corev1.ResourceMemory: resource.MustParse("256Mi")}},
		}}},
		Status: corev1.PodStatus{Phase: phase, ContainerStatuses: []corev1.ContainerStatus{{
			Name: "main", Ready: phase == corev1.PodRunning, RestartCount: restarts,
			State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.NewTime(Epoch)}},
		}}},
	}
	if last != nil {
		p.Status.ContainerStatuses[0].LastTerminationState.Terminated = last
	}
	return p
}

func crashLooping(p *corev1.Pod) *corev1.Pod {
	p.Status.ContainerStatuses[0].Ready = false
	p.Status.ContainerStatuses[0].State = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}}
	return p
}
