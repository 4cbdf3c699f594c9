package server

import (
	"fmt"
	"sort"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/toolforge-go/toolforge/internal/builder"
	"github.com/toolforge-go/toolforge/internal/builds"
	"github.com/toolforge-go/toolforge/internal/builds/v1alpha1"
	"github.com/toolforge-go/toolforge/internal/platformimage"
)

// Names in a build pod.
const (
	BuildContainer   = "build"
	installContainer = "install-builder"
	workspace        = "/workspace"
	secretDir        = "/var/run/secrets/build" //nolint:gosec // G101: where the build's Secret is mounted, not a credential
	tokenKey         = "token"
	caKey            = "ca.crt"
	// BuildUID runs the build: not root, no tool's (tools' uids are
	// 10000 and up).
	BuildUID = 65532
)

// tokenSecret is the Secret holding a build's registry token (and the
// CA bundle it trusts, if the platform gives one).
func tokenSecret(b *v1alpha1.Build) string { return b.Name + "-build" }

// job is the Job running build b: the platform's builder, copied by an
// init container into a volume, runs in the build image (git and the
// toolchains) with the build's limits, as a non-root user, without the
// tool's home or any service account token, with a deadline.
func (s *Service) job(b *v1alpha1.Build, hasSecret bool) *batchv1.Job {
	labels := map[string]string{v1alpha1.LabelTool: b.Spec.Tool, v1alpha1.LabelBuild: b.Name}
	args := []string{"build",
		"--source", b.Spec.SourceURL,
		"--image", s.Registry.Host + "/" + builds.Repository(b.Spec.Tool, b.Spec.ImageName),
		"--tag", "latest", "--tag", b.Name,
		"--workdir", workspace,
		"--token-file", secretDir + "/" + tokenKey,
	}
	if b.Spec.Ref != "" {
		args = append(args, "--ref", b.Spec.Ref)
	}
	if b.Spec.UseLatestVersions {
		args = append(args, "--use-latest-versions")
	}
	if s.DebianMirror != "" {
		args = append(args, "--debian-mirror", s.DebianMirror)
	}
	for _, k := range sortedKeys(s.Bases) {
		args = append(args, "--base", k+"="+s.Bases[k])
	}
	for _, k := range sortedKeys(s.Mirrors) {
		args = append(args, "--mirror", k+"="+s.Mirrors[k])
	}
	var env []corev1.EnvVar
	for _, k := range sortedKeys(s.Env) {
		env = append(env, corev1.EnvVar{Name: k, Value: s.Env[k]})
	}
	if len(s.CABundle) > 0 {
		ca := secretDir + "/" + caKey
		for _, k := range []string{"SSL_CERT_FILE", "NODE_EXTRA_CA_CERTS", "PIP_CERT", "REQUESTS_CA_BUNDLE", "GIT_SSL_CAINFO", "CURL_CA_BUNDLE"} {
			env = append(env, corev1.EnvVar{Name: k, Value: ca})
		}
	}
	// The user's variables win over the platform's (a build may name its
	// own package index).
	for _, k := range sortedKeys(b.Spec.Envvars) {
		env = append(env, corev1.EnvVar{Name: k, Value: b.Spec.Envvars[k]})
	}
	restricted := &corev1.SecurityContext{
		AllowPrivilegeEscalation: ptr.To(false),
		Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
	}
	mounts := []corev1.VolumeMount{
		{Name: "workspace", MountPath: workspace},
		{Name: "app", MountPath: builder.AppDir},
		{Name: "layers", MountPath: builder.LayersDir},
	}
	volumes := []corev1.Volume{
		{Name: "workspace", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
		{Name: "app", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
		{Name: "layers", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
	}
	if hasSecret {
		mounts = append(mounts, corev1.VolumeMount{Name: "build-secret", MountPath: secretDir, ReadOnly: true})
		volumes = append(volumes, corev1.Volume{Name: "build-secret", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: tokenSecret(b), DefaultMode: ptr.To[int32](0o400)}}})
	}
	res := corev1.ResourceRequirements{
		Limits:   corev1.ResourceList{corev1.ResourceCPU: s.CPU, corev1.ResourceMemory: s.Memory},
		Requests: corev1.ResourceList{corev1.ResourceCPU: fraction(s.CPU, 4), corev1.ResourceMemory: fraction(s.Memory, 4)},
	}
	return &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: b.Name, Namespace: v1alpha1.Namespace, Labels: labels},
		Spec: batchv1.JobSpec{
			BackoffLimit:          ptr.To[int32](0),
			ActiveDeadlineSeconds: ptr.To(int64(s.Timeout.Seconds())),
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					RestartPolicy:                corev1.RestartPolicyNever,
					AutomountServiceAccountToken: ptr.To(false),
					EnableServiceLinks:           ptr.To(false),
					SecurityContext: &corev1.PodSecurityContext{
						RunAsNonRoot: ptr.To(true), RunAsUser: ptr.To[int64](BuildUID), RunAsGroup: ptr.To[int64](BuildUID), FSGroup: ptr.To[int64](BuildUID),
						SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
					},
					InitContainers: []corev1.Container{{
						Name: installContainer, Image: s.BuilderImage,
						Command:         []string{platformimage.BuilderPath, "install", workspace + "/bin/toolforge-builder"},
						VolumeMounts:    mounts[:1],
						Resources:       res,
						SecurityContext: restricted,
					}},
					Containers: []corev1.Container{{
						Name: BuildContainer, Image: s.BuildImage,
						Command:                  append([]string{workspace + "/bin/toolforge-builder"}, args...),
						Env:                      env,
						WorkingDir:               workspace,
						VolumeMounts:             mounts,
						Resources:                res,
						SecurityContext:          restricted.DeepCopy(),
						TerminationMessagePolicy: corev1.TerminationMessageReadFile,
					}},
					Volumes: volumes,
				},
			},
		},
	}
}

// fraction is q/n (a request well below the limit, so that builds fit
// beside tools' pods).
func fraction(q resource.Quantity, n int64) resource.Quantity {
	return *resource.NewMilliQuantity(q.MilliValue()/n, q.Format)
}

func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// failedMessage is a failed build's message, pointing at its log.
func failedMessage(id, cause string) string {
	if cause == "" {
		cause = "the build failed"
	}
	return fmt.Sprintf("%s. Check the logs with `toolforge build logs %s`", cause, id)
}
