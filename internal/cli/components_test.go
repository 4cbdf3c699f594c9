package cli

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/toolforge-go/toolforge/internal/components"
	"github.com/toolforge-go/toolforge/internal/golden"
	"github.com/toolforge-go/toolforge/internal/route"
)

// componentsRoutes are a stand-in for the components API, enough to see
// what the commands send and print; the real API is tested end to end in
// internal/builds/e2e.
func (f *fakeAPI) componentsRoutes(mux *http.ServeMux) {
	const base = "/components/v1/tool/demo"
	mux.HandleFunc("POST "+base+"/config", func(w http.ResponseWriter, r *http.Request) {
		var c components.Config
		if err := json.NewDecoder(r.Body).Decode(&c); err != nil {
			replyError(w, http.StatusBadRequest, err.Error())
			return
		}
		f.compConfig = &c
		m := route.NewMessages()
		m.Infof("Configuration for demo created successfully.")
		reply(w, http.StatusOK, components.ConfigResponse{Data: c, Messages: m})
	})
	mux.HandleFunc("GET "+base+"/config", func(w http.ResponseWriter, r *http.Request) {
		if f.compConfig == nil {
			replyError(w, http.StatusNotFound, "Unable to find a components config for tool demo")
			return
		}
		reply(w, http.StatusOK, components.ConfigResponse{Data: *f.compConfig, Messages: route.NewMessages()})
	})
	token := func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodPost:
			f.token = "11111111-2222-4333-8444-555555555555"
		case f.token == "":
			replyError(w, http.StatusNotFound, "Unable to find a deploy token for tool demo")
			return
		case r.Method == http.MethodPut:
			f.token = "66666666-7777-4888-8999-000000000000"
		case r.Method == http.MethodDelete:
			f.token = ""
		}
		reply(w, http.StatusOK, components.TokenResponse{Data: components.Token{Token: f.token, CreationDate: "2026-01-01T00:00:00Z", ExpirationDate: "2027-01-01T00:00:00Z"}, Messages: route.NewMessages()})
	}
	for _, m := range []string{"POST", "GET", "PUT", "DELETE"} {
		mux.HandleFunc(m+" "+base+"/deploy-token", token)
	}
	mux.HandleFunc("POST "+base+"/deployment", func(w http.ResponseWriter, r *http.Request) {
		var req components.DeploymentRequest
		_ = json.NewDecoder(r.Body).Decode(&req)
		d := components.Deployment{DeployID: "20260101-000000-abcde", CreationTime: "2026-01-01T00:00:00Z", Status: components.StatusPending, ForceBuild: req.ForceBuild,
			Builds: map[string]components.BuildStep{"component1": {BuildID: components.NoBuildID, BuildStatus: components.StatusPending}},
			Runs:   map[string]components.RunStep{"component1": {RunStatus: components.StatusPending}}}
		f.deployments = append(f.deployments, d)
		m := route.NewMessages()
		m.Infof("Deployment for demo created successfully.")
		reply(w, http.StatusOK, components.DeploymentResponse{Data: d, Messages: m})
	})
	mux.HandleFunc("GET "+base+"/deployment", func(w http.ResponseWriter, r *http.Request) {
		reply(w, http.StatusOK, components.DeploymentListResponse{Data: components.DeploymentList{Deployments: f.deployments}, Messages: route.NewMessages()})
	})
}

const cliFile = `config_version: v1beta1
components:
  component1:
    component_type: continuous
    build: {repository: "https://git.example/app.git", ref: main}
    run: {command: web}
`

// The original's smoke test's CLI lines: config create then show, token
// create/show ("Token:", --json .token), refresh printing the new one,
// deployment create ("created successfully"), list ("ID", the
// component) and --json (.data.deployments[-1].deploy_id).
func TestComponentsCommandsPrintTheOriginalsLines(t *testing.T) {
	f := newFakeAPI(t)
	if r := toolforge(t, false, cliFile, "components", "config", "create", "-"); r.code != 0 || !strings.Contains(r.stderr, "created successfully") {
		t.Fatalf("config create: %+v", r)
	}
	if f.compConfig == nil || f.compConfig.Components["component1"].Build.Ref != "main" {
		t.Fatalf("the API got %+v", f.compConfig)
	}
	if r := toolforge(t, false, "", "components", "config", "show"); r.code != 0 || !strings.Contains(r.stdout, "component1:") || !strings.Contains(r.stdout, "ref: main") {
		t.Fatalf("config show: %+v", r)
	}
	bad := strings.Replace(cliFile, "run: {command: web}", "run: {command: web, replica: 2}", 1)
	calls := len(f.calls)
	if r := toolforge(t, false, bad, "components", "config", "create", "-"); r.code != 1 || !strings.Contains(r.stderr, "unknown key components.component1.run.replica") {
		t.Fatalf("a file with an unknown key: %+v", r)
	}
	if len(f.calls) != calls {
		t.Fatal("a refused file was sent to the API")
	}
	if r := toolforge(t, false, "", "components", "deploy-token", "show"); r.code != 1 || !strings.Contains(r.stderr, "Unable to find") {
		t.Fatalf("deploy-token show without one: %+v", r)
	}
	if r := toolforge(t, false, "", "components", "deploy-token", "create"); r.code != 0 || !strings.Contains(r.stdout, "Token: 11111111-") {
		t.Fatalf("deploy-token create: %+v", r)
	}
	var tok components.Token
	r := toolforge(t, false, "", "components", "deploy-token", "show", "--json")
	if err := json.Unmarshal([]byte(r.stdout), &tok); err != nil || tok.Token != f.token {
		t.Fatalf("deploy-token show --json: %v %+v", err, r)
	}
	if r := toolforge(t, false, "", "components", "deploy-token", "refresh"); r.code != 2 {
		t.Fatalf("refresh off a terminal without --yes-im-sure: %+v", r)
	}
	r = toolforge(t, false, "", "components", "deploy-token", "refresh", "--yes-im-sure")
	if fields := strings.Fields(strings.SplitN(r.stdout, "\n", 2)[0]); len(fields) != 2 || fields[0] != "Token:" || fields[1] != f.token || f.token == tok.Token {
		t.Fatalf("refresh printed %+v", r)
	}
	if r := toolforge(t, false, "", "components", "deployment", "create", "--force-build"); r.code != 0 || !strings.Contains(r.stderr, "created successfully") || !f.deployments[0].ForceBuild {
		t.Fatalf("deployment create: %+v", r)
	}
	r = toolforge(t, false, "", "components", "deployment", "list")
	if r.code != 0 || !strings.Contains(r.stdout, "ID") || !strings.Contains(r.stdout, "component1") {
		t.Fatalf("deployment list: %+v", r)
	}
	var l components.DeploymentListResponse
	r = toolforge(t, false, "", "components", "deployment", "list", "--json")
	if err := json.Unmarshal([]byte(r.stdout), &l); err != nil || l.Data.Deployments[len(l.Data.Deployments)-1].DeployID != "20260101-000000-abcde" {
		t.Fatalf("deployment list --json: %v %+v", err, r)
	}
}

// Every components command's help is golden: the verbs, flags and words
// users and scripts see.
func TestComponentsHelpIsGolden(t *testing.T) {
	root := NewRootCommand(&IOStreams{})
	var comps *cobra.Command
	for _, c := range root.Commands() {
		if c.Name() == "components" {
			comps = c
		}
	}
	if comps == nil {
		t.Fatal("no components command")
	}
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		args := append(strings.Fields(c.CommandPath())[1:], "--help")
		r := toolforge(t, false, "", args...)
		if r.code != 0 {
			t.Fatalf("%v: %+v", args, r)
		}
		golden.Assert(t, "help_"+strings.ReplaceAll(c.CommandPath()[len("toolforge "):], " ", "_")+".golden", []byte(r.stdout))
		for _, sub := range c.Commands() {
			if sub.Name() != "help" {
				walk(sub)
			}
		}
	}
	walk(comps)
}

// config generate makes a file of the tool's continuous and scheduled
// jobs that the parser takes; without any, the sample with its notes.
func TestConfigGenerateMakesAFileFromTheJobs(t *testing.T) {
	f := newFakeAPI(t)
	r := toolforge(t, false, "", "components", "config", "generate")
	if r.code != 0 || !strings.Contains(r.stdout, "# NOTE:") {
		t.Fatalf("generate without jobs: %+v", r)
	}
	if _, err := components.Parse([]byte(r.stdout)); err != nil {
		t.Fatalf("the sample does not parse: %v\n%s", err, r.stdout)
	}
	web := job("web", "./serve", "bookworm")
	web.Schedule, web.Continuous, web.Port = "", true, 8000
	once := job("once", "./once", "bookworm")
	once.Schedule = ""
	f.jobs["web"], f.jobs["nightly"], f.jobs["once"] = web, job("nightly", "./cron", "bookworm"), once
	r = toolforge(t, false, "", "components", "config", "generate")
	cfg, err := components.Parse([]byte(r.stdout))
	if r.code != 0 || err != nil {
		t.Fatalf("generate: %v %+v", err, r)
	}
	if len(cfg.Components) != 2 || cfg.Components["web"].Run.Port != 8000 || cfg.Components["nightly"].Run.Schedule != "@daily" {
		t.Fatalf("generated %+v", cfg.Components)
	}
}
