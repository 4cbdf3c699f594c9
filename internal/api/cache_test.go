package api_test

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"

	"github.com/toolforge-go/toolforge/internal/api"
	"github.com/toolforge-go/toolforge/internal/daemon"
	"github.com/toolforge-go/toolforge/internal/tenancy"
	"github.com/toolforge-go/toolforge/internal/testcluster"
)

// framework are the labels a job's pod carries, which anyone may set.
func framework(tool, job string) map[string]string {
	return map[string]string{
		tenancy.LabelToolforge: tenancy.ToolforgeTool, tenancy.LabelManagedBy: tenancy.ManagedByJobs,
		tenancy.LabelCreatedBy: tool, tenancy.LabelComponent: tenancy.ComponentJobs, tenancy.LabelAppName: job,
	}
}

// jobPod is a pod as a tool's job has it once admitted: its environment,
// its home and storage, its limits; and, if given, an annotation of
// hostile bytes.
func jobPod(ns, name string, hostile int) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: framework("mem", name)},
		Spec: corev1.PodSpec{
			NodeName:      "nowhere", // stays pending: no node runs it
			RestartPolicy: corev1.RestartPolicyNever,
			SecurityContext: &corev1.PodSecurityContext{
				RunAsUser: ptr.To[int64](50001), RunAsGroup: ptr.To[int64](50001), RunAsNonRoot: ptr.To(true),
				SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
			},
			Containers: []corev1.Container{{
				Name: name, Image: "docker-registry.tools.wmflabs.org/toolforge-python311-sssd-base:latest",
				Command:    []string{"/bin/sh", "-c", "exec 1>>/data/project/mem/" + name + ".out 2>>/data/project/mem/" + name + ".err; ./run.sh --verbose"},
				WorkingDir: "/data/project/mem",
				Resources: corev1.ResourceRequirements{
					Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m"), corev1.ResourceMemory: resource.MustParse("512Mi")},
					Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("150m"), corev1.ResourceMemory: resource.MustParse("256Mi")},
				},
				VolumeMounts: []corev1.VolumeMount{{Name: "home", MountPath: "/data/project/mem"}, {Name: "dumps", MountPath: "/public/dumps", ReadOnly: true}},
				SecurityContext: &corev1.SecurityContext{
					AllowPrivilegeEscalation: ptr.To(false), Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
				},
			}},
			Volumes: []corev1.Volume{
				{Name: "home", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "tool-home"}}},
				{Name: "dumps", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "tool-dumps", ReadOnly: true}}},
			},
		},
	}
	for i := range 10 {
		p.Spec.Containers[0].Env = append(p.Spec.Containers[0].Env, corev1.EnvVar{Name: fmt.Sprintf("TOOL_SETTING_%d", i), ValueFrom: &corev1.EnvVarSource{
			SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "toolforge-envvars"}, Key: fmt.Sprintf("TOOL_SETTING_%d", i)},
		}})
	}
	if hostile > 0 {
		p.Annotations = map[string]string{"filler": strings.Repeat("x", hostile)}
	}
	return p
}

func makeNamespace(t *testing.T, name string, tool bool) {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if tool {
		ns.Labels = map[string]string{tenancy.LabelTenancy: tenancy.TenancyTool}
	}
	if _, err := cluster.Client.CoreV1().Namespaces().Create(context.Background(), ns, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
}

func createPods(t *testing.T, ns, prefix string, n, hostile int) {
	t.Helper()
	for i := range n {
		if _, err := cluster.Client.CoreV1().Pods(ns).Create(context.Background(), jobPod(ns, fmt.Sprintf("%s-%d", prefix, i), hostile), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
}

// startCache runs the API server's cache (or, with old, the one it had:
// every object with the framework's labels anywhere, whole but for its
// managed fields) until the test ends.
func startCache(t *testing.T, old bool) cache.Cache {
	t.Helper()
	c, stop := runCache(t, old)
	t.Cleanup(stop)
	return c
}

// runCache is startCache returning how to stop it (and wait until it has).
func runCache(t *testing.T, old bool) (cache.Cache, func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cfg := rest.CopyConfig(cluster.Config)
	scheme := daemon.Scheme()
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	mapper, err := apiutil.NewDynamicRESTMapper(cfg, hc)
	if err != nil {
		t.Fatal(err)
	}
	var c cache.Cache
	if old {
		owned := labels.SelectorFromSet(labels.Set{tenancy.LabelManagedBy: tenancy.ManagedByJobs})
		by := map[client.Object]cache.ByObject{}
		for _, obj := range api.CachedKinds() {
			switch obj.(type) {
			case *corev1.Namespace:
				by[obj] = cache.ByObject{Label: labels.SelectorFromSet(labels.Set{tenancy.LabelTenancy: tenancy.TenancyTool})}
			case *corev1.LimitRange, *corev1.ResourceQuota:
				by[obj] = cache.ByObject{}
			default:
				by[obj] = cache.ByObject{Label: owned}
			}
		}
		c, err = cache.New(cfg, cache.Options{Scheme: scheme, Mapper: mapper, ByObject: by,
			DefaultTransform: cache.TransformStripManagedFields(), DefaultUnsafeDisableDeepCopy: ptr.To(true)})
		if err == nil {
			for obj := range by {
				if _, err = c.GetInformer(ctx, obj, cache.BlockUntilSynced(false)); err != nil {
					break
				}
			}
		}
	} else {
		c, err = api.NewCache(ctx, cfg, scheme, mapper)
	}
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = c.Start(ctx); close(done) }()
	stop := func() { cancel(); <-done }
	if !c.WaitForCacheSync(ctx) {
		stop()
		t.Fatal("the cache did not sync")
	}
	return c, stop
}

func cachedPods(t *testing.T, c cache.Cache, ns string) map[string]*corev1.Pod {
	t.Helper()
	var list corev1.PodList
	if err := c.List(context.Background(), &list, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	out := map[string]*corev1.Pod{}
	for i := range list.Items {
		out[list.Items[i].Name] = &list.Items[i]
	}
	return out
}

func TestTheCacheKeepsToolNamespacesOnlyAndOfAPodWhatIsRead(t *testing.T) {
	makeNamespace(t, "tool-cached", true)
	makeNamespace(t, "not-a-tool", false)
	createPods(t, "not-a-tool", "outside", 1, 0)
	createPods(t, "tool-cached", "inside", 1, 1000)
	c := startCache(t, false)
	if p := cachedPods(t, c, "not-a-tool"); len(p) != 0 {
		t.Fatalf("listed: %d pods with the framework's labels outside tool namespaces are cached", len(p))
	}
	p := cachedPods(t, c, "tool-cached")["inside-0"]
	if p == nil {
		t.Fatal("the pod of a tool namespace is not cached")
	}
	if len(p.Annotations) != 0 || len(p.Spec.Volumes) != 0 || p.Labels[tenancy.LabelAppName] != "inside-0" {
		t.Fatalf("the cached pod keeps what is never read, or lost what is: %+v", p)
	}
	// Of the containers, only the limits that `jobs show` measures use against.
	if len(p.Spec.Containers) != 1 || len(p.Spec.Containers[0].Env) != 0 || p.Spec.Containers[0].Image != "" ||
		p.Spec.Containers[0].Resources.Limits.Cpu().String() != "500m" {
		t.Fatalf("the cached pod's containers: %+v", p.Spec.Containers)
	}
	// Watched: one made outside, then one inside; once the second is in,
	// the first has been seen and dropped (one watch, in order).
	createPods(t, "not-a-tool", "outside-later", 1, 0)
	createPods(t, "tool-cached", "inside-later", 1, 0)
	testcluster.Eventually(t, 30*time.Second, func() error {
		if cachedPods(t, c, "tool-cached")["inside-later-0"] == nil {
			return fmt.Errorf("the later pod of the tool namespace is not cached yet")
		}
		return nil
	})
	if p := cachedPods(t, c, "not-a-tool"); len(p) != 0 {
		t.Fatalf("watched: %d pods with the framework's labels outside tool namespaces are cached", len(p))
	}
}

// heap is the live heap after a full collection.
func heap() uint64 {
	// Twice: what sync.Pools held goes at the second.
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// size is the heap a cache (as it is, or as it was) holds once synced.
func size(t *testing.T, old bool) int64 {
	t.Helper()
	before := heap()
	c, stop := runCache(t, old)
	after := heap()
	runtime.KeepAlive(c)
	stop()
	return int64(after) - int64(before)
}

func TestACachedPodCostsAFractionOfWhatItDidAndAToolsAnnotationsNothing(t *testing.T) {
	const plain, hostile, hostileSize = 300, 100, 100 << 10
	makeNamespace(t, "tool-mem-plain", true)
	makeNamespace(t, "tool-mem-hostile", true)
	// Each figure is what a cache holds more once the pods exist.
	old0, new0 := size(t, true), size(t, false)
	createPods(t, "tool-mem-plain", "plain", plain, 0)
	old1, new1 := size(t, true), size(t, false)
	createPods(t, "tool-mem-hostile", "hostile", hostile, hostileSize)
	old2, new2 := size(t, true), size(t, false)
	oldPlain, newPlain := float64(old1-old0)/plain, float64(new1-new0)/plain
	oldHostile, newHostile := float64(old2-old1)/hostile, float64(new2-new1)/hostile
	t.Logf("heap per cached pod: a job's pod %.0f bytes before, %.0f now; one with %d KiB of annotations %.0f bytes before, %.0f now",
		oldPlain, newPlain, hostileSize>>10, oldHostile, newHostile)
	if newPlain > oldPlain/2 {
		t.Errorf("a job's pod costs %.0f bytes, more than half the %.0f it did", newPlain, oldPlain)
	}
	// Not quite a plain pod's figure: buffers the decoders grew to read
	// such pods stay, whatever the pods' number.
	if newHostile > hostileSize/10 {
		t.Errorf("a pod with %d KiB of annotations costs %.0f bytes: its annotations are kept", hostileSize>>10, newHostile)
	}
}

// A components deployment waits for a web service's rollout from the
// cache: the cached Deployment keeps its generations, replica counts and
// a stalled rollout's condition.
func TestACachedDeploymentKeepsItsRolloutState(t *testing.T) {
	in := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Generation: 3},
		Status: appsv1.DeploymentStatus{ObservedGeneration: 2, Replicas: 3, UpdatedReplicas: 1, AvailableReplicas: 2, ReadyReplicas: 2,
			Conditions: []appsv1.DeploymentCondition{
				{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionFalse, Reason: "ProgressDeadlineExceeded", Message: "timed out"},
				{Type: appsv1.DeploymentAvailable, Status: corev1.ConditionTrue, Message: "dropped"},
			}},
	}
	out, err := api.Strip(in)
	if err != nil {
		t.Fatal(err)
	}
	d := out.(*appsv1.Deployment)
	st := d.Status
	if d.Generation != 3 || st.ObservedGeneration != 2 || st.Replicas != 3 || st.UpdatedReplicas != 1 || st.AvailableReplicas != 2 {
		t.Fatalf("cached %+v generation %d", st, d.Generation)
	}
	if len(st.Conditions) != 1 || st.Conditions[0].Reason != "ProgressDeadlineExceeded" {
		t.Fatalf("cached conditions %+v", st.Conditions)
	}
}
