package admission

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
)

// Paths the webhook server serves.
const (
	MutatePodsPath        = "/mutate-pods"
	ValidateWorkloadsPath = "/validate-workloads"
)

// podMutator handles pod creation and the ephemeral containers added to a
// running pod: it checks them, then gives them the tool's identity,
// storage and environment.
type podMutator struct {
	look    *lookups
	decoder admission.Decoder
	log     *slog.Logger
}

func (h *podMutator) Handle(ctx context.Context, req admission.Request) admission.Response {
	if req.Resource.Group != "" || req.Resource.Resource != "pods" {
		return admission.Allowed("not a pod")
	}
	pod := &corev1.Pod{}
	if err := h.decoder.Decode(req, pod); err != nil {
		return admission.Errored(http.StatusBadRequest, fmt.Errorf("decode pod: %w", err))
	}
	t, resp, ok := newTarget(ctx, h.look, req, pod.Labels, &pod.Spec, field.NewPath("spec"), h.unavailable)
	if !ok {
		return resp
	}
	switch {
	case req.Operation == admissionv1.Create && req.SubResource == "":
		t.podLevel = true
	case req.Operation == admissionv1.Update && req.SubResource == "ephemeralcontainers":
		old := &corev1.Pod{}
		if err := h.decoder.DecodeRaw(req.OldObject, old); err != nil {
			return admission.Errored(http.StatusBadRequest, fmt.Errorf("decode old pod: %w", err))
		}
		existing := map[string]bool{}
		for _, c := range old.Spec.EphemeralContainers {
			existing[c.Name] = true
		}
		t.reviewed = func(c container) bool { return c.kind == "ephemeral container" && !existing[c.name] }
	default:
		return admission.Allowed("")
	}
	before := pod.DeepCopy()
	if err := review(t, true); err != nil {
		return admission.Denied(err.Error())
	}
	return admission.Patched("", podPatch(before, pod)...)
}

func (h *podMutator) unavailable(req admission.Request, err error) admission.Response {
	return unavailable(h.log, req, err)
}

// newTarget starts the review of a pod spec: the tool, the settings and
// the claims of its namespace. When it cannot, the response says why.
func newTarget(ctx context.Context, look *lookups, req admission.Request, labels map[string]string, spec *corev1.PodSpec, path *field.Path,
	fail func(admission.Request, error) admission.Response) (*podTarget, admission.Response, bool) {
	tool, err := look.tool(ctx, req.Namespace)
	if err != nil {
		return nil, admission.Denied("identity: " + err.Error()), false
	}
	settings := look.settings.get()
	claims, err := look.claims(ctx, req.Namespace, tool, settings)
	if err != nil {
		return nil, fail(req, err), false
	}
	return &podTarget{tool: tool, settings: settings, labels: labels, spec: spec, path: path, claims: claims}, admission.Response{}, true
}

// unavailable refuses a request admission could not decide (the caches
// failing): the tool can retry; nothing unchecked gets in.
func unavailable(log *slog.Logger, req admission.Request, err error) admission.Response {
	log.Error("admission lookup failed", "namespace", req.Namespace, "kind", req.Kind.Kind, "name", req.Name, "err", err)
	return admission.Errored(http.StatusServiceUnavailable, fmt.Errorf("admission could not decide, try again: %w", err))
}

// workloadValidator applies the pod checks to pod templates, and the
// registry check to images changed in a running pod.
type workloadValidator struct {
	look    *lookups
	decoder admission.Decoder
	scheme  *runtime.Scheme
	log     *slog.Logger
}

func (h *workloadValidator) Handle(ctx context.Context, req admission.Request) admission.Response {
	if req.Operation != admissionv1.Create && req.Operation != admissionv1.Update {
		return admission.Allowed("")
	}
	if req.Kind.Group == "" && req.Kind.Kind == "Pod" {
		return h.podUpdate(ctx, req)
	}
	obj, err := h.scheme.New(schema.GroupVersionKind(req.Kind))
	if err != nil {
		return admission.Allowed("not a workload")
	}
	if err := h.decoder.Decode(req, obj); err != nil {
		return admission.Errored(http.StatusBadRequest, fmt.Errorf("decode %s: %w", req.Kind.Kind, err))
	}
	tmpl, path, ok := podTemplate(obj)
	if !ok {
		return admission.Allowed("no pod template")
	}
	if req.Operation == admissionv1.Update {
		old, _ := h.scheme.New(schema.GroupVersionKind(req.Kind))
		if err := h.decoder.DecodeRaw(req.OldObject, old); err != nil {
			return admission.Errored(http.StatusBadRequest, fmt.Errorf("decode old %s: %w", req.Kind.Kind, err))
		}
		// Controllers update workloads all the time (annotations, owner
		// references): only a changed template makes new pods.
		if oldTmpl, _, ok := podTemplate(old); ok && equality.Semantic.DeepEqual(oldTmpl, tmpl) {
			return admission.Allowed("pod template unchanged")
		}
	}
	t, resp, ok := newTarget(ctx, h.look, req, tmpl.Labels, &tmpl.Spec, path.Child("spec"), h.unavailable)
	if !ok {
		return resp
	}
	t.podLevel = true
	if err := review(t, false); err != nil {
		return admission.Denied(err.Error())
	}
	return admission.Allowed("")
}

// podUpdate checks the images an update changes: a running pod's image is
// one of the few fields that can change.
func (h *workloadValidator) podUpdate(ctx context.Context, req admission.Request) admission.Response {
	if req.SubResource != "" {
		return admission.Allowed("")
	}
	pod, old := &corev1.Pod{}, &corev1.Pod{}
	if err := h.decoder.Decode(req, pod); err != nil {
		return admission.Errored(http.StatusBadRequest, fmt.Errorf("decode pod: %w", err))
	}
	if err := h.decoder.DecodeRaw(req.OldObject, old); err != nil {
		return admission.Errored(http.StatusBadRequest, fmt.Errorf("decode old pod: %w", err))
	}
	before := oldImages(&old.Spec)
	changed := false
	for _, c := range containers(&pod.Spec, field.NewPath("spec")) {
		if before[c.kind+"/"+c.name] != c.image {
			changed = true
		}
	}
	if !changed {
		return admission.Allowed("no image changed")
	}
	t, resp, ok := newTarget(ctx, h.look, req, pod.Labels, &pod.Spec, field.NewPath("spec"), h.unavailable)
	if !ok {
		return resp
	}
	t.reviewed = func(c container) bool { return before[c.kind+"/"+c.name] != c.image }
	if problems := checkRegistry(t); len(problems) > 0 {
		return admission.Denied(denial(prefixed("registry", problems)).Error())
	}
	return admission.Allowed("")
}

func (h *workloadValidator) unavailable(req admission.Request, err error) admission.Response {
	return unavailable(h.log, req, err)
}
