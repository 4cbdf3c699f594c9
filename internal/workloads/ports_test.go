package workloads_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/toolforge-go/toolforge/internal/testcluster"
)

func TestAFailingHealthCheckRestartsTheJobAndShowSaysWhy(t *testing.T) {
	p := setup(t)
	t.Parallel()
	// Healthy for three seconds, then the check fails for good.
	p.ok(t, "healer", "jobs", "run", "flaky", "--image", "python3.11", "--continuous",
		"--health-check-script", "test -f /tmp/healthy",
		"--command", "touch /tmp/healthy; sleep 3; rm /tmp/healthy; echo unhealthy now; exec sleep 600")
	until(t, imageTimeout+2*time.Minute, func() error {
		show := p.ok(t, "healer", "jobs", "show", "flaky").Stdout
		if !strings.Contains(show, "restarted") || !strings.Contains(show, "The health check failed") || !strings.Contains(show, "liveness probe") {
			return fmt.Errorf("show:\n%s", show)
		}
		return nil
	})
}

func TestAJobsPortIsReachableByNameAndPublishedThroughTheIngress(t *testing.T) {
	p := setup(t)
	t.Parallel()
	const serve = `mkdir -p www && echo "hello from $(hostname) on $PORT" > www/hello.txt && cd www && exec python3 -m http.server "$PORT"`
	p.ok(t, "server", "jobs", "run", "api", "--image", "python3.11", "--continuous", "--port", "8080", "--publish", "--command", serve)
	running := func() {
		until(t, imageTimeout, func() error {
			if show := p.ok(t, "server", "jobs", "show", "api").Stdout; !strings.Contains(show, "Status:        Running") {
				return fmt.Errorf("show:\n%s", show)
			}
			return nil
		})
	}
	running()
	// Another job of the tool reaches it by its name.
	p.ok(t, "server", "jobs", "run", "client", "--image", "python3.11", "--no-filelog", "--wait", "300", "--command", "curl -sSf http://api:8080/hello.txt")
	if got := p.ok(t, "server", "jobs", "logs", "client").Stdout; !strings.HasPrefix(got, "hello from api-") || !strings.HasSuffix(got, " on 8080\n") {
		t.Fatalf("the client job got %q", got)
	}
	// And by the Service's full name, as the original's
	// continuous-job-port.bats checks it: its output in its file log.
	p.ok(t, "server", "jobs", "run", "--command", "curl 'http://api.tool-server.svc.cluster.local:8080/hello.txt'", "--wait", "120", "--image", "python3.11", "check-api")
	if out, err := os.ReadFile(filepath.Join(p.Tools["server"].Home, "check-api.out")); err != nil || !strings.HasPrefix(string(out), "hello from api-") {
		t.Fatalf("check-api.out: %q %v", out, err)
	}
	// And the world through the ingress, at <tool>.<domain>.
	published := func(port string) {
		until(t, time.Minute, func() error {
			code, body, err := curl(t, p.toolURL("server", "/hello.txt"))
			if err != nil || code != 200 || !strings.HasSuffix(body, " on "+port+"\n") {
				return fmt.Errorf("%d %q %v", code, body, err)
			}
			return nil
		})
	}
	published("8080")
	if show := p.ok(t, "server", "jobs", "show", "api").Stdout; !strings.Contains(show, "Public:        "+p.toolURL("server", "/")+"\n") {
		t.Fatalf("show does not say where it is published:\n%s", show)
	}
	// A restart keeps it published: the original's annotation rolls the
	// pods (the tool reads it with its kubectl), and the ingress answers
	// all along, the old pod serving until the new one is ready.
	before, err := runningPods(t, "server", "api")
	if err != nil || len(before) != 1 {
		t.Fatalf("pods before the restart: %v %v", before, err)
	}
	p.ok(t, "server", "jobs", "restart", "api")
	annotation, err := testcluster.Kubectl(context.Background(), p.Tools["server"].Kubeconfig,
		"get", "deployment", "api", "-o", `jsonpath={.spec.template.metadata.annotations.app\.kubernetes\.io/restartedAt}`)
	if err != nil || annotation == "" {
		t.Fatalf("restartedAt: %q %v", annotation, err)
	}
	var answered, failed int
	until(t, imageTimeout, func() error {
		code, body, err := curl(t, p.toolURL("server", "/hello.txt"))
		if err != nil || code != 200 || !strings.HasSuffix(body, " on 8080\n") {
			failed++
			t.Logf("during the restart: %d %q %v", code, body, err)
		} else {
			answered++
		}
		now, err := runningPods(t, "server", "api")
		if err != nil || len(now) != 1 || now[0] == before[0] {
			return fmt.Errorf("pods %v (before %v) %v", now, before, err)
		}
		return nil
	})
	t.Logf("through the restart the ingress answered %d request(s), failed %d", answered, failed)
	running()
	published("8080")
	// So does another port (load updates the job in place).
	file := filepath.Join(t.TempDir(), "jobs.yaml")
	dump := p.ok(t, "server", "jobs", "dump").Stdout
	dump = strings.Replace(dump, "port: 8080", "port: 8081", 1)
	if err := os.WriteFile(file, []byte(dump), 0o644); err != nil {
		t.Fatal(err)
	}
	if r := p.ok(t, "server", "jobs", "load", file, "--job", "api"); r.Stdout != "Job 'api' updated\n" {
		t.Fatalf("load with another port: %s", r)
	}
	published("8081")
	// The web service cannot take the host the job holds.
	if r := p.toolforge(t, "server", "webservice", "python3.11", "start"); r.Code == 0 || !strings.Contains(r.Stderr, "published job 'api'") {
		t.Fatalf("webservice start beside a published job: %s", r)
	}
}
