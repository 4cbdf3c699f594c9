package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/flowcontrol"

	"github.com/toolforge-go/toolforge/internal/api/apitest"
	"github.com/toolforge-go/toolforge/internal/jobs"
	jobsserver "github.com/toolforge-go/toolforge/internal/jobs/server"
	"github.com/toolforge-go/toolforge/internal/testcluster"
)

var (
	jobsTools     = flag.Int("jobs-tools", 100, "tools the jobs benchmark creates jobs for")
	jobsPerTool   = flag.Int("jobs-per-tool", 10, "jobs created per tool")
	jobsClients   = flag.Int("jobs-clients", 20, "concurrent clients creating jobs")
	listJobs      = flag.Int("jobs-list-size", 50, "jobs of the tool whose list is measured")
	listClients   = flag.Int("jobs-list-clients", 50, "concurrent clients listing")
	listRequests  = flag.Int("jobs-list-requests", 30000, "list requests in all (a few seconds of load, so one pause is not the p99)")
	listP99Target = 50 * time.Millisecond
)

// benchJobs creates jobs through the API from concurrent clients, each a
// tool with its own certificate, and lists a tool's jobs from many
// clients. Jobs are scheduled jobs: the API writes one object per job (a
// CronJob; quota admission and controllers add their own writes, counted
// from the audit log), and no pods compete for the API server. Creates are
// compared with the same CronJobs written directly, and the writes they
// cause with the raw write limit, both measured in the same run.
func benchJobs(ctx context.Context, r *report) error {
	c, err := testcluster.Start(ctx, testcluster.Options{Nodes: 1, AuditLog: true})
	if err != nil {
		return err
	}
	defer cleanup("stop devcluster", c.Stop)
	names := make([]string, *jobsTools)
	for i := range names {
		names[i] = fmt.Sprintf("bench%03d", i)
	}
	t0 := time.Now()
	tools, err := c.ProvisionTools(ctx, append(names, "lister")...)
	if err != nil {
		return err
	}
	r.add(fmt.Sprintf("setup: %d tools provisioned", len(tools)), "%s", secs(time.Since(t0)))
	server, err := apitest.Start(ctx, c)
	if err != nil {
		return err
	}
	defer cleanup("stop toolforged api", server.Stop)
	ca, err := apitest.CA(ctx, c)
	if err != nil {
		return err
	}
	clients := map[string]*http.Client{}
	for name, tool := range tools {
		if clients[name], err = toolClient(ca, tool.CertFile, tool.KeyFile); err != nil {
			return err
		}
	}

	raw, err := rawWrites(ctx, c.Config, 2000, *jobsClients)
	if err != nil {
		return err
	}
	r.add(fmt.Sprintf("raw write limit (ConfigMap creates, %d clients)", *jobsClients), "%.0f writes/s", raw.rate)

	// The same objects written straight to the API server (as the admin,
	// bypassing the jobs API): CronJobs into the tools' namespaces, where
	// each create also passes quota admission.
	direct, err := directCronJobCreates(ctx, c, names, *jobsClients)
	if err != nil {
		return err
	}
	r.add(fmt.Sprintf("direct CronJob creates in tool namespaces, %d clients", *jobsClients), "%.0f/s (p50 %s, p99 %s)", direct.rate, ms(direct.lat.percentile(50)), ms(direct.lat.percentile(99)))

	type task struct{ tool, job string }
	var tasks []task
	for j := 0; j < *jobsPerTool; j++ {
		for _, tool := range names {
			tasks = append(tasks, task{tool, fmt.Sprintf("job%02d", j)})
		}
	}
	writesBefore, err := auditedWrites(c)
	if err != nil {
		return err
	}
	lat, took, err := hammer(ctx, len(tasks), *jobsClients, func(_, i int) error {
		t := tasks[i]
		return post(ctx, clients[t.tool], server.URL+"/jobs/v1/tool/"+t.tool+"/jobs",
			jobs.Job{Name: t.job, Command: "./run.sh", Image: "bookworm", Schedule: "@daily"})
	})
	if err != nil {
		return err
	}
	writesAfter, err := auditedWrites(c)
	if err != nil {
		return err
	}
	rate := float64(len(tasks)) / took.Seconds()
	writes := writesAfter - writesBefore
	writeRate := float64(writes) / took.Seconds()
	r.check(fmt.Sprintf("create %d jobs (%d tools × %d) through the API, %d clients", len(tasks), *jobsTools, *jobsPerTool, *jobsClients),
		fmt.Sprintf("%.0f jobs/s", rate), fmt.Sprintf("≥ %.0f/s (½ of direct)", direct.rate/2), rate >= direct.rate/2)
	r.add("  create latency p50 / p99", "%s / %s", ms(lat.percentile(50)), ms(lat.percentile(99)))
	r.check("  API server writes meanwhile (all writers, audit log)", fmt.Sprintf("%.0f writes/s (%.1f per job)", writeRate, float64(writes)/float64(len(tasks))),
		fmt.Sprintf("≥ %.0f/s (½ raw)", raw.rate/2), writeRate >= raw.rate/2)

	for j := 0; j < *listJobs; j++ {
		err := post(ctx, clients["lister"], server.URL+"/jobs/v1/tool/lister/jobs",
			jobs.Job{Name: fmt.Sprintf("job%02d", j), Command: "./run.sh", Image: "bookworm", Schedule: "@hourly"})
		if err != nil {
			return err
		}
	}
	listURL := server.URL + "/jobs/v1/tool/lister/jobs"
	// One request per client first: connections (TLS handshakes) are made
	// once per client, not per list.
	if _, _, err := hammer(ctx, *listClients, *listClients, func(int, int) error {
		_, err := list(ctx, clients["lister"], listURL, true)
		return err
	}); err != nil {
		return err
	}
	var listed atomic.Int64
	lat, took, err = hammer(ctx, *listRequests, *listClients, func(_, i int) error {
		// Decoding every 25 KiB answer would make the clients, on the same
		// CPUs, the bottleneck: every 50th is decoded and checked.
		n, err := list(ctx, clients["lister"], listURL, i%50 == 0)
		if n >= 0 {
			listed.Store(int64(n))
		}
		return err
	})
	if err != nil {
		return err
	}
	if int(listed.Load()) != *listJobs {
		return fmt.Errorf("list returned %d jobs, want %d", listed.Load(), *listJobs)
	}
	p99 := lat.percentile(99)
	r.check(fmt.Sprintf("list a tool's %d jobs, %d clients: p99", *listJobs, *listClients), ms(p99), "≤ 50 ms", p99 <= listP99Target)
	r.add("  list p50", "%s", ms(lat.percentile(50)))
	r.add("  list throughput", "%.0f lists/s", float64(*listRequests)/took.Seconds())
	r.note("clients, API server, kube-apiserver and etcd share this machine's CPUs; the API runs as its least-privilege ServiceAccount")
	return nil
}

func toolClient(ca []byte, certFile, keyFile string) (*http.Client, error) {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		return nil, fmt.Errorf("no CA published by the API")
	}
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, err
	}
	return &http.Client{Timeout: time.Minute, Transport: &http.Transport{
		TLSClientConfig:     &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{pair}},
		MaxIdleConnsPerHost: 100, // keep every worker's connection
	}}, nil
}

func post(ctx context.Context, hc *http.Client, url string, body any) error {
	b, _ := json.Marshal(body)
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusCreated {
		return fmt.Errorf("POST %s: %d %s", url, resp.StatusCode, out)
	}
	return nil
}

// list gets url and, with decode, returns how many jobs it lists (else -1).
func list(ctx context.Context, hc *http.Client, url string, decode bool) (int, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := hc.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if !decode && resp.StatusCode == http.StatusOK {
		// Read to EOF (so the connection is reused) without keeping it.
		_, err := io.Copy(io.Discard, resp.Body)
		return -1, err
	}
	var out jobs.JobList
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	if err := json.Unmarshal(data, &out); err != nil {
		return 0, err
	}
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("GET %s: %d %v", url, resp.StatusCode, out.Messages)
	}
	return len(out.Jobs), nil
}

// directCronJobCreates writes, with client-go from clients concurrent
// clients, the very CronJobs the jobs API makes, into the tools'
// namespaces (through the same quota admission): the API server's own
// rate for what a job create writes.
func directCronJobCreates(ctx context.Context, c *testcluster.Cluster, tools []string, clients int) (writeResult, error) {
	cfg := rest.CopyConfig(c.Config)
	cfg.RateLimiter = flowcontrol.NewFakeAlwaysRateLimiter()
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return writeResult{}, err
	}
	const perTool = 5
	objs := make([]*batchv1.CronJob, len(tools)*perTool)
	for i := range objs {
		j := &jobs.Job{Name: fmt.Sprintf("direct%d", i), Command: "./run.sh", Image: "bookworm", Schedule: "@daily"}
		j.Normalize()
		built, err := jobsserver.Build(j, jobsserver.Target{Tool: tools[i%len(tools)], UID: 50001, Image: "docker-registry.tools.wmflabs.org/toolforge-bookworm-sssd:latest"})
		if err != nil {
			return writeResult{}, err
		}
		objs[i] = built.Top.(*batchv1.CronJob)
	}
	lat, took, err := hammer(ctx, len(objs), clients, func(_, i int) error {
		_, err := kube.BatchV1().CronJobs(objs[i].Namespace).Create(ctx, objs[i], metav1.CreateOptions{})
		return err
	})
	if err != nil {
		return writeResult{}, err
	}
	for _, o := range objs {
		cleanup("delete CronJob "+o.Name, func() error {
			return kube.BatchV1().CronJobs(o.Namespace).Delete(ctx, o.Name, metav1.DeleteOptions{})
		})
	}
	return writeResult{rate: float64(len(lat)) / took.Seconds(), lat: lat}, nil
}

// auditedWrites counts the writes the API server has logged so far (one
// line per write request, by anyone: clients, controllers, admission).
func auditedWrites(c *testcluster.Cluster) (int, error) {
	data, err := os.ReadFile(filepath.Join(c.Dir, "logs", "audit.log"))
	if err != nil {
		return 0, err
	}
	return bytes.Count(data, []byte(`"stage":"ResponseComplete"`)), nil
}
