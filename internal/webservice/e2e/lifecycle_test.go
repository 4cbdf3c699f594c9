package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/toolforge-go/toolforge/internal/testcluster"
)

const pythonWeb = "docker-registry.tools.wmflabs.org/toolforge-python311-sssd-web:latest"

// The SPEC §7 labels, on all three objects.
var wantLabels = map[string]string{
	"app.kubernetes.io/component":  "web",
	"app.kubernetes.io/managed-by": "webservice",
	"toolforge":                    "tool",
}

func hasLabels(got map[string]string) error {
	for k, v := range wantLabels {
		if got[k] != v {
			return fmt.Errorf("label %s = %q, want %q (labels %v)", k, got[k], v, got)
		}
	}
	return nil
}

// manifest reads the tool's service.manifest as keys and values.
func manifest(t *testing.T, tool *testcluster.Tool) map[string]any {
	t.Helper()
	var m map[string]any
	if err := yaml.Unmarshal([]byte(readFile(t, filepath.Join(tool.Home, "service.manifest"))), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func podNames(pods []corev1.Pod) []string {
	var out []string
	for _, p := range pods {
		out = append(out, p.Name)
	}
	slices.Sort(out)
	return out
}

func runningPods(t *testing.T, tool *testcluster.Tool, n int) []string {
	t.Helper()
	var names []string
	testcluster.Eventually(t, 30*time.Second, func() error {
		pods := webPods(t, tool)
		names = podNames(pods)
		if len(pods) != n {
			return fmt.Errorf("%d web pods %v, want %d", len(pods), names, n)
		}
		for _, p := range pods {
			if p.Status.Phase != corev1.PodRunning || p.DeletionTimestamp != nil {
				return fmt.Errorf("pod %s is %s", p.Name, p.Status.Phase)
			}
		}
		return nil
	})
	return names
}

// start → status → restart → stop → status, through both program names,
// with the cluster checked after each step.
func TestStartStatusRestartStopStatus(t *testing.T) {
	t.Parallel()
	tools, toolforge, webservice := env(t)
	tool := tools["ws-life"]

	mustRun(t, tool, "Starting webservice\n", toolforge, "webservice", "python3.11", "start")
	o := objects(t, tool)
	if o.dep == nil || o.svc == nil || o.ing == nil {
		t.Fatalf("after start: deployment %v, service %v, ingress %v", o.dep != nil, o.svc != nil, o.ing != nil)
	}
	for _, labels := range []map[string]string{o.dep.Labels, o.svc.Labels, o.ing.Labels, o.dep.Spec.Template.Labels} {
		if err := hasLabels(labels); err != nil {
			t.Error(err)
		}
	}
	if img := o.dep.Spec.Template.Spec.Containers[0].Image; img != pythonWeb {
		t.Errorf("image %q, want %q", img, pythonWeb)
	}
	if p := o.svc.Spec.Ports; o.svc.Spec.Type != corev1.ServiceTypeClusterIP || len(p) != 1 || p[0].Port != 8000 {
		t.Errorf("service %s ports %+v, want ClusterIP on 8000", o.svc.Spec.Type, p)
	}
	rule := o.ing.Spec.Rules[0]
	if rule.Host != "ws-life.toolforge.org" || rule.HTTP.Paths[0].Backend.Service.Name != tool.Name || rule.HTTP.Paths[0].Backend.Service.Port.Number != 8000 {
		t.Errorf("ingress rule %+v", rule)
	}
	before := runningPods(t, tool, 1)
	if m := manifest(t, tool); m["web"] != "python3.11" || m["type"] != "python3.11" || m["backend"] != "kubernetes" {
		t.Errorf("manifest after start: %v", m)
	}

	mustRun(t, tool, "webservice of type python3.11 is running\n", webservice, "status")

	mustRun(t, tool, "Restarting webservice\n", webservice, "restart")
	after := runningPods(t, tool, 1)
	if slices.Equal(before, after) {
		t.Errorf("restart kept the pods %v", before)
	}
	if o := objects(t, tool); o.dep == nil || o.svc == nil || o.ing == nil {
		t.Fatal("an object is missing after restart")
	}

	mustRun(t, tool, "Stopping webservice\n", toolforge, "webservice", "stop")
	assertNoWebObjects(t, tool)
	if pods := webPods(t, tool); len(pods) != 0 {
		t.Errorf("stop returned with pods left: %v", podNames(pods))
	}
	m := manifest(t, tool)
	if _, running := m["web"]; running || m["type"] != "python3.11" {
		t.Errorf("manifest after stop should keep the type and drop the running state: %v", m)
	}

	mustRun(t, tool, "webservice is not running\n", webservice, "status")
	// Stopping what does not run is not an error (scripts stop before they start).
	r := mustRun(t, tool, "", webservice, "stop")
	if r.Stderr != "webservice is not running\n" {
		t.Errorf("second stop said %q", r.Stderr)
	}
}

func TestStartRefusesMemoryAboveTheMaximumAndCreatesNothing(t *testing.T) {
	t.Parallel()
	tools, toolforge, _ := env(t)
	tool := tools["ws-limits"]
	r := run(t, tool, toolforge, "webservice", "python3.11", "start", "--mem", "5Gi")
	if r.Code != 2 {
		t.Errorf("exit %d, want 2", r.Code)
	}
	if !strings.Contains(r.Stderr, "--mem 5Gi is more than the maximum 4Gi") || r.Stdout != "" {
		t.Errorf("stdout %q, stderr %q: want the maximum named and nothing started", r.Stdout, r.Stderr)
	}
	assertNoWebObjects(t, tool)
	if _, err := os.Stat(filepath.Join(tool.Home, "service.manifest")); !os.IsNotExist(err) {
		t.Errorf("a refused start wrote the manifest (%v)", err)
	}
	// The same limit applies to a setting the template asks for.
	if err := os.WriteFile(filepath.Join(tool.Home, "service.template"), []byte("cpu: 2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r = run(t, tool, toolforge, "webservice", "python3.11", "start")
	if r.Code != 2 || !strings.Contains(r.Stderr, "cpu: 2 in "+filepath.Join(tool.Home, "service.template")+" is more than the maximum 1") {
		t.Errorf("template cpu: exit %d, stderr %q", r.Code, r.Stderr)
	}
	assertNoWebObjects(t, tool)
}

// A manifest written by start is what a plain restart, and a plain start
// after stop, use.
func TestPlainRestartAndStartReuseTheManifest(t *testing.T) {
	t.Parallel()
	tools, _, webservice := env(t)
	tool := tools["ws-reuse"]
	check := func(when string) {
		t.Helper()
		o := objects(t, tool)
		if o.dep == nil {
			t.Fatalf("%s: no deployment", when)
		}
		c := o.dep.Spec.Template.Spec.Containers[0]
		if c.Image != pythonWeb || c.Resources.Limits.Memory().String() != "1Gi" || c.Resources.Limits.Cpu().String() != "250m" || *o.dep.Spec.Replicas != 2 {
			t.Fatalf("%s: image %s, limits %v, replicas %d; want python3.11, 1Gi, 250m, 2", when, c.Image, c.Resources.Limits, *o.dep.Spec.Replicas)
		}
	}
	mustRun(t, tool, "Starting webservice\n", webservice, "python3.11", "start", "--mem", "1Gi", "--cpu", "250m", "--replicas", "2")
	check("after start")
	before := runningPods(t, tool, 2)

	mustRun(t, tool, "Restarting webservice\n", webservice, "restart")
	check("after a plain restart")
	if after := runningPods(t, tool, 2); slices.Equal(before, after) {
		t.Errorf("restart kept the pods %v", before)
	}

	mustRun(t, tool, "Stopping webservice\n", webservice, "stop")
	assertNoWebObjects(t, tool)
	mustRun(t, tool, "Starting webservice\n", webservice, "start")
	check("after a plain start following stop")
	mustRun(t, tool, "webservice of type python3.11 is running\n", webservice, "status")
	mustRun(t, tool, "Stopping webservice\n", webservice, "stop")

	// restart of a stopped web service starts it, from the manifest too.
	r := mustRun(t, tool, "Starting webservice\n", webservice, "restart")
	if !strings.Contains(r.Stderr, "webservice is not running, starting it") {
		t.Errorf("restart of a stopped web service said %q", r.Stderr)
	}
	check("after a plain restart of the stopped web service")
	mustRun(t, tool, "Stopping webservice\n", webservice, "stop")
}

// Flags win over the manifest, the manifest over the template.
func TestTemplateGivesDefaultsThatTheManifestAndFlagsOverride(t *testing.T) {
	t.Parallel()
	tools, _, webservice := env(t)
	tool := tools["ws-template"]
	template := filepath.Join(tool.Home, "service.template")
	if err := os.WriteFile(template, []byte("backend: kubernetes\ntype: node20\nmem: 768Mi\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	limits := func() (string, string) {
		o := objects(t, tool)
		if o.dep == nil {
			t.Fatal("no deployment")
		}
		c := o.dep.Spec.Template.Spec.Containers[0]
		return c.Image, c.Resources.Limits.Memory().String()
	}
	mustRun(t, tool, "Starting webservice\n", webservice, "start")
	if img, mem := limits(); !strings.Contains(img, "node20") || mem != "768Mi" {
		t.Errorf("from the template: %s %s", img, mem)
	}
	mustRun(t, tool, "Restarting webservice\n", webservice, "restart", "--mem", "1Gi")
	if img, mem := limits(); !strings.Contains(img, "node20") || mem != "1Gi" {
		t.Errorf("flag over template: %s %s", img, mem)
	}
	mustRun(t, tool, "Stopping webservice\n", webservice, "stop")
	if err := os.WriteFile(template, []byte("type: php8.2\nmem: 2Gi\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	mustRun(t, tool, "Starting webservice\n", webservice, "start")
	if img, mem := limits(); !strings.Contains(img, "node20") || mem != "1Gi" {
		t.Errorf("manifest over template: %s %s", img, mem)
	}
	mustRun(t, tool, "webservice of type node20 is running\n", webservice, "status")
	mustRun(t, tool, "Stopping webservice\n", webservice, "stop")
}

func TestUnknownTypeIsRefusedWithTheAvailableTypes(t *testing.T) {
	t.Parallel()
	tools, toolforge, _ := env(t)
	tool := tools["ws-type"]
	r := run(t, tool, toolforge, "webservice", "cobol", "start")
	want := "error: unknown webservice type \"cobol\"; available types: bookworm, golang1.11, golang1.21, jdk17, mono6.8, node16, node18, node20, perl5.32, perl5.36, php7.4, php8.2, python3.11, python3.13, python3.9, ruby2.1, ruby2.7, ruby3.1, tcl8.6\n"
	if r.Code != 2 || r.Stderr != want || r.Stdout != "" {
		t.Errorf("exit %d, stdout %q, stderr %q; want exit 2 and %q", r.Code, r.Stdout, r.Stderr, want)
	}
	assertNoWebObjects(t, tool)
}

// A template applies as the original's does: its extra_args go to the
// image's runner, keys this version does not know are reported and the
// web service starts all the same, --template names another file (for
// status too), and a template that is not a mapping is refused naming it.
func TestTemplateAppliesExtraArgsAndWarnsAboutUnknownKeys(t *testing.T) {
	t.Parallel()
	tools, _, webservice := env(t)
	tool := tools["ws-extra"]
	template := filepath.Join(tool.Home, "service.template")
	if err := os.WriteFile(template, []byte("type: python3.11\nmem: 768Mi\nextra_args: [--workers, 2]\nhealth-check-path: /healthz\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := mustRun(t, tool, "Starting webservice\n", webservice, "start")
	if !strings.Contains(r.Stderr, "Your template file (service.template) contains unknown keys: health-check-path\n") {
		t.Errorf("no warning about the unknown key: %q", r.Stderr)
	}
	o := objects(t, tool)
	if o.dep == nil {
		t.Fatal("no deployment")
	}
	c := o.dep.Spec.Template.Spec.Containers[0]
	if c.Image != pythonWeb || !slices.Equal(c.Args, []string{"--workers", "2"}) || c.Resources.Limits.Memory().String() != "768Mi" {
		t.Errorf("container %s args %q mem %s; want the template's python3.11, [--workers 2], 768Mi", c.Image, c.Args, c.Resources.Limits.Memory())
	}
	mustRun(t, tool, "Stopping webservice\n", webservice, "stop")

	// Another template, without the manifest's settings in the way.
	if err := os.Remove(filepath.Join(tool.Home, "service.manifest")); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(tool.Home, "other.template")
	if err := os.WriteFile(other, []byte("type: php8.2\nreplicas: 2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	mustRun(t, tool, "Starting webservice\n", webservice, "--template", other, "start")
	if o := objects(t, tool); o.dep == nil || *o.dep.Spec.Replicas != 2 || len(o.dep.Spec.Template.Spec.Containers[0].Args) != 0 {
		t.Errorf("--template %s did not apply: %+v", other, o.dep)
	}
	if r := mustRun(t, tool, "webservice of type php8.2 is running\n", webservice, "status", "--template", other); r.Stderr != "" {
		t.Errorf("status --template: stderr %q", r.Stderr)
	}
	mustRun(t, tool, "Stopping webservice\n", webservice, "stop")

	if err := os.WriteFile(template, []byte("- type: php8.2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r = run(t, tool, webservice, "start")
	if r.Code != 2 || !strings.Contains(r.Stderr, template) || !strings.Contains(r.Stderr, "not a YAML mapping") {
		t.Errorf("a list as template: exit %d, stderr %q", r.Code, r.Stderr)
	}
	assertNoWebObjects(t, tool)
}
