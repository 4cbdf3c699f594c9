package api

import (
	"encoding/json"
	"net/http"
	"reflect"
	"sort"
	"strings"
	"testing"

	envvarsserver "github.com/toolforge-go/toolforge/internal/envvars/server"
	"github.com/toolforge-go/toolforge/internal/jobs"
	jobsserver "github.com/toolforge-go/toolforge/internal/jobs/server"
	"github.com/toolforge-go/toolforge/internal/route"
)

// productAPIs are the real route tables (their handlers are not called).
func productAPIs() []API {
	return []API{{Name: "jobs", Routes: (&jobsserver.Store{}).Routes()}, {Name: "envvars", Routes: (&envvarsserver.Store{}).Routes()}}
}

func TestEachOpenAPIDocumentListsExactlyTheServedOperations(t *testing.T) {
	srv := startTestServer(t, productAPIs(), fixedAccess{})
	documents := map[string]string{RootOpenAPIPath: "/", OpenAPIPath("jobs"): "/jobs/", OpenAPIPath("envvars"): "/envvars/"}
	for path, prefix := range documents {
		t.Run(path, func(t *testing.T) {
			code, doc := srv.do(t, nil, "GET", path)
			if code != 200 {
				t.Fatalf("%s = %d", path, code)
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
			var served []string
			for _, r := range srv.srv.Routes() {
				// The root document is of every service and itself; a
				// service's, of the service.
				if strings.HasPrefix(r.Path, prefix) && (prefix == "/" || r.Path != RootOpenAPIPath) {
					served = append(served, r.Method+" "+r.Path)
				}
			}
			sort.Strings(documented)
			sort.Strings(served)
			if strings.Join(documented, "\n") != strings.Join(served, "\n") {
				t.Fatalf("documented:\n%s\n\nserved:\n%s", strings.Join(documented, "\n"), strings.Join(served, "\n"))
			}
		})
	}
	for _, want := range []string{"GET /envvars/v1/healthz", "GET /envvars/v1/metrics", "GET /envvars/openapi.json", "GET /jobs/v1/healthz", "GET /jobs/v1/metrics", "GET /jobs/openapi.json", "GET /openapi.json"} {
		found := false
		for _, r := range srv.srv.Routes() {
			found = found || r.Method+" "+r.Path == want
		}
		if !found {
			t.Errorf("%s is not served", want)
		}
	}
}

// Authentication is decided by the matched route's {tool} wildcard, the
// same table the documents are made from: every route whose pattern has
// {tool} refuses a caller without a certificate and a caller who is
// another tool, before its handler runs.
func TestEveryToolRouteRefusesAnAnonymousCallerAndAnotherTool(t *testing.T) {
	apis := productAPIs()
	reached := map[string]bool{}
	for _, a := range apis {
		for i := range a.Routes {
			id := a.Routes[i].Method + " " + a.Routes[i].Path
			a.Routes[i].Handle = func(w http.ResponseWriter, _ *route.Request) error {
				reached[id] = true
				return route.WriteJSON(w, http.StatusOK, route.Envelope{Messages: route.NewMessages()})
			}
		}
	}
	srv := startTestServer(t, apis, fixedAccess{"alpha": true, "beta": true})
	alpha := srv.pki.client(t, "alpha", "toolforge")
	n := 0
	for _, r := range srv.srv.Routes() {
		if !strings.Contains(r.Path, "{tool}") {
			continue
		}
		n++
		path := strings.NewReplacer("{tool}", "beta", "{name}", "x").Replace(r.Path)
		if code, body := srv.do(t, nil, r.Method, path); code != http.StatusUnauthorized {
			t.Errorf("%s %s without a certificate = %d %v, want 401", r.Method, path, code, body)
		}
		if code, body := srv.do(t, &alpha, r.Method, path); code != http.StatusForbidden {
			t.Errorf("%s %s as alpha = %d %v, want 403", r.Method, path, code, body)
		}
	}
	if n < 10 {
		t.Fatalf("only %d routes have {tool}: is the table empty?", n)
	}
	if len(reached) > 0 {
		t.Fatalf("handlers ran for refused callers: %v", reached)
	}
}

func TestEveryDocumentedPathOfTheCallerReachesItsHandler(t *testing.T) {
	// The product's route table with handlers that say which route ran:
	// every documented operation must reach its own handler.
	apis := productAPIs()
	var routes []route.Route
	for _, a := range apis {
		for i := range a.Routes {
			id := a.Routes[i].Method + " " + a.Routes[i].Path
			a.Routes[i].Handle = func(w http.ResponseWriter, _ *route.Request) error {
				return route.WriteJSON(w, http.StatusOK, map[string]any{"route": id, "messages": route.NewMessages()})
			}
			routes = append(routes, a.Routes[i])
		}
	}
	srv := startTestServer(t, apis, fixedAccess{"alpha": true})
	alpha := srv.pki.client(t, "alpha", "toolforge")
	for _, r := range routes {
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
