package workloads_test

import (
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/toolforge-go/toolforge/internal/images"
	"github.com/toolforge-go/toolforge/internal/testcluster"
	"github.com/toolforge-go/toolforge/internal/webservice"
)

// unbuildable are the catalogue's deprecated types whose images devcluster
// cannot build (their Debian releases are archived).
var unbuildable = []string{"golang1.11", "mono6.8", "node16", "ruby2.1"}

// webTypes are the catalogue's web types devcluster builds.
func webTypes() []string {
	var out []string
	for _, typ := range webservice.Types(images.Builtin()) {
		if !slices.Contains(unbuildable, typ) {
			out = append(out, typ)
		}
	}
	return out
}

// webTypeTool is the tool that runs type typ's web service: a tool has
// one Service, so each type has a tool of its own and they run at once.
func webTypeTool(typ string) string { return "wt-" + strings.ReplaceAll(typ, ".", "") }

func init() {
	for _, typ := range webTypes() {
		toolNames = append(toolNames, webTypeTool(typ))
	}
}

// heavyTypes compile the tool's code at start (javac, go build): they get
// a CPU and the memory to do it in reasonable time; the others run small.
var heavyTypes = map[string]bool{"jdk17": true, "golang1.21": true}

// webTypesAtOnce bounds the web services of this test that run at the
// same time, so that their CPU requests fit on the node beside the
// package's other tests.
const webTypesAtOnce = 4

// appFor is a tool's code for a web service of typ at home, what it
// serves, and the service.template of a type that runs a command.
func appFor(typ, home string) (files map[string]string, want string) {
	say := func(what string) string { return what + " says hi\n" }
	switch {
	case strings.HasPrefix(typ, "php"):
		return map[string]string{"public_html/index.php": `<?php echo "php ", PHP_MAJOR_VERSION, " says hi\n";`}, "php " + typ[3:4] + " says hi\n"
	case strings.HasPrefix(typ, "python"):
		return map[string]string{"www/python/src/app.py": "import sys\n\ndef app(environ, start_response):\n    start_response('200 OK', [])\n    return [('python %d.%d says hi\\n' % sys.version_info[:2]).encode()]\n"}, "python " + strings.TrimPrefix(typ, "python") + " says hi\n"
	case strings.HasPrefix(typ, "node"):
		return map[string]string{
			"www/js/package.json": `{"name": "hi", "version": "1.0.0", "scripts": {"start": "node server.js"}}`,
			"www/js/server.js":    `require("http").createServer((q, s) => s.end("node " + process.versions.node.split(".")[0] + " says hi\n")).listen(process.env.PORT);`,
		}, "node " + strings.TrimPrefix(typ, "node") + " says hi\n"
	case strings.HasPrefix(typ, "perl"), typ == "bookworm": // bookworm: Debian's perl-base
		return map[string]string{
			"service.template": "extra_args: [perl, " + home + "/server.pl]\n",
			"server.pl":        "use IO::Socket::INET;\n$SIG{PIPE} = 'IGNORE';\nmy $s = IO::Socket::INET->new(LocalPort => $ENV{PORT}, Listen => 5, ReuseAddr => 1) or die $!;\nwhile (my $c = $s->accept) { while (my $l = <$c>) { last if $l =~ /^\\r?\\n$/ } print $c \"HTTP/1.0 200 OK\\r\\n\\r\\n" + say("perl") + "\"; close $c }\n",
		}, say("perl")
	case strings.HasPrefix(typ, "ruby"):
		return map[string]string{
			"service.template": "extra_args: [ruby, " + home + "/server.rb]\n",
			"server.rb":        "require 'socket'\ns = TCPServer.new(ENV['PORT'].to_i)\nloop do\n  c = s.accept\n  while (l = c.gets) && l.strip != ''; end\n  begin; c.print \"HTTP/1.0 200 OK\\r\\n\\r\\n" + strings.TrimSuffix(say("ruby"), "\n") + "\\n\"; rescue StandardError; end\n  c.close\nend\n",
		}, say("ruby")
	case strings.HasPrefix(typ, "tcl"):
		return map[string]string{
			"service.template": "extra_args: [tclsh, " + home + "/server.tcl]\n",
			"server.tcl":       "proc serve {c a p} {\n  fconfigure $c -translation binary\n  while {[gets $c line] > 0 && [string trim $line] ne \"\"} {}\n  catch {puts -nonewline $c \"HTTP/1.0 200 OK\\r\\n\\r\\n" + strings.TrimSuffix(say("tcl"), "\n") + "\\n\"}\n  catch {close $c}\n}\nsocket -server serve $env(PORT)\nvwait forever\n",
		}, say("tcl")
	case strings.HasPrefix(typ, "jdk"):
		return map[string]string{
			"service.template": "extra_args: [java, " + home + "/Server.java]\n",
			"Server.java":      "import com.sun.net.httpserver.HttpServer;\nimport java.net.InetSocketAddress;\npublic class Server {\n  public static void main(String[] a) throws Exception {\n    HttpServer s = HttpServer.create(new InetSocketAddress(Integer.parseInt(System.getenv(\"PORT\"))), 0);\n    s.createContext(\"/\", x -> { byte[] b = \"" + strings.TrimSuffix(say("java"), "\n") + "\\n\".getBytes(); x.sendResponseHeaders(200, b.length); x.getResponseBody().write(b); x.close(); });\n    s.start();\n  }\n}\n",
		}, say("java")
	case strings.HasPrefix(typ, "golang"):
		return map[string]string{
			"service.template": "extra_args: [go, run, " + home + "/server.go]\n",
			// net, not net/http: go run compiles what the program
			// imports, and net/http (with crypto/tls) is most of that
			// (2.5 minutes at one CPU, against seconds).
			"server.go": "package main\n\nimport (\n\t\"bufio\"\n\t\"net\"\n\t\"os\"\n)\n\nfunc main() {\n\tl, err := net.Listen(\"tcp\", \":\"+os.Getenv(\"PORT\"))\n\tif err != nil {\n\t\tpanic(err)\n\t}\n\tfor {\n\t\tc, err := l.Accept()\n\t\tif err != nil {\n\t\t\tcontinue\n\t\t}\n\t\tgo func() {\n\t\t\tdefer c.Close()\n\t\t\tr := bufio.NewReader(c)\n\t\t\tfor {\n\t\t\t\tl, err := r.ReadString('\\n')\n\t\t\t\tif err != nil || l == \"\\r\\n\" || l == \"\\n\" {\n\t\t\t\t\tbreak\n\t\t\t\t}\n\t\t\t}\n\t\t\tc.Write([]byte(\"HTTP/1.0 200 OK\\r\\n\\r\\n" + strings.TrimSuffix(say("go"), "\n") + "\\n\"))\n\t\t}()\n\t}\n}\n",
		}, say("go")
	}
	return nil, ""
}

// Every buildable web type of the catalogue starts and answers through
// the ingress. The images are built at once (a no-op where the machine's
// cache has them; on a fresh machine a minute or so each, in parallel),
// and the types start as soon as their image is there, a few at a time.
func TestEveryWebServiceTypeOfTheCatalogueServes(t *testing.T) {
	p := setup(t)
	devcluster, err := testcluster.Binary()
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	types := webTypes()
	built := map[string]chan error{}
	for _, typ := range types {
		built[typ] = make(chan error, 1)
		go func() {
			// Only the web image: the registry would build it on the
			// first pull, but within a command's timeout it may not.
			repo := strings.TrimSuffix(webRepo(typ), ":latest")
			out, err := exec.Command(devcluster, "images", "build", repo).CombinedOutput()
			if err != nil {
				err = fmt.Errorf("devcluster images build %s: %w\n%s", repo, err, out)
			}
			built[typ] <- err
		}()
	}
	slots := make(chan struct{}, webTypesAtOnce)
	t.Run("types", func(t *testing.T) {
		for _, typ := range types {
			t.Run(typ, func(t *testing.T) {
				t.Parallel()
				if err := <-built[typ]; err != nil {
					t.Fatal(err)
				}
				slots <- struct{}{}
				defer func() { <-slots }()
				serveType(t, p, typ)
			})
		}
	})
	t.Logf("%d web types served in %s", len(types), time.Since(start).Round(time.Second))
}

// webRepo is the reference of type typ's web image.
func webRepo(typ string) string {
	img, _ := images.Builtin().Lookup(typ)
	return img.Web[strings.LastIndexByte(img.Web, '/')+1:]
}

// serveType starts a web service of typ with a tool's code for it, waits
// for it to answer through the ingress and to log its start, and stops it.
func serveType(t *testing.T, p *platform, typ string) {
	tool := webTypeTool(typ)
	files, want := appFor(typ, "/data/project/"+tool)
	if files == nil {
		t.Fatalf("no test app for type %s", typ)
	}
	for name, content := range files {
		writeAsTool(t, p.Tools[tool], name, content)
	}
	cpu, mem := "0.25", "256Mi"
	if heavyTypes[typ] {
		cpu, mem = "1", "1Gi"
	}
	begin := time.Now()
	defer p.toolforge(t, tool, "webservice", "stop")
	p.ok(t, tool, "webservice", typ, "start", "--cpu", cpu, "--mem", mem)
	until(t, imageTimeout, func() error {
		code, body, err := curl(t, p.toolURL(tool, "/"))
		if err != nil || code != 200 || body != want {
			return fmt.Errorf("%d %q %v", code, body, err)
		}
		return nil
	})
	// The store and the kubelet's newest lines together: complete within
	// the store's visibility (a CI run once showed the start line missing
	// from a read made right after the first 200, not reproduced since).
	until(t, 30*time.Second, func() error {
		if logs := p.ok(t, tool, "webservice", "logs").Stdout; !strings.Contains(logs, "webservice-runner: starting "+typ+" on port 8000") {
			return fmt.Errorf("logs:\n%s", logs)
		}
		return nil
	})
	t.Logf("%s answered %s after its start", typ, time.Since(begin).Round(time.Second))
}
