package deploy

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/pmezard/go-difflib/difflib"
	"helm.sh/helm/v3/pkg/releaseutil"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"
)

// driftManager is the field manager of drift checks' dry runs: it never
// writes (every apply is a dry run), so it owns nothing in the cluster.
const driftManager = "toolforge-deploy-drift"

// ObjectChange is how one object of a release differs from the cluster.
type ObjectChange struct {
	Kind      string `json:"kind"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
	// Change: "changed" (live differs from the release), "missing"
	// (the release has it, the cluster not), "create" and "delete" (what
	// a deploy would do).
	Change string `json:"change"`
	// Diff is a unified diff, live (-) to the release (+).
	Diff string `json:"diff,omitempty"`
}

func (o ObjectChange) String() string {
	id := o.Kind + " " + o.Name
	if o.Namespace != "" {
		id = o.Kind + " " + o.Namespace + "/" + o.Name
	}
	return id
}

// objects parses a rendered manifest, in Helm's install order, namespaced
// objects without a namespace put in ns.
func objects(manifest, ns string, mapper meta.RESTMapper) ([]*unstructured.Unstructured, error) {
	docs := releaseutil.SplitManifests(manifest)
	keys := make([]string, 0, len(docs))
	for k := range docs {
		keys = append(keys, k)
	}
	sort.Sort(releaseutil.BySplitManifestsOrder(keys))
	var out []*unstructured.Unstructured
	for _, k := range keys {
		var m map[string]any
		// SplitManifests trims each document: its last block scalar would
		// lose the line break Helm's own parse keeps.
		if err := yaml.Unmarshal([]byte(docs[k]+"\n"), &m); err != nil {
			return nil, fmt.Errorf("parse the release's manifest: %w", err)
		}
		if len(m) == 0 {
			continue
		}
		u := &unstructured.Unstructured{Object: m}
		mapping, err := mapper.RESTMapping(u.GroupVersionKind().GroupKind(), u.GroupVersionKind().Version)
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", u.GetKind(), u.GetName(), err)
		}
		if mapping.Scope.Name() == meta.RESTScopeNameNamespace && u.GetNamespace() == "" {
			u.SetNamespace(ns)
		}
		out = append(out, u)
	}
	return out, nil
}

// compare says how the live object differs from want: want is applied
// server-side as a dry run (forcing every field it sets, as an upgrade
// would) and the result is compared with the live object. Fields the
// release does not set (a CA bundle the admission server injects,
// defaults, what controllers add) are in both and cancel out; a field it
// sets that someone changed differs. nil when they agree.
func compare(ctx context.Context, dyn dynamic.Interface, mapper meta.RESTMapper, want *unstructured.Unstructured) (*ObjectChange, error) {
	gvk := want.GroupVersionKind()
	mapping, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		return nil, err
	}
	var ri dynamic.ResourceInterface = dyn.Resource(mapping.Resource)
	if mapping.Scope.Name() == meta.RESTScopeNameNamespace {
		ri = dyn.Resource(mapping.Resource).Namespace(want.GetNamespace())
	}
	change := &ObjectChange{Kind: want.GetKind(), Namespace: want.GetNamespace(), Name: want.GetName()}
	body, err := json.Marshal(want.Object)
	if err != nil {
		return nil, err
	}
	// The live object and the dry run's result must be of one state of
	// the object: a controller's write in between is read again.
	for attempt := 0; ; attempt++ {
		live, err := ri.Get(ctx, want.GetName(), metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			change.Change = "missing"
			return change, nil
		}
		if err != nil {
			return nil, fmt.Errorf("get %s: %w", change, err)
		}
		applied, err := ri.Patch(ctx, want.GetName(), types.ApplyPatchType, body, metav1.PatchOptions{
			FieldManager: driftManager, Force: ptr.To(true), DryRun: []string{metav1.DryRunAll},
		})
		if err != nil {
			return nil, fmt.Errorf("dry-run apply %s: %w", change, err)
		}
		if applied.GetResourceVersion() != live.GetResourceVersion() && attempt < 3 {
			continue
		}
		a, b := comparable(live), comparable(applied)
		if a == b {
			return nil, nil
		}
		change.Change = "changed"
		change.Diff = unifiedDiff(a, b)
		return change, nil
	}
}

// comparable is an object as YAML without what every write changes
// (resource version, generation, managed fields) and without status,
// which is not the release's.
func comparable(u *unstructured.Unstructured) string {
	c := u.DeepCopy()
	unstructured.RemoveNestedField(c.Object, "metadata", "managedFields")
	unstructured.RemoveNestedField(c.Object, "metadata", "resourceVersion")
	unstructured.RemoveNestedField(c.Object, "metadata", "generation")
	unstructured.RemoveNestedField(c.Object, "status")
	b, err := yaml.Marshal(c.Object)
	if err != nil {
		return fmt.Sprintf("%v", c.Object)
	}
	return string(b)
}

func unifiedDiff(live, release string) string {
	d, err := difflib.GetUnifiedDiffString(difflib.UnifiedDiff{
		A: difflib.SplitLines(live), B: difflib.SplitLines(release),
		FromFile: "live", ToFile: "release", Context: 2,
	})
	if err != nil {
		return err.Error()
	}
	return strings.TrimRight(d, "\n")
}

// objectKey identifies an object across two manifests.
func objectKey(u *unstructured.Unstructured) string {
	return u.GroupVersionKind().GroupKind().String() + "/" + u.GetNamespace() + "/" + u.GetName()
}
