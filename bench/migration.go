package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/toolforge-go/toolforge/internal/images"
	"github.com/toolforge-go/toolforge/internal/jobs"
	jobsserver "github.com/toolforge-go/toolforge/internal/jobs/server"
	"github.com/toolforge-go/toolforge/internal/migration"
	"github.com/toolforge-go/toolforge/internal/migration/force"
	"github.com/toolforge-go/toolforge/internal/tenancy"
	"github.com/toolforge-go/toolforge/internal/testcluster"
	"github.com/toolforge-go/toolforge/internal/webservice"
)

var (
	migrationKubeconfigs = flag.Int("migration-kubeconfigs", 3000, "tools' kubeconfigs switched by --force-migrate")
	migrationTools       = flag.Int("migration-tools", 300, "tools, each with a web service and 2 jobs, moved by migration force")
	migrationWorkers     = flag.Int("migration-workers", 8, "migration force --workers")
)

const (
	forceMigrateTarget = 10 * time.Second
	forceTarget        = 120 * time.Second
)

// benchMigration measures the migration's two bulk operations:
// `toolforged accounts --force-migrate --once` over thousands of tools'
// kubeconfigs (files only: it does not connect to the cluster), and
// `toolforge-admin migration force` moving hundreds of tools, each with a
// web service and two jobs, between two devclusters of kwok nodes.
func benchMigration(ctx context.Context, r *report) error {
	if err := benchForceMigrate(ctx, r); err != nil {
		return err
	}
	return benchForce(ctx, r)
}

func benchForceMigrate(ctx context.Context, r *report) error {
	bin, err := testcluster.BuildBinary("toolforged")
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "bench-force-migrate-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	n := *migrationKubeconfigs
	var accounts bytes.Buffer
	accounts.WriteString("tools:\n")
	for i := range n {
		name := fmt.Sprintf("tool%d", i)
		fmt.Fprintf(&accounts, "  - {name: %s, uid: %d}\n", name, 100000+i)
		// What the two accounts controllers leave: both clusters' entries,
		// the old one current.
		cfg := clientcmdapi.NewConfig()
		for _, c := range []string{"default", "toolforge"} {
			cfg.Clusters[c] = &clientcmdapi.Cluster{Server: "https://" + c + ".example:6443", CertificateAuthorityData: []byte("ca")}
			cfg.AuthInfos[tenancy.ToolUserName(name, c)] = &clientcmdapi.AuthInfo{ClientCertificate: "/x/client.crt", ClientKey: "/x/client.key"}
			cfg.Contexts[c] = &clientcmdapi.Context{Cluster: c, AuthInfo: tenancy.ToolUserName(name, c), Namespace: tenancy.Namespace(name)}
		}
		cfg.CurrentContext = "default"
		path := filepath.Join(dir, "home", name, ".kube", "config")
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return err
		}
		if err := clientcmd.WriteToFile(*cfg, path); err != nil {
			return err
		}
	}
	file := filepath.Join(dir, "accounts.yaml")
	if err := os.WriteFile(file, accounts.Bytes(), 0o644); err != nil {
		return err
	}
	run := func() (time.Duration, string, error) {
		cmd := exec.CommandContext(ctx, bin, "accounts", "--once", "--force-migrate", "--accounts-file", file,
			"--home-root", filepath.Join(dir, "home"), "--kubeconfig", filepath.Join(dir, "no-cluster"), "--metrics-addr", "0", "--health-addr", "0")
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		t0 := time.Now()
		err := cmd.Run()
		took := time.Since(t0)
		if err != nil {
			return took, "", fmt.Errorf("--force-migrate: %w\n%s", err, tail(out.String(), 10))
		}
		lines := strings.Split(strings.TrimSpace(out.String()), "\n")
		return took, lines[len(lines)-1], nil
	}
	first, summary, err := run()
	if err != nil {
		return err
	}
	r.check(fmt.Sprintf("--force-migrate --once, %d kubeconfigs", n), secs(first), "≤ 10 s", first <= forceMigrateTarget)
	r.note("first run: %s", summary)
	again, summary, err := run()
	if err != nil {
		return err
	}
	r.add("  the same again (nothing to switch)", "%s", secs(again))
	r.note("second run: %s", summary)
	return nil
}

func benchForce(ctx context.Context, r *report) error {
	n := *migrationTools
	admin, err := testcluster.BuildBinary("toolforge-admin")
	if err != nil {
		return err
	}
	// 600 pods a cluster (a web service and a continuous job per tool),
	// 110 per kwok node (and 16 CPUs: the pods ask for little).
	nodes := (2*n)/100 + 2
	var old, neu *testcluster.Cluster
	var errs [2]error
	var wg sync.WaitGroup
	wg.Go(func() { old, errs[0] = testcluster.Start(ctx, testcluster.Options{Nodes: nodes}) })
	wg.Go(func() { neu, errs[1] = testcluster.Start(ctx, testcluster.Options{Nodes: nodes}) })
	wg.Wait()
	for i, c := range []*testcluster.Cluster{old, neu} {
		if c != nil {
			defer cleanup("stop devcluster", c.Stop)
		}
		if errs[i] != nil {
			return errs[i]
		}
	}
	dir, err := os.MkdirTemp("", "bench-migration-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("mig%03d", i)
	}
	homes, admins := filepath.Join(dir, "homes"), filepath.Join(dir, "admins")
	accounts := func(args ...string) testcluster.Accounts {
		return testcluster.Accounts{HomeRoot: homes, Admins: []string{"benchadmin"}, AdminHomeRoot: admins, Args: args}
	}
	t0 := time.Now()
	if _, err := old.ProvisionToolsWith(ctx, accounts("--context-name", "default"), names...); err != nil {
		return err
	}
	if _, err := neu.ProvisionToolsWith(ctx, accounts("--gentle"), names...); err != nil {
		return err
	}
	if err := populate(ctx, old, names); err != nil {
		return err
	}
	r.note("setup (two clusters of %d kwok nodes, %d tools provisioned on both, their web services and jobs started on the old one): %s", nodes, n, secs(time.Since(t0)))

	adminRun := func(args ...string) (time.Duration, []byte, error) {
		cmd := exec.CommandContext(ctx, admin, args...)
		cmd.Env = append(withoutEnv("HOME", "KUBECONFIG"), "HOME="+filepath.Join(admins, "benchadmin"))
		var out, errOut bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errOut
		t0 := time.Now()
		err := cmd.Run()
		if err != nil {
			return 0, nil, fmt.Errorf("toolforge-admin %s: %w\n%s", strings.Join(args, " "), err, tail(errOut.String(), 10))
		}
		return time.Since(t0), out.Bytes(), nil
	}
	common := []string{"--from", "default", "--to", "toolforge", "--home-root", homes}
	took, out, err := adminRun(append([]string{"migration", "report", "-o", "json"}, common...)...)
	if err != nil {
		return err
	}
	var rep migration.Report
	if err := json.Unmarshal(out, &rep); err != nil {
		return err
	}
	r.add(fmt.Sprintf("migration report, %d tools pending", len(rep.Tools)), "%s", secs(took))
	took, out, err = adminRun(append([]string{"migration", "force", "--yes", "-o", "json", "--workers", fmt.Sprint(*migrationWorkers)}, common...)...)
	if err != nil {
		return err
	}
	var results []force.Result
	if err := json.Unmarshal(out, &results); err != nil {
		return err
	}
	moved := 0
	for _, res := range results {
		if res.Outcome == force.Migrated && res.Moved != nil && res.Moved.Web != "" && len(res.Moved.Jobs) == 2 && res.Moved.Switched {
			moved++
		}
	}
	r.check(fmt.Sprintf("migration force, %d tools × (web service + 2 jobs), --workers %d", n, *migrationWorkers), secs(took), "≤ 120 s", took <= forceTarget && moved == n)
	r.add("  tools moved whole", "%d of %d (%.1f tools/s)", moved, n, float64(moved)/took.Seconds())
	took, out, err = adminRun(append([]string{"migration", "report", "-o", "json"}, common...)...)
	if err != nil {
		return err
	}
	rep = migration.Report{}
	if err := json.Unmarshal(out, &rep); err != nil {
		return err
	}
	r.check(fmt.Sprintf("report afterwards (%s): tools left", secs(took)), fmt.Sprint(len(rep.Tools)), "0", len(rep.Tools) == 0)
	return nil
}

// populate starts, on cluster c, a web service and two jobs (scheduled and
// continuous) for every tool, as the cluster admin, through the same code
// the CLI and the API run.
func populate(ctx context.Context, c *testcluster.Cluster, names []string) error {
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return err
	}
	direct, err := client.New(c.Config, client.Options{Scheme: scheme})
	if err != nil {
		return err
	}
	store := &jobsserver.Store{Reader: direct, Writer: direct, Kube: c.Client, Log: slog.New(slog.DiscardHandler),
		Images: func(ctx context.Context) (*images.Catalogue, error) {
			return images.Load(ctx, c.Client.CoreV1().ConfigMaps(tenancy.PlatformNamespace))
		}}
	work := make(chan string)
	errc := make(chan error, len(names))
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for name := range work {
				ws := &webservice.Client{Kube: c.Client, Config: c.Config, Tool: name, Namespace: tenancy.Namespace(name),
					Domain: tenancy.DefaultDomain, PlatformNamespace: tenancy.PlatformNamespace, Out: io.Discard, ErrOut: io.Discard,
					Timeout: 10 * time.Minute, WithoutHome: true}
				if err := ws.Start(ctx, webservice.Options{Flags: webservice.Choices{Type: "python3.11", CPU: "100m", Mem: "256Mi"}}); err != nil {
					errc <- fmt.Errorf("%s: web service: %w", name, err)
					continue
				}
				for _, j := range []*jobs.Job{
					// February 29th: never while the benchmark runs (a
					// macro could fire in the middle of it).
					{Name: "nightly", Command: "./nightly.sh", Image: "bookworm", Schedule: "0 0 29 2 *"},
					{Name: "worker", Command: "./worker.sh", Image: "python3.11", Continuous: true, Memory: "256Mi", CPU: "100m"},
				} {
					if _, _, err := store.Create(ctx, name, j); err != nil {
						errc <- fmt.Errorf("%s: job %s: %w", name, j.Name, err)
					}
				}
			}
		})
	}
	for _, n := range names {
		work <- n
	}
	close(work)
	wg.Wait()
	close(errc)
	for err := range errc {
		return err
	}
	return nil
}

func withoutEnv(keys ...string) []string {
	var out []string
	for _, kv := range os.Environ() {
		keep := true
		for _, k := range keys {
			if strings.HasPrefix(kv, k+"=") {
				keep = false
			}
		}
		if keep {
			out = append(out, kv)
		}
	}
	return out
}
