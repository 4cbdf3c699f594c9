package admission

import (
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

func platformPVC(ns, name, path string, readOnly bool) corev1.PersistentVolumeClaim {
	ro := "false"
	if readOnly {
		ro = "true"
	}
	return corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{
		Namespace: ns, Name: name,
		Annotations: map[string]string{"toolforge.org/mount-path": path, "toolforge.org/read-only": ro},
	}}
}

func TestStorageTemplates(t *testing.T) {
	home := func(tool string) corev1.PersistentVolumeClaim {
		return platformPVC("tool-"+tool, "tool-home", "/data/project/"+tool, false)
	}
	dumps := func(tool, path string) corev1.PersistentVolumeClaim {
		return platformPVC("tool-"+tool, "tool-dumps", path, true)
	}
	for _, tc := range []struct {
		name   string
		pvcs   []corev1.PersistentVolumeClaim
		mounts []Mount
		want   []storageTemplate
	}{
		{"every tool's home is one template, shared data one path",
			[]corev1.PersistentVolumeClaim{home("alpha"), home("beta"), dumps("alpha", "/public/dumps"), dumps("beta", "/public/dumps")}, nil,
			[]storageTemplate{
				{Claim: "tool-dumps", Path: "/public/dumps", ReadOnly: true},
				{Claim: "tool-home", Path: "/data/project/{tool}", Home: true},
			}},
		{"a claim at different paths for different tools has no path",
			[]corev1.PersistentVolumeClaim{home("alpha"), dumps("alpha", "/public/dumps"), dumps("beta", "/srv/dumps"), dumps("gamma", "/public/dumps")}, nil,
			[]storageTemplate{
				{Claim: "tool-dumps", ReadOnly: true},
				{Claim: "tool-home", Path: "/data/project/{tool}", Home: true},
			}},
		{"the settings choose the claims and their paths",
			[]corev1.PersistentVolumeClaim{home("alpha"), home("beta"), dumps("alpha", "/public/dumps")},
			[]Mount{{Claim: "tool-home", MountPath: "/home/{tool}", ReadOnly: ptr.To(true)}},
			[]storageTemplate{{Claim: "tool-home", Path: "/home/{tool}", ReadOnly: true, Home: true}}},
		{"claims outside tool namespaces and without a path are not mounted",
			[]corev1.PersistentVolumeClaim{home("alpha"), platformPVC("kube-system", "tool-home", "/x", false), platformPVC("tool-alpha", "tool-other", "", false)}, nil,
			[]storageTemplate{{Claim: "tool-home", Path: "/data/project/{tool}", Home: true}}},
		{"no claims, no storage", nil, nil, []storageTemplate{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := storageTemplates(tc.pvcs, tc.mounts); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestOnlyNamespacesThatAreAToolsTakeTheFastPath(t *testing.T) {
	ns := func(name string, labels map[string]string) corev1.Namespace {
		base := map[string]string{"toolforge.org/tool": "alpha", "toolforge.org/uid": "50001", "pod-security.kubernetes.io/enforce": "restricted"}
		for k, v := range labels {
			if v == "" {
				delete(base, k)
			} else {
				base[k] = v
			}
		}
		return corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: base}}
	}
	deleting := ns("tool-alpha", nil)
	deleting.DeletionTimestamp = &metav1.Time{}
	for _, tc := range []struct {
		name string
		ns   corev1.Namespace
		ok   bool
	}{
		{"a tool's namespace does", ns("tool-alpha", nil), true},
		{"one without Pod Security restricted does not", ns("tool-alpha", map[string]string{"pod-security.kubernetes.io/enforce": "baseline"}), false},
		{"one without Pod Security does not", ns("tool-alpha", map[string]string{"pod-security.kubernetes.io/enforce": ""}), false},
		{"one without a uid does not", ns("tool-alpha", map[string]string{"toolforge.org/uid": ""}), false},
		{"one with uid 0 does not", ns("tool-alpha", map[string]string{"toolforge.org/uid": "0"}), false},
		{"one with a uid that is no number does not", ns("tool-alpha", map[string]string{"toolforge.org/uid": "5000l"}), false},
		{"one named for another tool does not", ns("tool-beta", nil), false},
		{"one being deleted does not", deleting, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := fastPathNamespaces([]corev1.Namespace{tc.ns})
			if _, ok := got[tc.ns.Name]; ok != tc.ok {
				t.Errorf("in the fast path: %v, want %v (%v)", ok, tc.ok, got)
			}
			if tc.ok && got[tc.ns.Name] != 50001 {
				t.Errorf("uid %d, want 50001", got[tc.ns.Name])
			}
		})
	}
}
