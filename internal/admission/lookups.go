package admission

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/toolforge-go/toolforge/internal/tenancy"
)

// lookups answer what admission needs to know beyond the object: only
// from informer caches, so the admission path never waits on the API.
type lookups struct {
	reader   client.Reader
	settings *settingsSource
}

// cacheOptions keep the caches to what admission reads: tool namespaces,
// the platform's claims and the platform's ConfigMaps. No Secret: the
// tool's envvars are injected as a reference to their Secret, so admission
// never reads one.
func cacheOptions(platformNS string) cache.Options {
	return cache.Options{
		DefaultUnsafeDisableDeepCopy: ptr.To(true),
		DefaultTransform:             cache.TransformStripManagedFields(),
		ByObject: map[client.Object]cache.ByObject{
			&corev1.Namespace{}:             {Label: labels.SelectorFromSet(labels.Set{tenancy.LabelTenancy: tenancy.TenancyTool})},
			&corev1.PersistentVolumeClaim{}: {Label: labels.SelectorFromSet(labels.Set{tenancy.LabelPlatformClaim: "true"})},
			&corev1.ConfigMap{}:             {Namespaces: map[string]cache.Config{platformNS: {}}},
		},
	}
}

// cachedKinds are the informers to start up front (they otherwise start
// on first use, which would be the first admission request).
func cachedKinds() []client.Object {
	return []client.Object{&corev1.Namespace{}, &corev1.PersistentVolumeClaim{}, &corev1.ConfigMap{}}
}

// tool is the tenant of namespace ns, from its labels.
func (l *lookups) tool(ctx context.Context, ns string) (toolInfo, error) {
	var n corev1.Namespace
	if err := l.reader.Get(ctx, client.ObjectKey{Name: ns}, &n); err != nil {
		return toolInfo{}, fmt.Errorf("namespace %q is not a tool namespace known to admission: %w", ns, err)
	}
	name := n.Labels[tenancy.LabelTool]
	uid, err := strconv.ParseInt(n.Labels[tenancy.LabelUID], 10, 64)
	if name == "" || err != nil || uid <= 0 {
		return toolInfo{}, fmt.Errorf("namespace %q has no valid %s and %s labels; ask a Toolforge admin to fix the tool's account", ns, tenancy.LabelTool, tenancy.LabelUID)
	}
	return toolInfo{Name: name, UID: uid}, nil
}

// claims are the platform claims of namespace ns as they are mounted:
// every claim labelled platform-claim at its annotated path, or, when the
// settings list mounts, exactly those.
func (l *lookups) claims(ctx context.Context, ns string, tool toolInfo, s *Effective) ([]platformClaim, error) {
	var list corev1.PersistentVolumeClaimList
	if err := l.reader.List(ctx, &list, client.InNamespace(ns)); err != nil {
		return nil, fmt.Errorf("list platform claims of %s: %w", ns, err)
	}
	return resolveClaims(list.Items, tool.Name, s.Mounts), nil
}

// resolveClaims turns the namespace's platform PVCs into mounts, sorted by
// mount path so a parent directory is mounted before what is below it.
func resolveClaims(pvcs []corev1.PersistentVolumeClaim, tool string, mounts []Mount) []platformClaim {
	byName := map[string]*corev1.PersistentVolumeClaim{}
	for i := range pvcs {
		if pvcs[i].DeletionTimestamp == nil {
			byName[pvcs[i].Name] = &pvcs[i]
		}
	}
	if len(mounts) == 0 {
		for name := range byName {
			mounts = append(mounts, Mount{Claim: name})
		}
	}
	var out []platformClaim
	for _, m := range mounts {
		pvc, ok := byName[m.Claim]
		if !ok {
			continue
		}
		path := m.MountPath
		if path == "" {
			path = pvc.Annotations[tenancy.AnnotationMountPath]
		}
		if path == "" {
			continue
		}
		readOnly := pvc.Annotations[tenancy.AnnotationReadOnly] == "true"
		if m.ReadOnly != nil {
			readOnly = *m.ReadOnly
		}
		out = append(out, platformClaim{
			Claim:     m.Claim,
			MountPath: strings.ReplaceAll(path, toolPlaceholder, tool),
			ReadOnly:  readOnly,
			Home:      m.Claim == tenancy.HomeClaim,
		})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].MountPath < out[j].MountPath })
	return out
}
