package server

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/toolforge-go/toolforge/internal/images"
	"github.com/toolforge-go/toolforge/internal/jobs"
	"github.com/toolforge-go/toolforge/internal/route"
)

// apply sends a job definition to the API's PATCH ?dry_run=true handler as
// tool alpha, and returns the status and what the API answered: the job as
// it would be made, defaults filled in, or the refusal.
func apply(t *testing.T, s *Store, body string) (int, jobs.ApplyResponse, string) {
	t.Helper()
	req := httptest.NewRequest(http.MethodPatch, "/jobs/v1/tool/alpha/jobs?dry_run=true", strings.NewReader(body))
	w := httptest.NewRecorder()
	err := s.handleApply(w, &route.Request{Request: req, Tool: "alpha"})
	if err != nil {
		var he *route.Error
		if !errors.As(err, &he) {
			t.Fatalf("apply: %v", err)
		}
		return he.Status, jobs.ApplyResponse{}, he.Error()
	}
	var out jobs.ApplyResponse
	if err := json.Unmarshal(w.Body.Bytes(), &out); err != nil {
		t.Fatalf("answer %q: %v", w.Body.String(), err)
	}
	return w.Code, out, ""
}

// storeWithBuilds is a Store over a fake cluster holding tool alpha's
// namespace, on a platform whose built images are in a registry: no built
// image exists, the defaults are what is tested.
func storeWithBuilds(t *testing.T) *Store {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "tool-alpha", Labels: map[string]string{"toolforge.org/uid": "50001"}}}
	c := fake.NewClientBuilder().WithObjects(ns).Build()
	return &Store{
		Reader: c, Writer: c,
		Images:        func(context.Context) (*images.Catalogue, error) { return images.Builtin(), nil },
		BuiltRegistry: "registry.example:5000",
	}
}

func TestTheAPIFillsInTheDefaultsOfTheImagesKind(t *testing.T) {
	s := storeWithBuilds(t)
	for _, tc := range []struct {
		name    string
		body    string
		filelog bool
		mount   string
		ref     string
	}{
		{"a catalogue image writes file logs and mounts all", `{"name":"a","cmd":"./a","imagename":"python3.11"}`, true, "all",
			"docker-registry.tools.wmflabs.org/toolforge-python311-sssd-web:latest"},
		{"a built image logs to the log store and mounts none", `{"name":"b","cmd":"./b","imagename":"tool-alpha/app:latest"}`, false, "none",
			"registry.example:5000/tool-alpha/app:latest"},
		{"a built image may mount all", `{"name":"c","cmd":"./c","imagename":"tool-alpha/app","mount":"all"}`, false, "all",
			"registry.example:5000/tool-alpha/app:latest"},
		{"--no-filelog turns a catalogue image's file logs off", `{"name":"d","cmd":"./d","imagename":"python3.11","filelog":false}`, false, "all",
			"docker-registry.tools.wmflabs.org/toolforge-python311-sssd-web:latest"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, msg := apply(t, s, tc.body)
			if code != http.StatusOK {
				t.Fatalf("%d %s", code, msg)
			}
			j := out.Job
			if j.Filelog == nil || *j.Filelog != tc.filelog || j.Mount != tc.mount {
				t.Fatalf("filelog %v, mount %q; want %v, %q", j.FileLogs(), j.Mount, tc.filelog, tc.mount)
			}
			if j.ImageRef != tc.ref {
				t.Fatalf("runs %q, want %q", j.ImageRef, tc.ref)
			}
		})
	}
	t.Run("--mount=none of a catalogue image is refused with the original's message", func(t *testing.T) {
		code, _, msg := apply(t, s, `{"name":"e","cmd":"./e","imagename":"python3.13","mount":"none","filelog":false}`)
		if code != http.StatusBadRequest || !strings.Contains(msg, "Mount type none is only supported for build service images") {
			t.Fatalf("%d %s", code, msg)
		}
	})
	t.Run("without a build service a built image is refused, naming it", func(t *testing.T) {
		s := storeWithBuilds(t)
		s.BuiltRegistry = ""
		code, _, msg := apply(t, s, `{"name":"f","cmd":"./f","imagename":"tool-alpha/app"}`)
		if code != http.StatusBadRequest || !strings.Contains(msg, "runs no build service") {
			t.Fatalf("%d %s", code, msg)
		}
	})
}
