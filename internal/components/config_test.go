package components

import (
	"strings"
	"testing"
)

const sample = `config_version: v1beta1
components:
  web:
    component_type: continuous
    build: {repository: "https://git.example/app.git", ref: main}
    run: {command: web, port: 8000, publish: "/", health_check_http: /healthz, replicas: 2}
  nightly:
    component_type: scheduled
    build: {reuse_from: web}
    run: {command: cron, schedule: "@daily", timeout: 180, retry: 1}
`

func TestTheIssuesSampleParsesIntoJobs(t *testing.T) {
	c, err := Parse([]byte(sample))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(c.Names(), ","); got != "web,nightly" {
		t.Fatalf("build order %s, want web first", got)
	}
	web := c.Components["web"]
	j := web.Job("web", "tool-x/web:latest")
	if !j.Continuous || j.Port != 8000 || !j.Publish || j.Replicas != 2 || j.HealthCheck == nil || j.HealthCheck.Path != "/healthz" {
		t.Fatalf("web job %+v", j)
	}
	n := c.Components["nightly"]
	if j := n.Job("nightly", "i"); j.Schedule != "@daily" || j.Timeout != 180 || j.Retry != 1 || j.Continuous {
		t.Fatalf("nightly job %+v", j)
	}
	if c.BuildSource("nightly") != "web" {
		t.Fatal("nightly does not reuse web's build")
	}
}

func TestBadFilesAreRefusedNamingTheKey(t *testing.T) {
	for _, tc := range []struct{ name, file, want string }{
		{"an unknown key deep down is named by its path", strings.Replace(sample, "command: web,", "comand: web,", 1), "unknown key components.web.run.comand"},
		{"an unknown top-level key", sample + "extra: 1\n", "unknown key extra"},
		{"a wrong version", strings.Replace(sample, "v1beta1", "v2", 1), "config_version"},
		{"an unknown component type", strings.Replace(sample, "component_type: scheduled", "component_type: daily", 1), "components.nightly.component_type"},
		{"reuse of a missing component", strings.Replace(sample, "reuse_from: web", "reuse_from: api", 1), "components.nightly.build: reuse_from"},
		{"a run setting the jobs framework refuses", strings.Replace(sample, "retry: 1", "retry: 9", 1), "components.nightly.run: --retry"},
		{"a scheduled component without schedule", strings.Replace(sample, `schedule: "@daily", `, "", 1), "components.nightly.run.schedule"},
		{"no repository", strings.Replace(sample, `repository: "https://git.example/app.git", `, "", 1), "components.web.build: repository"},
		{"not YAML", "components: [", "not valid YAML"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.file))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestShowPrintsWhatWasCreated(t *testing.T) {
	c, err := Parse([]byte(sample))
	if err != nil {
		t.Fatal(err)
	}
	out, err := c.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	again, err := Parse(out)
	if err != nil {
		t.Fatalf("show's output does not parse: %v\n%s", err, out)
	}
	if again.Components["web"].Run.Publish != "/" || !strings.Contains(string(out), "ref: main") {
		t.Fatalf("round trip lost settings:\n%s", out)
	}
}

// The JSON Schema has every key Parse takes, refuses others at every
// level, and pins the version and the component types.
func TestTheJSONSchemaIsTheParsersFormat(t *testing.T) {
	s := JSONSchema()
	if s["additionalProperties"] != false || s["properties"].(map[string]any)["config_version"].(map[string]any)["const"] != ConfigVersion {
		t.Fatalf("top level %v", s)
	}
	comp := s["properties"].(map[string]any)["components"].(map[string]any)["additionalProperties"].(map[string]any)
	run := comp["properties"].(map[string]any)["run"].(map[string]any)
	if run["additionalProperties"] != false {
		t.Fatal("run takes unknown keys")
	}
	for _, key := range []string{"command", "cpu", "memory", "emails", "filelog", "mount", "port", "publish", "replicas", "health_check_http", "health_check_script", "schedule", "retry", "timeout"} {
		if _, ok := run["properties"].(map[string]any)[key]; !ok {
			t.Errorf("the schema's run lacks %s", key)
		}
	}
	build := comp["properties"].(map[string]any)["build"].(map[string]any)["properties"].(map[string]any)
	if _, ok := build["reuse_from"]; !ok {
		t.Error("the schema's build lacks reuse_from")
	}
}
