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
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
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
	// Removed is told of each foreign claim deleted (an error wrapping
	// ErrForeignClaim saying which), for the logs and metrics.
	Removed func(error)
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
			Name:      tenancy.PlatformClaimPrefix + s.Name,
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

// ErrForeignClaim is the error (wrapped) of a claim of a platform claim's
// name that its volume was not made for: made again by someone else, or
// by a controller that stopped before binding its volume ahead to it.
var ErrForeignClaim = errors.New("not the claim its volume was made for")

// foreignGone bounds the wait for a deleted foreign claim to go: one that
// no pod uses goes within a second (its protection finalizer removed).
const foreignGone = 10 * time.Second

// Ensure makes, per platform claim, the PVC and a PV bound ahead to it
// alone: the PV's claimRef names the claim and its UID, so no other
// namespace and no other claim of that name can have it. The claimRef's
// UID is also the controller's record of the claim it made: a claim of
// that name with another UID (deleted and made again by someone else,
// without the platform's marks) is never given the volume. It is deleted
// when it is not bound to anything, and the platform's own made in its
// place once it is gone; the PV stays bound ahead to the claim it was made
// for meanwhile. A PV's source is immutable: a changed storage configuration
// is reported, not forced (deleting the PV is the admin's call).
func (r *Reconciler) Ensure(ctx context.Context, t account.Tool) (ensure.Result, error) {
	result := ensure.Unchanged
	var errs []error
	for _, c := range r.Claims(t) {
		out, err := r.ensureClaim(ctx, t, c)
		result = max(result, out)
		errs = append(errs, err)
	}
	return result, errors.Join(errs...)
}

func (r *Reconciler) ensureClaim(ctx context.Context, t account.Tool, c Claim) (ensure.Result, error) {
	ns := t.Namespace()
	mode := corev1.ReadWriteMany
	if c.ReadOnly {
		mode = corev1.ReadOnlyMany
	}
	storageClass := ""
	labels := account.ToolLabels(t.Name)
	labels[tenancy.LabelPlatformClaim] = "true"
	want := &corev1.PersistentVolumeClaim{
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
	result := ensure.Unchanged
	existing, err := r.platformClaim(ctx, true, ns, c)
	switch {
	case err != nil:
		return ensure.Unchanged, err
	case existing == nil:
		var created bool
		if existing, created, err = r.create(ctx, want, c); err != nil {
			return ensure.Unchanged, err
		}
		if created {
			result = ensure.Created
		}
	case existing.Spec.VolumeName != c.PV:
		return ensure.Unchanged, fmt.Errorf("PVC %s/%s is bound to %s, not %s", ns, c.Name, existing.Spec.VolumeName, c.PV)
	}

	claimRef := &corev1.ObjectReference{Kind: "PersistentVolumeClaim", APIVersion: "v1", Namespace: ns, Name: c.Name, UID: existing.UID}
	wantPV := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: c.PV, Labels: account.ToolLabels(t.Name)},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:                      corev1.ResourceList{corev1.ResourceStorage: volumeCapacity},
			AccessModes:                   []corev1.PersistentVolumeAccessMode{mode},
			PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimRetain,
			PersistentVolumeSource:        r.volumeSource(c),
			ClaimRef:                      claimRef,
			StorageClassName:              "",
		},
	}
	var errs []error
	if err := r.checkVolumeSource(ctx, wantPV); err != nil {
		errs = append(errs, err)
	}
	out, err := account.Ensure(ctx, r.W, wantPV, func(cur *corev1.PersistentVolume) error {
		// Bound to the claim just made (the binder fills in the rest).
		if ref := cur.Spec.ClaimRef; ref == nil || ref.Namespace != ns || ref.Name != c.Name || ref.UID != existing.UID {
			cur.Spec.ClaimRef = claimRef
		}
		return nil
	})
	if err != nil {
		return result, errors.Join(append(errs, err)...)
	}
	result = max(result, out)
	out, err = account.Ensure(ctx, r.W, want, func(cur *corev1.PersistentVolumeClaim) error {
		if cur.Annotations == nil {
			cur.Annotations = map[string]string{}
		}
		cur.Annotations[tenancy.AnnotationMountPath] = c.MountPath
		cur.Annotations[tenancy.AnnotationReadOnly] = fmt.Sprint(c.ReadOnly)
		return nil
	})
	if result != ensure.Created {
		result = max(result, out)
	}
	return result, errors.Join(append(errs, err)...)
}

// create makes the claim. Not through ensure: a claim of this name that
// the cache does not show is someone else's, never to be taken over (it is
// removed, then the claim made), or the platform's when the cache lags
// (then that is it). The platform's marks (the label admission mounts by,
// the mount annotations) are put on once the volume is bound ahead to the
// claim, by Ensure: that update is also what has the volume binder bind
// the two at once, rather than at its next resync.
func (r *Reconciler) create(ctx context.Context, want *corev1.PersistentVolumeClaim, c Claim) (*corev1.PersistentVolumeClaim, bool, error) {
	for range 2 {
		pvc := want.DeepCopy()
		delete(pvc.Labels, tenancy.LabelPlatformClaim)
		pvc.Annotations = nil
		err := r.W.Client.Create(ctx, pvc)
		if err == nil {
			return pvc, true, nil
		}
		if !apierrors.IsAlreadyExists(err) {
			return nil, false, fmt.Errorf("create PVC %s/%s: %w", want.Namespace, want.Name, err)
		}
		if pvc, err = r.platformClaim(ctx, false, want.Namespace, c); err != nil || pvc != nil {
			return pvc, false, err
		}
	}
	return nil, false, fmt.Errorf("create PVC %s/%s: made again by someone else meanwhile; tried again on the next pass", want.Namespace, want.Name)
}

// platformClaim is the claim the platform made for c's volume, read from
// the cache or the API, or nil when there is none: a claim of that name
// that the volume is not bound ahead to is deleted first (removeForeign).
// The cache may lag behind the controller's own writes: a claim it shows
// as foreign is looked at again in the API before anything is done.
func (r *Reconciler) platformClaim(ctx context.Context, cached bool, ns string, c Claim) (*corev1.PersistentVolumeClaim, error) {
	reader := r.W.APIReader
	if cached {
		reader = r.W.Client
	}
	pvc, pv, err := read(ctx, reader, ns, c)
	if err != nil || pvc == nil || boundAhead(pv, pvc) {
		return pvc, err
	}
	if cached {
		if pvc, pv, err = read(ctx, r.W.APIReader, ns, c); err != nil || pvc == nil || boundAhead(pv, pvc) {
			return pvc, err
		}
	}
	return nil, r.removeForeign(ctx, pvc, c)
}

// read reads c's claim and volume, each nil when missing.
func read(ctx context.Context, reader client.Reader, ns string, c Claim) (*corev1.PersistentVolumeClaim, *corev1.PersistentVolume, error) {
	pvc := &corev1.PersistentVolumeClaim{}
	if err := reader.Get(ctx, client.ObjectKey{Namespace: ns, Name: c.Name}, pvc); apierrors.IsNotFound(err) {
		return nil, nil, nil
	} else if err != nil {
		return nil, nil, err
	}
	pv := &corev1.PersistentVolume{}
	if err := reader.Get(ctx, client.ObjectKey{Name: c.PV}, pv); apierrors.IsNotFound(err) {
		return pvc, nil, nil
	} else if err != nil {
		return nil, nil, err
	}
	return pvc, pv, nil
}

// boundAhead says whether pv is bound ahead to pvc itself: the claim the
// platform made for it.
func boundAhead(pv *corev1.PersistentVolume, pvc *corev1.PersistentVolumeClaim) bool {
	if pv == nil {
		return false
	}
	ref := pv.Spec.ClaimRef
	return ref != nil && ref.UID != "" && ref.UID == pvc.UID && ref.Namespace == pvc.Namespace && ref.Name == pvc.Name
}

// removeForeign deletes a claim of a platform claim's name that its volume
// was not made for, and waits until it is gone, unless it is bound to
// another volume (then it is the admin's to sort out). It is unbound from
// the platform's volume (the volume is bound ahead to another UID), so
// deleting it loses nothing.
func (r *Reconciler) removeForeign(ctx context.Context, pvc *corev1.PersistentVolumeClaim, c Claim) error {
	foreign := func(format string, a ...any) error {
		return fmt.Errorf("PVC %s/%s (uid %s) is %w (%s)"+format, append([]any{pvc.Namespace, pvc.Name, pvc.UID, ErrForeignClaim, c.PV}, a...)...)
	}
	if pvc.Status.Phase == corev1.ClaimBound && pvc.Spec.VolumeName != c.PV {
		return foreign(" and is bound to %s: delete it for the platform's claim to be made", pvc.Spec.VolumeName)
	}
	uid := pvc.UID
	if pvc.DeletionTimestamp == nil {
		if err := r.W.Client.Delete(ctx, pvc.DeepCopy(), client.Preconditions{UID: &uid}); err != nil && !apierrors.IsNotFound(err) {
			return foreign(": deleting it: %w", err)
		}
	}
	key := client.ObjectKeyFromObject(pvc)
	if err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, foreignGone, true, func(ctx context.Context) (bool, error) {
		var cur corev1.PersistentVolumeClaim
		if err := r.W.APIReader.Get(ctx, key, &cur); apierrors.IsNotFound(err) {
			return true, nil
		} else if err != nil {
			return false, err
		}
		return cur.UID != uid, nil
	}); err != nil {
		return foreign(": deleted it, but it is not gone after %s (does a pod use it?): the platform's claim is made once it is gone", foreignGone)
	}
	if r.Removed != nil {
		r.Removed(foreign(": deleted it, unbound, and made the platform's"))
	}
	return nil
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
