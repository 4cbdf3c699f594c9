package workloads_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/toolforge-go/toolforge/internal/testcluster"
)

// webApp is what a tool puts in its home for a web service of a type, and
// what that serves.
type webApp struct {
	tool, typ string
	files     map[string]string
	want      string
}

// webApps are one type of each kind of runner (php: lighttpd; python:
// uwsgi; node: npm start; the rest: the template's command), whose images
// the other tests use too or are small: CI builds each image it pulls.
var webApps = []webApp{
	{"web-php", "php8.2", map[string]string{
		"public_html/index.php": `<?php echo "php says ", 6 * 7, "\n";`,
	}, "php says 42\n"},
	{"web-python", "python3.11", map[string]string{
		"www/python/src/app.py": `import os


def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [("python says %s\n" % os.environ.get("GREETING", "nothing")).encode()]
`,
	}, "python says hello web\n"},
	{"web-node", "node20", map[string]string{
		"www/js/package.json": `{"name": "hello", "version": "1.0.0", "scripts": {"start": "node server.js"}}`,
		"www/js/server.js": `require("http").createServer((req, res) => {
  res.writeHead(200, {"Content-Type": "text/plain"});
  res.end("node says hi\n");
}).listen(process.env.PORT, () => console.log("node listening on " + process.env.PORT));
`,
	}, "node says hi\n"},
	{"web-perl", "perl5.36", map[string]string{
		"service.template": "type: perl5.36\nextra_args: [perl, /data/project/web-perl/server.pl]\n",
		"server.pl": `use IO::Socket::INET;
$| = 1;
# A readiness probe connects and leaves at once: writing to it must not
# end the server.
$SIG{PIPE} = "IGNORE";
my $s = IO::Socket::INET->new(LocalPort => $ENV{PORT}, Listen => 5, ReuseAddr => 1) or die "listen: $!";
print "perl listening on $ENV{PORT}\n";
while (my $c = $s->accept) {
  while (my $l = <$c>) { last if $l =~ /^\r?\n$/ }
  print $c "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nperl says hi\n";
  close $c;
}
`,
	}, "perl says hi\n"},
}

func TestEachKindOfWebServiceServesThroughTheIngress(t *testing.T) {
	p := setup(t)
	p.ok(t, "web-python", "envvars", "create", "GREETING", "hello web")
	for _, app := range webApps {
		t.Run(app.typ, func(t *testing.T) {
			tool := p.Tools[app.tool]
			for name, content := range app.files {
				writeAsTool(t, tool, name, content)
			}
			// It says where it is, by the platform's published URL.
			if r := p.ok(t, app.tool, "webservice", app.typ, "start"); !strings.Contains(r.Stdout, "Starting webservice") ||
				!strings.Contains(r.Stderr, "Your webservice is at "+p.toolURL(app.tool, "/")+"\n") {
				t.Fatalf("start: %s", r)
			}
			defer p.ok(t, app.tool, "webservice", "stop")
			serves := func() {
				until(t, time.Minute, func() error {
					code, body, err := curl(t, p.toolURL(app.tool, "/"))
					if err != nil || code != 200 || body != app.want {
						return fmt.Errorf("%d %q %v", code, body, err)
					}
					return nil
				})
			}
			serves()
			startLine := "webservice-runner: starting " + app.typ + " on port 8000"
			before := webPods(t, app.tool)
			if logs := p.ok(t, app.tool, "webservice", "logs").Stdout; !strings.Contains(logs, startLine) {
				t.Fatalf("logs lack %q:\n%s", startLine, logs)
			}
			// A restart is a new process: a new pod, whose log starts
			// afresh; the log store keeps the old pod's lines, each shown
			// with its pod.
			p.ok(t, app.tool, "webservice", "restart")
			serves()
			until(t, time.Minute, func() error {
				after := webPods(t, app.tool)
				if len(after) != 1 || after[0] == before[0] {
					return fmt.Errorf("pods %v after restart (before: %v)", after, before)
				}
				// Both pods' starts (stdout and stderr may interleave, so
				// anywhere in their lines).
				logs := p.toolforge(t, app.tool, "webservice", "logs").Stdout
				for _, pod := range []string{before[0], after[0]} {
					if !strings.Contains(logs, "["+pod+"] "+startLine) {
						return fmt.Errorf("the logs after a restart lack pod %s's start:\n%s", pod, logs)
					}
				}
				return nil
			})
		})
	}
}

// writeAsTool writes a file in the tool's home as its maintainer would:
// owned by the tool.
func writeAsTool(t *testing.T, tool *testcluster.Tool, name, content string) {
	t.Helper()
	path := filepath.Join(tool.Home, name)
	for dir := filepath.Dir(path); dir != tool.Home; dir = filepath.Dir(dir) {
		defer func(dir string) { _ = os.Chown(dir, int(tool.UID), int(tool.UID)) }(dir)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(path, int(tool.UID), int(tool.UID)); err != nil {
		t.Fatal(err)
	}
}

// webPods are the running (not terminating) pods of tool's web service.
func webPods(t *testing.T, tool string) []string {
	t.Helper()
	pods, err := cluster.Client.CoreV1().Pods("tool-"+tool).List(context.Background(), metav1.ListOptions{LabelSelector: "app.kubernetes.io/component=web"})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, pd := range pods.Items {
		if pd.DeletionTimestamp == nil {
			out = append(out, pd.Name)
		}
	}
	sort.Strings(out)
	return out
}
