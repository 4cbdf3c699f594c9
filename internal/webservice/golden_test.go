package webservice_test

import (
	"bytes"
	"path/filepath"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"sigs.k8s.io/yaml"

	"github.com/toolforge-go/toolforge/internal/cli"
	"github.com/toolforge-go/toolforge/internal/golden"
	"github.com/toolforge-go/toolforge/internal/webservice"
)

// The objects a web service is made of are a contract: scripts, the status
// page and admission read their names, labels and ports.
func TestObjectsMatchTheGoldenFiles(t *testing.T) {
	sp := webservice.Spec{
		Tool: "demo", Namespace: "tool-demo", Domain: "toolforge.org", Type: "python3.11",
		Image:    "docker-registry.tools.wmflabs.org/toolforge-python311-sssd-web:latest",
		Replicas: 2,
		Resources: corev1.ResourceRequirements{
			Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m"), corev1.ResourceMemory: resource.MustParse("512Mi")},
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("250m"), corev1.ResourceMemory: resource.MustParse("256Mi")},
		},
	}
	for name, obj := range map[string]any{
		"deployment.yaml": sp.Deployment(),
		"service.yaml":    sp.Service(),
		"ingress.yaml":    sp.Ingress(),
		"shell-pod.yaml":  sp.ShellPod(true),
	} {
		out, err := yaml.Marshal(obj)
		if err != nil {
			t.Fatal(err)
		}
		golden.Assert(t, filepath.Join("objects", name), out)
	}
}

// Help is what users read first, and its flags are the interface.
func TestHelpMatchesTheGoldenFiles(t *testing.T) {
	cases := map[string][]string{
		"webservice.txt":         {"toolforge", "webservice", "--help"},
		"webservice-start.txt":   {"toolforge", "webservice", "start", "--help"},
		"webservice-restart.txt": {"toolforge", "webservice", "restart", "--help"},
		"webservice-stop.txt":    {"toolforge", "webservice", "stop", "--help"},
		"webservice-status.txt":  {"toolforge", "webservice", "status", "--help"},
		"webservice-logs.txt":    {"toolforge", "webservice", "logs", "--help"},
		"webservice-shell.txt":   {"toolforge", "webservice", "shell", "--help"},
		"webservice-migrate.txt": {"toolforge", "webservice", "migrate", "--help"},
		// The original's order, TYPE before the verb, as the multi-call name.
		"webservice-start.txt#multicall": {"webservice", "python3.11", "start", "-h"},
	}
	for name, args := range cases {
		t.Run(name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := cli.Main(args, &cli.IOStreams{In: &bytes.Buffer{}, Out: &out, ErrOut: &errOut})
			if code != 0 || errOut.Len() > 0 {
				t.Fatalf("exit %d, stderr %q", code, errOut.String())
			}
			file, _, _ := bytes.Cut([]byte(name), []byte("#"))
			golden.Assert(t, filepath.Join("help", string(file)), out.Bytes())
		})
	}
}

// Usage mistakes get one error line and exit code 2, before any cluster
// is contacted (HOME has no credentials here).
func TestUsageErrors(t *testing.T) {
	t.Setenv("HOME", t.TempDir())
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"no action", []string{"webservice"}, "error: say what to do: toolforge webservice [TYPE] start|stop|restart|status|logs|shell|migrate (see --help)\n"},
		{"an unknown action", []string{"webservice", "python3.11", "launch"}, "error: no action in \"python3.11 launch\": want toolforge webservice [TYPE] start|stop|restart|status|logs|shell|migrate (see --help)\n"},
		{"two types", []string{"webservice", "python3.11", "php8.2", "start"}, "error: toolforge webservice start takes at most one TYPE, got [\"python3.11\" \"php8.2\"]\n"},
		{"an unknown flag", []string{"webservice", "start", "--memory", "1Gi"}, "error: unknown flag: --memory\nSee 'toolforge webservice start --help'.\n"},
		{"a backend that is gone", []string{"webservice", "--backend=gridengine", "start"}, "error: --backend: backend \"gridengine\" is gone: web services run on Kubernetes only (backend: kubernetes)\n"},
		{"a bad status format", []string{"webservice", "status", "-o", "xml"}, "error: -o \"xml\": want one of normal, json, yaml\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := cli.Main(tc.args, &cli.IOStreams{In: &bytes.Buffer{}, Out: &out, ErrOut: &errOut})
			if code != cli.ExitUsage {
				t.Errorf("exit code %d, want %d", code, cli.ExitUsage)
			}
			if errOut.String() != tc.want {
				t.Errorf("stderr %q, want %q", errOut.String(), tc.want)
			}
			if out.Len() > 0 {
				t.Errorf("stdout %q, want nothing", out.String())
			}
		})
	}
}
