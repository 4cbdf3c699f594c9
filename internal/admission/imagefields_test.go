package admission

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// imageFields lists, from the API types, the fields under typ that take an
// image: string fields named image (containers' and whatever a later
// Kubernetes adds under that name) and the string fields of a type named
// after images (ImageVolumeSource.Reference), but for pull policies and
// pull secrets, which name no image. Paths are JSON: containers[].image.
func imageFields(typ reflect.Type, prefix string, inImageType bool, depth int) []string {
	if depth > 12 {
		return nil
	}
	var out []string
	for i := range typ.NumField() {
		f := typ.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		path := prefix
		if name != "" { // an inline struct adds no path element
			if path != "" {
				path += "."
			}
			path += name
		}
		ft := f.Type
		switch {
		case ft.Kind() == reflect.String:
			named := strings.Contains(strings.ToLower(name), "image") || inImageType
			if named && ft.Name() != "PullPolicy" && !strings.HasSuffix(strings.ToLower(name), "pullpolicy") {
				out = append(out, path)
			}
		case ft.Kind() == reflect.Struct:
			out = append(out, imageFields(ft, path, strings.Contains(ft.Name(), "Image"), depth+1)...)
		case ft.Kind() == reflect.Pointer && ft.Elem().Kind() == reflect.Struct:
			out = append(out, imageFields(ft.Elem(), path, strings.Contains(ft.Elem().Name(), "Image"), depth+1)...)
		case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct && !strings.Contains(strings.ToLower(name), "pullsecrets"):
			out = append(out, imageFields(ft.Elem(), path+"[]", strings.Contains(ft.Elem().Name(), "Image"), depth+1)...)
		}
	}
	return out
}

// setField sets the field at path (JSON names, [] for the first element of
// a list, made when empty) under v to value.
func setField(t *testing.T, v reflect.Value, path, value string) {
	t.Helper()
	for step := range strings.SplitSeq(path, ".") {
		name, list := strings.CutSuffix(step, "[]")
		v = fieldByJSON(t, v, name)
		if v.Kind() == reflect.Pointer {
			if v.IsNil() {
				v.Set(reflect.New(v.Type().Elem()))
			}
			v = v.Elem()
		}
		if list {
			if v.Len() == 0 {
				v.Set(reflect.Append(v, reflect.Zero(v.Type().Elem())))
			}
			v = v.Index(0)
			if n := v.FieldByName("Name"); n.IsValid() && n.Kind() == reflect.String && n.String() == "" {
				n.SetString("x")
			}
		}
	}
	v.SetString(value)
}

func fieldByJSON(t *testing.T, v reflect.Value, name string) reflect.Value {
	t.Helper()
	for i := range v.NumField() {
		f := v.Type().Field(i)
		tag, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if tag == name {
			return v.Field(i)
		}
		if tag == "" && f.Anonymous { // inline
			if found := fieldByJSONOrZero(v.Field(i), name); found.IsValid() {
				return found
			}
		}
	}
	t.Fatalf("no field %q in %s", name, v.Type())
	return reflect.Value{}
}

func fieldByJSONOrZero(v reflect.Value, name string) reflect.Value {
	for i := range v.NumField() {
		if tag, _, _ := strings.Cut(v.Type().Field(i).Tag.Get("json"), ","); tag == name {
			return v.Field(i)
		}
	}
	return reflect.Value{}
}

// podImageFields are the PodSpec's image fields in this Kubernetes.
func podImageFields() []string {
	return imageFields(reflect.TypeFor[corev1.PodSpec](), "", false, 0)
}

// Every field of a PodSpec that takes an image, as the API types have them
// (so a field a later Kubernetes adds is in the list), is held to the
// registry rule: a pod with an image from another registry there is
// refused, naming the field and the allowed registries, or, for a volume
// type tools may not use at all (rbd.image names a Ceph image), naming the
// volume.
func TestEveryImageOfAPodSpecIsHeldToTheRegistryRule(t *testing.T) {
	fields := podImageFields()
	for _, known := range []string{"containers[].image", "initContainers[].image", "ephemeralContainers[].image", "volumes[].image.reference"} {
		if !slices.Contains(fields, known) {
			t.Fatalf("the enumeration misses %s: %v", known, fields)
		}
	}
	const evil = "docker.io/evil/payload:1"
	for _, f := range fields {
		t.Run(f, func(t *testing.T) {
			pod := &corev1.Pod{}
			setField(t, reflect.ValueOf(&pod.Spec).Elem(), f, evil)
			path := "spec." + strings.ReplaceAll(f, "[]", "[0]")
			registry := path + `: image "` + evil + `" of `
			var volume string
			if rest, ok := strings.CutPrefix(path, "spec.volumes[0]."); ok && rest != "image.reference" {
				volume = "spec.volumes[0]: volume " // a type refused whole
			}
			err := review(newPodTarget(pod), false)
			switch {
			case err == nil:
				t.Fatalf("an image from Docker Hub in %s is admitted; handle the field in imageRefs and in the fast path's condition", f)
			case strings.Contains(err.Error(), "registry: "+registry) && strings.Contains(err.Error(), "is not from an allowed registry (allowed: docker-registry.tools.wmflabs.org, quay.io)"):
			case volume != "" && strings.Contains(err.Error(), "volumes: "+volume) && strings.Contains(err.Error(), "is not allowed (allowed: "):
			default:
				t.Fatalf("an image from Docker Hub in %s: denial %q names neither %s and the allowed registries nor the volume", f, err, path)
			}
		})
	}
}

func TestAnImageVolumeFromAnAllowedRegistryIsAdmitted(t *testing.T) {
	pod := basicPod()
	pod.Spec.Volumes = []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{Image: &corev1.ImageVolumeSource{Reference: testImage}}}}
	pod.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "data", MountPath: "/srv/data"}}
	if err := review(newPodTarget(pod), true); err != nil {
		t.Fatal(err)
	}
	pod.Spec.Volumes[0].Image.Reference = "quay.io/wikimedia/data:1" // alpha's exception
	if err := review(newPodTarget(pod), true); err != nil {
		t.Fatalf("a registry exception of the tool: %v", err)
	}
}
