package admission

import (
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/toolforge-go/toolforge/internal/tenancy"
)

// Values of the label tenancy.MountStorageLabel.
const (
	MountAll  = "all"
	MountNone = "none"
)

// Environment variables pointing at the tool's home in its pods.
const (
	EnvHome        = "HOME"
	EnvToolDataDir = "TOOL_DATA_DIR"
)

// platformClaim is one of the tool's platform PVCs as it is mounted; the
// volume has the claim's name.
type platformClaim struct {
	Claim     string
	MountPath string
	ReadOnly  bool
	// Home is the tool's home: HOME and TOOL_DATA_DIR point at it.
	Home bool
}

// allowedVolumeTypes are the volume sources Pod Security "restricted"
// allows; every other one reaches past the namespace (hostPath, nfs, …).
// An image volume's image is held to the registry rule like a container's.
var allowedVolumeTypes = []string{"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "image", "persistentVolumeClaim", "projected", "secret"}

// checkVolumes refuses node paths and storage outside the namespace, and
// volumes that would shadow the tool's storage.
func checkVolumes(t *podTarget) []string {
	if !t.podLevel {
		return nil
	}
	var out []string
	if v, ok := t.labels[tenancy.MountStorageLabel]; ok && v != MountAll && v != MountNone {
		out = append(out, fmt.Sprintf("label %s=%q is not allowed (allowed: %s, %s); fix the label", tenancy.MountStorageLabel, v, MountAll, MountNone))
	}
	mounting := t.mountStorage()
	for i, v := range t.spec.Volumes {
		p := t.path.Child("volumes").Index(i)
		if v.HostPath != nil {
			out = append(out, fmt.Sprintf("%s: No hostPath volumes allowed (volume %q, path %q): the tool's home is mounted at its usual path by default; remove the volume", p.Child("hostPath"), v.Name, v.HostPath.Path))
			continue
		}
		if typ := volumeType(&v); !slices.Contains(allowedVolumeTypes, typ) {
			out = append(out, fmt.Sprintf("%s: volume %q of type %s is not allowed (allowed: %s); remove it", p, v.Name, typ, strings.Join(allowedVolumeTypes, ", ")))
			continue
		}
		if !mounting {
			continue
		}
		for _, c := range t.claims {
			if v.Name == c.Claim && (v.PersistentVolumeClaim == nil || v.PersistentVolumeClaim.ClaimName != c.Claim) {
				out = append(out, fmt.Sprintf("%s: volume name %q is taken by the tool's storage; rename the volume, or label the pod %s=%s", p.Child("name"), v.Name, tenancy.MountStorageLabel, MountNone))
			}
		}
	}
	return out
}

// checkReadOnlyClaims holds every use of a read-only platform claim to
// read-only, whoever declares the volume and under whatever name: the
// platform's own mount is read-only, but a tool could otherwise declare
// a second volume of the same claim, or mount the platform's volume again,
// read-write (with hostPath or NFS PVs nothing below Kubernetes would
// stop the writes). It applies with mount-storage=none too.
func checkReadOnlyClaims(t *podTarget) []string {
	readOnly := map[string]bool{}
	for _, c := range t.claims {
		if c.ReadOnly {
			readOnly[c.Claim] = true
		}
	}
	if len(readOnly) == 0 {
		return nil
	}
	var out []string
	// volumes of the pod that reach a read-only claim, by volume name
	roVolumes := map[string]string{}
	for i, v := range t.spec.Volumes {
		if v.PersistentVolumeClaim == nil || !readOnly[v.PersistentVolumeClaim.ClaimName] {
			continue
		}
		roVolumes[v.Name] = v.PersistentVolumeClaim.ClaimName
		if t.podLevel && !v.PersistentVolumeClaim.ReadOnly {
			out = append(out, fmt.Sprintf("%s: volume %q uses the read-only claim %q read-write (allowed: readOnly: true); set readOnly: true",
				t.path.Child("volumes").Index(i).Child("persistentVolumeClaim", "readOnly"), v.Name, v.PersistentVolumeClaim.ClaimName))
		}
	}
	for _, c := range t.reviewedContainers() {
		for j, m := range *c.mounts {
			if claim, ok := roVolumes[m.Name]; ok && !m.ReadOnly {
				out = append(out, fmt.Sprintf("%s: %s mounts volume %q of the read-only claim %q read-write (allowed: readOnly: true); set readOnly: true",
					c.path.Child("volumeMounts").Index(j).Child("readOnly"), c, m.Name, claim))
			}
		}
	}
	return out
}

// mountStorage says whether the tool's storage is mounted (label
// toolforge.org/mount-storage, default all).
func (t *podTarget) mountStorage() bool {
	return t.labels[tenancy.MountStorageLabel] != MountNone
}

// volumeType names the source a volume uses, as its JSON field.
func volumeType(v *corev1.Volume) string {
	s := v.VolumeSource
	for _, c := range []struct {
		set  bool
		name string
	}{
		{s.ConfigMap != nil, "configMap"}, {s.CSI != nil, "csi"}, {s.DownwardAPI != nil, "downwardAPI"},
		{s.EmptyDir != nil, "emptyDir"}, {s.Ephemeral != nil, "ephemeral"},
		{s.PersistentVolumeClaim != nil, "persistentVolumeClaim"}, {s.Projected != nil, "projected"},
		{s.Secret != nil, "secret"}, {s.HostPath != nil, "hostPath"}, {s.NFS != nil, "nfs"},
		{s.ISCSI != nil, "iscsi"}, {s.Glusterfs != nil, "glusterfs"}, {s.RBD != nil, "rbd"},
		{s.FlexVolume != nil, "flexVolume"}, {s.Cinder != nil, "cinder"}, {s.CephFS != nil, "cephfs"},
		{s.Flocker != nil, "flocker"}, {s.FC != nil, "fc"}, {s.AzureFile != nil, "azureFile"},
		{s.AzureDisk != nil, "azureDisk"}, {s.VsphereVolume != nil, "vsphereVolume"}, {s.Quobyte != nil, "quobyte"},
		{s.PhotonPersistentDisk != nil, "photonPersistentDisk"}, {s.PortworxVolume != nil, "portworxVolume"},
		{s.ScaleIO != nil, "scaleIO"}, {s.StorageOS != nil, "storageos"}, {s.GCEPersistentDisk != nil, "gcePersistentDisk"},
		{s.AWSElasticBlockStore != nil, "awsElasticBlockStore"}, {s.GitRepo != nil, "gitRepo"}, {s.Image != nil, "image"},
	} {
		if c.set {
			return c.name
		}
	}
	return "unknown"
}

// mutateVolumes mounts the tool's storage into every container under review
// and points HOME and TOOL_DATA_DIR at its home, unless the pod is labelled
// mount-storage=none. What the pod already has is kept: a container that
// mounts something at a storage path, or sets HOME, has chosen to.
func mutateVolumes(t *podTarget) {
	if !t.mountStorage() || len(t.claims) == 0 {
		return
	}
	var have []platformClaim
	for _, c := range t.claims {
		exists := slices.ContainsFunc(t.spec.Volumes, func(v corev1.Volume) bool { return v.Name == c.Claim })
		if !exists && t.podLevel {
			t.spec.Volumes = append(t.spec.Volumes, corev1.Volume{
				Name: c.Claim,
				VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{
					ClaimName: c.Claim, ReadOnly: c.ReadOnly,
				}},
			})
			exists = true
		}
		// An ephemeral container can only mount what the pod already has.
		if exists {
			have = append(have, c)
		}
	}
	for _, ctr := range t.reviewedContainers() {
		for _, c := range have {
			if slices.ContainsFunc(*ctr.mounts, func(m corev1.VolumeMount) bool { return m.Name == c.Claim || m.MountPath == c.MountPath }) {
				continue
			}
			*ctr.mounts = append(*ctr.mounts, corev1.VolumeMount{Name: c.Claim, MountPath: c.MountPath, ReadOnly: c.ReadOnly})
		}
		for _, c := range have {
			if c.Home {
				setEnvDefault(ctr.env, EnvHome, c.MountPath)
				setEnvDefault(ctr.env, EnvToolDataDir, c.MountPath)
			}
		}
	}
}

// setEnvDefault sets name=value unless the container defines name itself.
func setEnvDefault(env *[]corev1.EnvVar, name, value string) {
	if !definesEnv(*env, name) {
		*env = append(*env, corev1.EnvVar{Name: name, Value: value})
	}
}

func definesEnv(env []corev1.EnvVar, name string) bool {
	return slices.ContainsFunc(env, func(e corev1.EnvVar) bool { return e.Name == name })
}
