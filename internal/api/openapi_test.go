package api

import (
	"encoding/json"
	"net/http"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/toolforge-go/toolforge/internal/api/route"
	envvarsserver "github.com/toolforge-go/toolforge/internal/envvars/server"
	"github.com/toolforge-go/toolforge/internal/jobs"
	jobsserver "github.com/toolforge-go/toolforge/internal/jobs/server"
)

// productRoutes are the real route tables (their handlers are not called).
func productRoutes() []struct{ Method, Path string } {
	var out []struct{ Method, Path string }
	for _, rt := range append((&jobsserver.Store{}).Routes(), (&envvarsserver.Store{}).Routes()...) {
		out = append(out, struct{ Method, Path string }{rt.Method, rt.Path})
	}
	return out
}

func TestTheOpenAPIDocumentListsExactlyTheServedOperations(t *testing.T) {
	srv := startTestServer(t, append((&jobsserver.Store{}).Routes(), (&envvarsserver.Store{}).Routes()...), fixedAccess{})
	code, doc := srv.do(t, nil, "GET", OpenAPIPath)
	if code != 200 {
		t.Fatalf("openapi.json = %d", code)
	}
	if doc["openapi"] != "3.1.0" {
		t.Fatalf("openapi version %v", doc["openapi"])
	}
	var documented []string
	for path, ops := range doc["paths"].(map[string]any) {
		for method := range ops.(map[string]any) {
			documented = append(documented, strings.ToUpper(method)+" "+path)
		}
	}
	served := []string{"GET " + HealthzPath, "GET " + MetricsPath, "GET " + OpenAPIPath}
	for _, r := range productRoutes() {
		served = append(served, r.Method+" "+r.Path)
	}
	sort.Strings(documented)
	sort.Strings(served)
	if strings.Join(documented, "\n") != strings.Join(served, "\n") {
		t.Fatalf("documented:\n%s\n\nserved:\n%s", strings.Join(documented, "\n"), strings.Join(served, "\n"))
	}
}

func TestEveryDocumentedPathOfTheCallerReachesItsHandler(t *testing.T) {
	// The product's route table with handlers that say which route ran:
	// every documented operation must reach its own handler.
	routes := append((&jobsserver.Store{}).Routes(), (&envvarsserver.Store{}).Routes()...)
	for i := range routes {
		id := routes[i].Method + " " + routes[i].Path
		routes[i].Handle = func(w http.ResponseWriter, _ *route.Request) error {
			return route.WriteJSON(w, http.StatusOK, map[string]any{"route": id, "messages": route.NewMessages()})
		}
	}
	srv := startTestServer(t, routes, fixedAccess{"alpha": true})
	alpha := srv.pki.client(t, "alpha", "toolforge")
	for _, r := range productRoutes() {
		path := strings.NewReplacer("{tool}", "alpha", "{name}", "x").Replace(r.Path)
		code, body := srv.do(t, &alpha, r.Method, path)
		if want := r.Method + " " + r.Path; code != http.StatusOK || body["route"] != want {
			t.Errorf("%s %s = %d %v, want route %s", r.Method, path, code, body["route"], want)
		}
	}
}

func TestEveryJSONResponseSchemaHasMessages(t *testing.T) {
	doc := OpenAPI(append((&jobsserver.Store{}).Routes(), (&envvarsserver.Store{}).Routes()...))
	b, _ := json.Marshal(doc)
	var d struct {
		Paths map[string]map[string]struct {
			Responses map[string]struct {
				Content map[string]struct {
					Schema map[string]string `json:"schema"`
				} `json:"content"`
			} `json:"responses"`
		} `json:"paths"`
		Components struct {
			Schemas map[string]struct {
				Properties map[string]any `json:"properties"`
			} `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	for path, ops := range d.Paths {
		for method, op := range ops {
			for code, resp := range op.Responses {
				js, ok := resp.Content["application/json"]
				if !ok {
					continue
				}
				name := strings.TrimPrefix(js.Schema["$ref"], "#/components/schemas/")
				if _, ok := d.Components.Schemas[name].Properties["messages"]; !ok {
					t.Errorf("%s %s %s: schema %q has no messages", method, path, code, name)
				}
			}
		}
	}
}

func TestSchemasFollowTheJSONEncoding(t *testing.T) {
	g := &schemaGen{schemas: map[string]any{}}
	g.schema(reflect.TypeOf(jobs.Info{}))
	info := g.schemas["Info"].(map[string]any)["properties"].(map[string]any)
	for _, want := range []string{"name", "cmd", "imagename", "schedule", "status_short", "health_check"} {
		if _, ok := info[want]; !ok {
			t.Errorf("Info schema lacks %q (embedded Job fields must be flattened)", want)
		}
	}
	if _, ok := info["Job"]; ok {
		t.Errorf("embedded struct shown as a property")
	}
}
