// Package storage keeps the claims the platform makes in every tool
// namespace, each pre-bound to a PersistentVolume made for it alone: the
// tool's home (tool-home) and the read-only shared data (tool-<name> per
// --shared-data).
package storage

import (
	"context"
	"errors"
	"fmt"
	"path"
	"path/filepath"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/toolforge-go/toolforge/internal/accounts/account"
	"github.com/toolforge-go/toolforge/internal/ensure"
	"github.com/toolforge-go/toolforge/internal/tenancy"
)

// volumeCapacity is nominal: the PV is pre-bound and the backing store
// (a node directory or an NFS export) has its own limits.
var volumeCapacity = resource.MustParse("10Gi")

// SharedData is one read-only volume every tool gets.
type SharedData struct {
	Name      string // the PVC is tool-<name>
	Path      string // on the nodes or the NFS server
	MountPath string // inside pods
}

// ParseSharedData reads --shared-data values, name=path[:mountPath].
func ParseSharedData(specs []string) ([]SharedData, error) {
	var out []SharedData
	seen := map[string]bool{}
	for _, s := range specs {
		name, rest, ok := strings.Cut(s, "=")
		if !ok || name == "" || rest == "" {
			return nil, fmt.Errorf("--shared-data %q: want name=path[:mountPath]", s)
		}
		p, mount, _ := strings.Cut(rest, ":")
		if mount == "" {
			mount = p
		}
		if !filepath.IsAbs(p) || !filepath.IsAbs(mount) {
			return nil, fmt.Errorf("--shared-data %q: paths must be absolute", s)
		}
		if name == "home" || seen[name] {
			return nil, fmt.Errorf("--shared-data %q: name %q is taken", s, name)
		}
		seen[name] = true
		out = append(out, SharedData{Name: name, Path: p, MountPath: mount})
	}
	return out, nil
}

// Config is where the volumes come from.
type Config struct {
	// Storage is hostpath, nfs or none.
	Storage string
	// StoragePath holds <tool>/ on the NFS server (nfs only).
	StoragePath string
	NFSServer   string
	Shared      []SharedData
}

// Reconciler keeps the platform's claims and their volumes.
type Reconciler struct {
	W account.Writer
	Config
}

// Claim is one PVC the platform makes in a tool's namespace, pre-bound to
// a PV made for it alone.
type Claim struct {
	Name      string // PVC name in tool-<t>
	PV        string // PV name, cluster-wide
	Path      string // on the nodes or the NFS server
	MountPath string
	ReadOnly  bool
}

// Count is how many claims the platform makes in every tool namespace.
func (r *Reconciler) Count() int {
	return len(r.Claims(account.Tool{}))
}

// Claims are the tool's home and the shared read-only data.
func (r *Reconciler) Claims(t account.Tool) []Claim {
	if r.Storage == "none" {
		return nil
	}
	claims := []Claim{{
		Name:      tenancy.HomeClaim,
		PV:        "tool-" + t.Name + "-home",
		Path:      r.homeVolumePath(t),
		MountPath: tenancy.HomeMountPath(t.Name),
	}}
	for _, s := range r.Shared {
		claims = append(claims, Claim{
			Name:      "tool-" + s.Name,
			PV:        "tool-" + t.Name + "-" + s.Name,
			Path:      s.Path,
			MountPath: s.MountPath,
			ReadOnly:  true,
		})
	}
	return claims
}

// homeVolumePath is where a tool's home volume comes from. A hostpath
// volume is the home the controller manages (<home-root>/<tool> or the
// source's), so what a pod writes in /data/project/<tool> is in the home
// the maintainer sees, as NFS makes it on the original's bastions and
// workers; on NFS it is the tool's directory on the server.
func (r *Reconciler) homeVolumePath(t account.Tool) string {
	if r.Storage == "nfs" {
		return path.Join(r.StoragePath, t.Name)
	}
	return t.Home
}

func (r *Reconciler) volumeSource(c Claim) corev1.PersistentVolumeSource {
	if r.Storage == "nfs" {
		return corev1.PersistentVolumeSource{NFS: &corev1.NFSVolumeSource{Server: r.NFSServer, Path: c.Path, ReadOnly: c.ReadOnly}}
	}
	// Made when missing, read-only shared data too: a node without the
	// public dumps (a developer's machine) still starts the tools' pods,
	// with an empty directory there, instead of holding every pod in
	// ContainerCreating on a failed type check.
	hostPathType := corev1.HostPathDirectoryOrCreate
	return corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: c.Path, Type: &hostPathType}}
}

// Ensure makes, per platform claim, a PV bound ahead (claimRef) to the PVC
// of that name in the tool's namespace, so no other namespace can claim
// it, then the PVC. The PV comes first: a new PVC that finds its PV is
// bound at once, whereas a PV appearing after its PVC waits for the
// binder's next resync. Once bound, the claimRef carries the PVC's UID; a
// PVC deleted and made again gets its PV bound to the new one. A PV's
// source is immutable: a changed storage configuration is reported, not
// forced (deleting the PV is the admin's call).
func (r *Reconciler) Ensure(ctx context.Context, t account.Tool) (ensure.Result, error) {
	tool := t.Name
	ns := t.Namespace()
	result := ensure.Unchanged
	var errs []error
	for _, c := range r.Claims(t) {
		mode := corev1.ReadWriteMany
		if c.ReadOnly {
			mode = corev1.ReadOnlyMany
		}
		// The claim as it is now: its UID, if it exists, is what the PV must
		// be bound to.
		var existing corev1.PersistentVolumeClaim
		claimUID := types.UID("")
		if err := r.W.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: c.Name}, &existing); err == nil {
			claimUID = existing.UID
		} else if !apierrors.IsNotFound(err) {
			errs = append(errs, err)
			continue
		}
		claimRef := &corev1.ObjectReference{Kind: "PersistentVolumeClaim", APIVersion: "v1", Namespace: ns, Name: c.Name, UID: claimUID}
		pv := &corev1.PersistentVolume{
			ObjectMeta: metav1.ObjectMeta{Name: c.PV, Labels: account.ToolLabels(tool)},
			Spec: corev1.PersistentVolumeSpec{
				Capacity:                      corev1.ResourceList{corev1.ResourceStorage: volumeCapacity},
				AccessModes:                   []corev1.PersistentVolumeAccessMode{mode},
				PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimRetain,
				PersistentVolumeSource:        r.volumeSource(c),
				ClaimRef:                      claimRef,
				StorageClassName:              "",
			},
		}
		if err := r.checkVolumeSource(ctx, pv); err != nil {
			errs = append(errs, err)
		}
		out, err := account.Ensure(ctx, r.W, pv, func(cur *corev1.PersistentVolume) error {
			// An empty UID is the binder's to fill in; a UID of a claim that
			// is gone (or was made again) must go, or the PV stays Released
			// and the new claim never binds.
			ref := cur.Spec.ClaimRef
			if ref == nil || ref.Namespace != ns || ref.Name != c.Name || (ref.UID != "" && ref.UID != claimUID) {
				cur.Spec.ClaimRef = claimRef
			}
			return nil
		})
		if err != nil {
			errs = append(errs, err)
			continue
		}
		result = max(result, out)
		storageClass := ""
		labels := account.ToolLabels(tool)
		labels[tenancy.LabelPlatformClaim] = "true"
		pvc := &corev1.PersistentVolumeClaim{
			ObjectMeta: metav1.ObjectMeta{
				Name:      c.Name,
				Namespace: ns,
				Labels:    labels,
				Annotations: map[string]string{
					tenancy.AnnotationMountPath: c.MountPath,
					tenancy.AnnotationReadOnly:  fmt.Sprint(c.ReadOnly),
				},
			},
			Spec: corev1.PersistentVolumeClaimSpec{
				AccessModes:      []corev1.PersistentVolumeAccessMode{mode},
				Resources:        corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: volumeCapacity}},
				VolumeName:       c.PV,
				StorageClassName: &storageClass,
			},
		}
		if existing.UID != "" && existing.Spec.VolumeName != c.PV {
			errs = append(errs, fmt.Errorf("PVC %s/%s is bound to %s, not %s", ns, c.Name, existing.Spec.VolumeName, c.PV))
		}
		out, err = account.Ensure(ctx, r.W, pvc, func(cur *corev1.PersistentVolumeClaim) error {
			if cur.Annotations == nil {
				cur.Annotations = map[string]string{}
			}
			cur.Annotations[tenancy.AnnotationMountPath] = c.MountPath
			cur.Annotations[tenancy.AnnotationReadOnly] = fmt.Sprint(c.ReadOnly)
			return nil
		})
		if err != nil {
			errs = append(errs, err)
			continue
		}
		result = max(result, out)
	}
	return result, errors.Join(errs...)
}

// checkVolumeSource reports a PV whose source differs from the configured
// one. A PV's source is immutable: the change is reported, not forced
// (deleting the PV is the admin's call). Compared by semantic equality, as
// the API server stores it.
func (r *Reconciler) checkVolumeSource(ctx context.Context, want *corev1.PersistentVolume) error {
	var cur corev1.PersistentVolume
	if err := r.W.Client.Get(ctx, client.ObjectKeyFromObject(want), &cur); err != nil {
		return client.IgnoreNotFound(err)
	}
	if !equality.Semantic.DeepEqual(cur.Spec.PersistentVolumeSource, want.Spec.PersistentVolumeSource) {
		return fmt.Errorf("PV %s has another source than configured; delete it to have it made again", want.Name)
	}
	return nil
}

// DeleteVolumes deletes a removed tool's PVs; with the Retain policy the
// data behind them stays.
func (r *Reconciler) DeleteVolumes(ctx context.Context, tool string) error {
	var pvs corev1.PersistentVolumeList
	if err := r.W.Client.List(ctx, &pvs, client.MatchingLabels(account.ToolLabels(tool))); err != nil {
		return err
	}
	var errs []error
	for i := range pvs.Items {
		if err := r.W.Client.Delete(ctx, &pvs.Items[i]); err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
