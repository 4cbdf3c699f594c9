package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/toolforge-go/toolforge/internal/testcluster"
)

var (
	workloadsRuns     = flag.Int("workloads-runs", 20, "one-off jobs run with --wait")
	workloadsWebStart = flag.Int("workloads-web-starts", 20, "web service starts per type")
	workloadsSlowWeb  = flag.Int("workloads-slow-web-starts", 5, "starts of a web service that listens 2 s after its container starts")
)

// Targets: what a maintainer waits for at a prompt, on a real node.
const (
	jobWaitTarget  = 2 * time.Second // jobs run ... --wait of `echo hi`, p50 (issue 25)
	webFirstTarget = 3 * time.Second // webservice start to the first HTTP 200 through the ingress, every start (issue 25)
)

// benchWorkloads measures, on a devcluster with a real node and the whole
// platform (`toolforged all`), what a maintainer waits for: a one-off job
// run with --wait, from the command to its exit, and a web service's start,
// from the command to the first 200 through the ingress. Images are pulled
// (and, on a fresh machine, built) by a first untimed run.
func benchWorkloads(ctx context.Context, r *report) error {
	cli, err := testcluster.BuildBinary("toolforge")
	if err != nil {
		return err
	}
	c, err := testcluster.Start(ctx, testcluster.Options{RealNodes: 1})
	if err != nil {
		return err
	}
	defer cleanup("stop devcluster", c.Stop)
	tools, err := c.ProvisionTools(ctx, "bench-jobs", "bench-php", "bench-python", "bench-slow")
	if err != nil {
		return err
	}
	const domain = "toolforge.localhost"
	platform, err := c.StartPlatform(ctx, domain)
	if err != nil {
		return err
	}
	defer cleanup("stop toolforged all", platform.Stop)
	ingress, err := c.IngressURL()
	if err != nil {
		return err
	}
	run := func(tool *testcluster.Tool, args ...string) (time.Duration, error) {
		cmd := exec.CommandContext(ctx, cli, args...)
		cmd.Env, cmd.Dir = tool.Env(), tool.Home
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		t0 := time.Now()
		if err := cmd.Run(); err != nil {
			return 0, fmt.Errorf("%s %v: %w\n%s", tool.Name, args, err, out.String())
		}
		return time.Since(t0), nil
	}

	jobs := tools["bench-jobs"]
	var took latencies
	for i := -1; i < *workloadsRuns; i++ {
		name := fmt.Sprintf("hi-%d", i+1)
		d, err := run(jobs, "jobs", "run", name, "--command", "echo hi", "--image", "python3.11", "--wait")
		if err != nil {
			return err
		}
		if i >= 0 { // the first run pulls the image
			took = append(took, d)
		}
		// A finished job counts against the tool's quota for an hour.
		if _, err := run(jobs, "jobs", "delete", name); err != nil {
			return err
		}
	}
	p50, p99 := took.percentile(50), took.percentile(99)
	r.check(fmt.Sprintf("jobs run --wait of `echo hi`, p50 of %d", len(took)), secs(p50), "≤ "+secs(jobWaitTarget), p50 <= jobWaitTarget)
	r.add(fmt.Sprintf("jobs run --wait of `echo hi`, p99 of %d", len(took)), "%s", secs(p99))

	port := ingress[strings.LastIndexByte(ingress, ':')+1:]
	// A server that listens 2 s after its container starts, as an app
	// that loads for a while does.
	const slowServer = `use IO::Socket::INET;
$| = 1;
$SIG{PIPE} = "IGNORE";
sleep 2;
my $s = IO::Socket::INET->new(LocalPort => $ENV{PORT}, Listen => 5, ReuseAddr => 1) or die "listen: $!";
while (my $c = $s->accept) {
  while (my $l = <$c>) { last if $l =~ /^\r?\n$/ }
  print $c "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nok\n";
  close $c;
}
`
	apps := []struct {
		tool, typ string
		files     map[string]string
		starts    int
		// slow is an app that is not listening yet when the kubelet first
		// probes it: its start shows the probes' periods.
		slow bool
	}{
		{"bench-php", "php8.2", map[string]string{"public_html/index.php": `<?php echo "ok\n";`}, *workloadsWebStart, false},
		{"bench-python", "python3.11", map[string]string{"www/python/src/app.py": "def app(environ, start_response):\n    start_response('200 OK', [])\n    return [b'ok\\n']\n"}, *workloadsWebStart, false},
		{"bench-slow", "perl5.36", map[string]string{
			"service.template": "type: perl5.36\nextra_args: [perl, /data/project/bench-slow/server.pl]\n",
			"server.pl":        slowServer,
		}, *workloadsSlowWeb, true},
	}
	for _, app := range apps {
		tool := tools[app.tool]
		for name, content := range app.files {
			if err := writeOwned(tool, name, content); err != nil {
				return err
			}
		}
		url := "http://" + app.tool + "." + domain + ":" + port + "/"
		var starts, commands latencies
		for i := -1; i < app.starts; i++ {
			t0 := time.Now()
			command, err := run(tool, "webservice", app.typ, "start")
			if err != nil {
				return err
			}
			if err := firstOK(ctx, url, time.Minute); err != nil {
				return err
			}
			if i >= 0 { // the first start pulls the image
				starts = append(starts, time.Since(t0))
				commands = append(commands, command)
			}
			if _, err := run(tool, "webservice", "stop"); err != nil {
				return err
			}
		}
		worst := starts.percentile(100)
		if app.slow {
			r.add(fmt.Sprintf("a web service listening 2 s after its start: start to first 200, worst of %d", len(starts)), "%s (each: %s s)", secs(worst), joinDurations(starts))
			continue
		}
		r.check(fmt.Sprintf("webservice %s start to first 200 through the ingress, worst of %d", app.typ, len(starts)), secs(worst), "≤ "+secs(webFirstTarget), worst <= webFirstTarget)
		r.add(fmt.Sprintf("webservice %s start to first 200, each", app.typ), "%s s", joinDurations(starts))
		r.add("  p50 of the start; of the command alone (its objects made)", "%s; %s", secs(starts.percentile(50)), secs(commands.percentile(50)))
	}
	r.note("devcluster with 1 real node (kubelet, containerd, Traefik); toolforged all; the CLI as the tools; images pulled by an untimed first run")
	return nil
}

// firstOK polls url (curl, as a user's browser resolves *.localhost) until
// it answers 200.
func firstOK(ctx context.Context, url string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		out, err := exec.CommandContext(ctx, "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "2", url).Output()
		if err == nil && string(out) == "200" {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not answer 200 within %s (last: %s %v)", url, timeout, out, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// writeOwned writes a file in the tool's home, owned by the tool.
func writeOwned(tool *testcluster.Tool, name, content string) error {
	path := filepath.Join(tool.Home, name)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	for dir := filepath.Dir(path); dir != tool.Home; dir = filepath.Dir(dir) {
		if err := os.Chown(dir, int(tool.UID), int(tool.UID)); err != nil {
			return err
		}
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		return err
	}
	return os.Chown(path, int(tool.UID), int(tool.UID))
}
