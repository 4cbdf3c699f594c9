package admission

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"

	"github.com/toolforge-go/toolforge/internal/tenancy"
)

const (
	testUID      = 50001
	testRegistry = "docker-registry.tools.wmflabs.org"
	testImage    = testRegistry + "/toolforge-python311-sssd-base:latest"
)

var testClaims = []platformClaim{
	{Claim: "tool-home", MountPath: "/data/project/alpha", Home: true},
	{Claim: "tool-dumps", MountPath: "/public/dumps", ReadOnly: true},
}

func testSettings() *Effective {
	return (&Settings{Exceptions: map[string]Exception{"alpha": {Registries: []string{"quay.io"}}}}).effective([]string{testRegistry})
}

// newTarget reviews pod as a new pod of tool alpha, uid 50001.
func newPodTarget(pod *corev1.Pod) *podTarget {
	return &podTarget{
		tool:     toolInfo{Name: "alpha", UID: testUID},
		settings: testSettings(),
		labels:   pod.Labels,
		spec:     &pod.Spec,
		path:     field.NewPath("spec"),
		podLevel: true,
		claims:   testClaims,
	}
}

func basicPod() *corev1.Pod {
	return &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "main", Image: testImage}}}}
}

func TestReviewRefusesWhatEscapesTheTool(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(p *corev1.Pod)
		want   string
	}{
		{"a privileged container is refused", func(p *corev1.Pod) {
			p.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{Privileged: ptr.To(true)}
		}, `identity: spec.containers[0].securityContext.privileged: privileged container "main" is not allowed`},
		{"root is refused", func(p *corev1.Pod) {
			p.Spec.SecurityContext = &corev1.PodSecurityContext{RunAsUser: ptr.To[int64](0)}
		}, "identity: spec.securityContext.runAsUser: uid 0 (root) is not allowed: this tool runs as uid 50001"},
		{"another tool's uid in a container is refused", func(p *corev1.Pod) {
			p.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{RunAsUser: ptr.To[int64](50002)}
		}, "identity: spec.containers[0].securityContext.runAsUser: uid 50002 is not allowed: this tool runs as uid 50001; remove the field or set it to 50001"},
		{"another group is refused", func(p *corev1.Pod) {
			p.Spec.SecurityContext = &corev1.PodSecurityContext{FSGroup: ptr.To[int64](50002)}
		}, "identity: spec.securityContext.fsGroup: gid 50002 is not allowed"},
		{"a supplemental root group is refused", func(p *corev1.Pod) {
			p.Spec.SecurityContext = &corev1.PodSecurityContext{SupplementalGroups: []int64{testUID, 0}}
		}, "identity: spec.securityContext.supplementalGroups[1]: gid 0 (root) is not allowed"},
		{"privilege escalation is refused", func(p *corev1.Pod) {
			p.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{AllowPrivilegeEscalation: ptr.To(true)}
		}, "identity: spec.containers[0].securityContext.allowPrivilegeEscalation: true is not allowed"},
		{"added capabilities are refused", func(p *corev1.Pod) {
			p.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{Capabilities: &corev1.Capabilities{Add: []corev1.Capability{"NET_ADMIN"}}}
		}, "identity: spec.containers[0].securityContext.capabilities.add: adding capabilities [NET_ADMIN]"},
		{"runAsNonRoot false is refused", func(p *corev1.Pod) {
			p.Spec.SecurityContext = &corev1.PodSecurityContext{RunAsNonRoot: ptr.To(false)}
		}, "identity: spec.securityContext.runAsNonRoot: false is not allowed"},
		{"the host network is refused", func(p *corev1.Pod) { p.Spec.HostNetwork = true }, "identity: spec.hostNetwork: true is not allowed"},
		{"the host PID namespace is refused", func(p *corev1.Pod) { p.Spec.HostPID = true }, "identity: spec.hostPID: true is not allowed"},
		{"the host IPC namespace is refused", func(p *corev1.Pod) { p.Spec.HostIPC = true }, "identity: spec.hostIPC: true is not allowed"},
		{"a host port is refused", func(p *corev1.Pod) {
			p.Spec.Containers[0].Ports = []corev1.ContainerPort{{ContainerPort: 8000, HostPort: 80}}
		}, `identity: spec.containers[0].ports: hostPort 80 of container "main" is not allowed`},
		{"an unconfined seccomp profile is refused", func(p *corev1.Pod) {
			p.Spec.SecurityContext = &corev1.PodSecurityContext{SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeUnconfined}}
		}, "identity: spec.securityContext.seccompProfile.type: Unconfined is not allowed"},
		{"a hostPath volume is refused", func(p *corev1.Pod) {
			p.Spec.Volumes = []corev1.Volume{{Name: "root", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/"}}}}
		}, `volumes: spec.volumes[0].hostPath: No hostPath volumes allowed (volume "root", path "/")`},
		{"a hostPath volume named home pointing at another tool is refused", func(p *corev1.Pod) {
			p.Spec.Volumes = []corev1.Volume{{Name: "home", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/data/project/beta"}}}}
		}, `volumes: spec.volumes[0].hostPath: No hostPath volumes allowed (volume "home", path "/data/project/beta")`},
		{"an NFS volume is refused", func(p *corev1.Pod) {
			p.Spec.Volumes = []corev1.Volume{{Name: "share", VolumeSource: corev1.VolumeSource{NFS: &corev1.NFSVolumeSource{Server: "nfs", Path: "/srv/tools/beta"}}}}
		}, `volumes: spec.volumes[0]: volume "share" of type nfs is not allowed (allowed: configMap, csi, downwardAPI, emptyDir, ephemeral, image, persistentVolumeClaim, projected, secret)`},
		{"a volume shadowing the tool's storage is refused", func(p *corev1.Pod) {
			p.Spec.Volumes = []corev1.Volume{{Name: "tool-home", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
		}, `volumes: spec.volumes[0].name: volume name "tool-home" is taken by the tool's storage`},
		{"an unknown mount-storage value is refused", func(p *corev1.Pod) {
			p.Labels = map[string]string{tenancy.MountStorageLabel: "some"}
		}, `volumes: label toolforge.org/mount-storage="some" is not allowed (allowed: all, none)`},
		{"an image from Docker Hub is refused", func(p *corev1.Pod) { p.Spec.Containers[0].Image = "docker.io/nginx" },
			`registry: spec.containers[0].image: image "docker.io/nginx" of container "main" is not from an allowed registry (allowed: docker-registry.tools.wmflabs.org, quay.io)`},
		{"an image of an init container is checked", func(p *corev1.Pod) {
			p.Spec.InitContainers = []corev1.Container{{Name: "init", Image: "nginx"}}
		}, `registry: spec.initContainers[0].image: image "nginx" of init container "init" is not from an allowed registry`},
		{"an image of an ephemeral container is checked", func(p *corev1.Pod) {
			p.Spec.EphemeralContainers = []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: "debug", Image: "busybox"}}}
		}, `registry: spec.ephemeralContainers[0].image: image "busybox" of ephemeral container "debug" is not from an allowed registry`},
		{"another ServiceAccount of the namespace is refused", func(p *corev1.Pod) { p.Spec.ServiceAccountName = "deployer" },
			`serviceaccount: spec.serviceAccountName: ServiceAccount "deployer" is not allowed (allowed: default, alpha-obs when an admin granted observer access)`},
		{"another tool's observer ServiceAccount is refused", func(p *corev1.Pod) { p.Spec.ServiceAccountName = "beta-obs" },
			`serviceaccount: spec.serviceAccountName: ServiceAccount "beta-obs" is not allowed`},
		{"the deprecated serviceAccount field is checked too", func(p *corev1.Pod) { p.Spec.DeprecatedServiceAccount = "deployer" },
			`serviceaccount: spec.serviceAccountName: ServiceAccount "deployer" is not allowed`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pod := basicPod()
			tc.change(pod)
			before := pod.DeepCopy()
			err := review(newPodTarget(pod), true)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("review: got %v, want an error containing %q", err, tc.want)
			}
			if !reflect.DeepEqual(pod, before) {
				t.Errorf("a refused pod was changed")
			}
		})
	}
}

func TestAToolsPodMayRunAsTheDefaultOrItsObserverServiceAccount(t *testing.T) {
	for _, sa := range []string{"", "default", "alpha-obs"} {
		t.Run("serviceAccountName "+strconvQuote(sa), func(t *testing.T) {
			pod := basicPod()
			pod.Spec.ServiceAccountName = sa
			if err := review(newPodTarget(pod), true); err != nil {
				t.Fatalf("refused: %v", err)
			}
		})
	}
}

func strconvQuote(s string) string { return `"` + s + `"` }

func TestReviewListsEveryProblem(t *testing.T) {
	pod := basicPod()
	pod.Spec.HostNetwork = true
	pod.Spec.Containers[0].Image = "nginx"
	err := review(newPodTarget(pod), true)
	if err == nil || !strings.Contains(err.Error(), "identity: spec.hostNetwork") || !strings.Contains(err.Error(), "registry: spec.containers[0].image") {
		t.Fatalf("got %v, want both the identity and the registry problem", err)
	}
}

func TestRegistryMatchesTheHostExactly(t *testing.T) {
	for _, tc := range []struct {
		image string
		ok    bool
	}{
		{testImage, true},
		{testRegistry + "/toolforge-php82-sssd-web@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", true},
		{"quay.io/org/image:1", true}, // alpha's exception
		{testRegistry + ".evil.com/toolforge-python311-sssd-base:latest", false},
		{testRegistry + ":5000/toolforge-python311-sssd-base:latest", false},
		{"evil.com/" + testRegistry + "/image", false},
		{"x" + testRegistry + "/image", false},
		{"docker-registry-tools-wmflabs.org/image", false},
		{testRegistry, false}, // no slash: a Docker Hub image of that name
		{"nginx", false},
		{"library/nginx:latest", false},
		{"localhost/image", false},
		{"localhost:5000/image", false},
	} {
		pod := basicPod()
		pod.Spec.Containers[0].Image = tc.image
		problems := checkRegistry(newPodTarget(pod))
		if got := len(problems) == 0; got != tc.ok {
			t.Errorf("image %q: allowed = %v, want %v (%v)", tc.image, got, tc.ok, problems)
		}
	}
}

func TestRegistryExceptionsAreOnlyForTheirTool(t *testing.T) {
	pod := basicPod()
	pod.Spec.Containers[0].Image = "quay.io/org/image:1"
	target := newPodTarget(pod)
	target.tool = toolInfo{Name: "beta", UID: 50002}
	if problems := checkRegistry(target); len(problems) != 1 {
		t.Fatalf("beta using alpha's exception: got %v, want one problem", problems)
	}
}

func TestACompliantPodGetsTheToolsIdentityStorageAndEnvironment(t *testing.T) {
	pod := basicPod()
	pod.Spec.InitContainers = []corev1.Container{{Name: "init", Image: testImage}}
	if err := review(newPodTarget(pod), true); err != nil {
		t.Fatal(err)
	}
	sc := pod.Spec.SecurityContext
	if *sc.RunAsUser != testUID || *sc.RunAsGroup != testUID || *sc.FSGroup != testUID || !*sc.RunAsNonRoot || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("pod security context = %+v", sc)
	}
	wantVolumes := []corev1.Volume{
		{Name: "tool-home", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "tool-home"}}},
		{Name: "tool-dumps", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "tool-dumps", ReadOnly: true}}},
	}
	if !reflect.DeepEqual(pod.Spec.Volumes, wantVolumes) {
		t.Errorf("volumes = %+v", pod.Spec.Volumes)
	}
	for _, c := range append(pod.Spec.InitContainers, pod.Spec.Containers...) {
		if *c.SecurityContext.AllowPrivilegeEscalation || !reflect.DeepEqual(c.SecurityContext.Capabilities.Drop, []corev1.Capability{"ALL"}) {
			t.Errorf("%s: security context = %+v", c.Name, c.SecurityContext)
		}
		wantMounts := []corev1.VolumeMount{
			{Name: "tool-home", MountPath: "/data/project/alpha"},
			{Name: "tool-dumps", MountPath: "/public/dumps", ReadOnly: true},
		}
		if !reflect.DeepEqual(c.VolumeMounts, wantMounts) {
			t.Errorf("%s: mounts = %+v", c.Name, c.VolumeMounts)
		}
		wantEnv := []corev1.EnvVar{
			{Name: "HOME", Value: "/data/project/alpha"},
			{Name: "TOOL_DATA_DIR", Value: "/data/project/alpha"},
		}
		if !reflect.DeepEqual(c.Env, wantEnv) {
			t.Errorf("%s: env = %+v, want HOME and TOOL_DATA_DIR from volumes", c.Name, c.Env)
		}
		wantFrom := []corev1.EnvFromSource{{SecretRef: &corev1.SecretEnvSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: tenancy.EnvvarsSecret}, Optional: ptr.To(true)}}}
		if !reflect.DeepEqual(c.EnvFrom, wantFrom) {
			t.Errorf("%s: envFrom = %+v, want the optional Secret %s", c.Name, c.EnvFrom, tenancy.EnvvarsSecret)
		}
	}
}

func TestMutationIsIdempotent(t *testing.T) {
	pod := basicPod()
	if err := review(newPodTarget(pod), true); err != nil {
		t.Fatal(err)
	}
	once := pod.DeepCopy()
	if err := review(newPodTarget(pod), true); err != nil {
		t.Fatalf("a mutated pod is refused on reinvocation: %v", err)
	}
	if !reflect.DeepEqual(pod, once) {
		t.Errorf("second mutation changed the pod:\n%+v\n%+v", once.Spec, pod.Spec)
	}
}

func TestWhatAPodSetsItselfIsKept(t *testing.T) {
	pod := basicPod()
	pod.Spec.SecurityContext = &corev1.PodSecurityContext{SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeLocalhost, LocalhostProfile: ptr.To("p.json")}}
	pod.Spec.Volumes = []corev1.Volume{{Name: "scratch", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
	c := &pod.Spec.Containers[0]
	c.Env = []corev1.EnvVar{{Name: "HOME", Value: "/tmp"}, {Name: "API_TOKEN", Value: "mine"}}
	own := corev1.EnvFromSource{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "settings"}}}
	c.EnvFrom = []corev1.EnvFromSource{own}
	c.VolumeMounts = []corev1.VolumeMount{{Name: "scratch", MountPath: "/public/dumps"}}
	if err := review(newPodTarget(pod), true); err != nil {
		t.Fatal(err)
	}
	if pod.Spec.SecurityContext.SeccompProfile.Type != corev1.SeccompProfileTypeLocalhost {
		t.Errorf("seccomp profile replaced: %+v", pod.Spec.SecurityContext.SeccompProfile)
	}
	wantEnv := []corev1.EnvVar{{Name: "HOME", Value: "/tmp"}, {Name: "API_TOKEN", Value: "mine"}, {Name: "TOOL_DATA_DIR", Value: "/data/project/alpha"}}
	if !reflect.DeepEqual(c.Env, wantEnv) {
		t.Errorf("env = %+v, want the container's own HOME and API_TOKEN kept", c.Env)
	}
	wantMounts := []corev1.VolumeMount{{Name: "scratch", MountPath: "/public/dumps"}, {Name: "tool-home", MountPath: "/data/project/alpha"}}
	if !reflect.DeepEqual(c.VolumeMounts, wantMounts) {
		t.Errorf("mounts = %+v, want the container's own mount at /public/dumps kept", c.VolumeMounts)
	}
	// Later envFrom sources win over earlier ones: the container's own
	// come after the tool's envvars.
	if len(c.EnvFrom) != 2 || !hasEnvvarsRef(c.EnvFrom[:1]) || !reflect.DeepEqual(c.EnvFrom[1], own) {
		t.Errorf("envFrom = %+v, want the envvars Secret, then the container's own ConfigMap", c.EnvFrom)
	}
}

func TestMountStorageNoneMountsNothing(t *testing.T) {
	pod := basicPod()
	pod.Labels = map[string]string{tenancy.MountStorageLabel: MountNone}
	pod.Spec.Volumes = []corev1.Volume{{Name: "tool-home", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
	if err := review(newPodTarget(pod), true); err != nil {
		t.Fatal(err)
	}
	homeSet := slices.ContainsFunc(pod.Spec.Containers[0].Env, func(e corev1.EnvVar) bool { return e.Value == "/data/project/alpha" })
	if len(pod.Spec.Volumes) != 1 || len(pod.Spec.Containers[0].VolumeMounts) != 0 || homeSet {
		t.Errorf("with mount-storage=none: volumes %+v, mounts %+v, env %+v", pod.Spec.Volumes, pod.Spec.Containers[0].VolumeMounts, pod.Spec.Containers[0].Env)
	}
	if !hasEnvvarsRef(pod.Spec.Containers[0].EnvFrom) {
		t.Errorf("envvars are injected whatever the storage: envFrom %+v", pod.Spec.Containers[0].EnvFrom)
	}
}

func TestAnEphemeralContainerIsReviewedAlone(t *testing.T) {
	pod := basicPod()
	if err := review(newPodTarget(pod), true); err != nil {
		t.Fatal(err)
	}
	pod.Spec.EphemeralContainers = []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: "debug", Image: testImage}}}
	before := pod.DeepCopy()
	target := newPodTarget(pod)
	target.podLevel = false
	target.reviewed = func(c container) bool { return c.kind == "ephemeral container" }
	if err := review(target, true); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(pod.Spec.Containers, before.Spec.Containers) || !reflect.DeepEqual(pod.Spec.Volumes, before.Spec.Volumes) {
		t.Errorf("reviewing an ephemeral container changed the rest of the pod")
	}
	e := pod.Spec.EphemeralContainers[0]
	if !reflect.DeepEqual(e.VolumeMounts, pod.Spec.Containers[0].VolumeMounts) || !definesEnv(e.Env, EnvHome) || !hasEnvvarsRef(e.EnvFrom) {
		t.Errorf("ephemeral container: mounts %+v, env %+v, envFrom %+v", e.VolumeMounts, e.Env, e.EnvFrom)
	}
	if e.SecurityContext == nil || *e.SecurityContext.AllowPrivilegeEscalation {
		t.Errorf("ephemeral container security context = %+v", e.SecurityContext)
	}
}

func TestResolveClaims(t *testing.T) {
	pvc := func(name, path, ro string) corev1.PersistentVolumeClaim {
		p := corev1.PersistentVolumeClaim{}
		p.Name = name
		p.Annotations = map[string]string{"toolforge.org/mount-path": path, "toolforge.org/read-only": ro}
		return p
	}
	pvcs := []corev1.PersistentVolumeClaim{pvc("tool-home", "/data/project/alpha", "false"), pvc("tool-dumps", "/public/dumps", "true"), pvc("tool-other", "", "false")}
	got := resolveClaims(pvcs, "alpha", nil)
	want := []platformClaim{
		{Claim: "tool-home", MountPath: "/data/project/alpha", Home: true},
		{Claim: "tool-dumps", MountPath: "/public/dumps", ReadOnly: true},
	}
	// Sorted by path: /data before /public.
	if !reflect.DeepEqual(got, want) {
		t.Errorf("by annotations: got %+v, want %+v", got, want)
	}
	got = resolveClaims(pvcs, "alpha", []Mount{{Claim: "tool-home", MountPath: "/home/{tool}", ReadOnly: ptr.To(true)}, {Claim: "missing"}})
	want = []platformClaim{{Claim: "tool-home", MountPath: "/home/alpha", ReadOnly: true, Home: true}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("by settings: got %+v, want %+v", got, want)
	}
}
