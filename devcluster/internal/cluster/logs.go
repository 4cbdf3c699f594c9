package cluster

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/spf13/pflag"

	"github.com/toolforge-go/toolforge/devcluster/internal/node"
)

// The log store and its collectors: VictoriaLogs (`victoria-logs`, one
// process beside the control plane, on loopback) keeps the cluster's pod
// logs; every real node has a collector (`vlagent` with its Kubernetes
// collector, a host process reading the node's container logs) that sends
// them to the store, or to --logs-ingest (the platform's ingestion, which
// gives each tool its own tenant). Both are built by make from the
// VictoriaLogs module (hack/upstream.sh).
const (
	victoriaLogsProgram = "victoria-logs"
	vlagentProgram      = "vlagent"
	// logsStore is the store's process and log name.
	logsStore = "logs-store"
	// containerLogLinksInNode is kubelet's fixed directory of links to its
	// containers' logs (pod_namespace_container-id.log), which the
	// collector reads: each node has its own (bound there by the sandbox),
	// so kubelets never share the host's.
	containerLogLinksInNode = "/var/log/containers"
	// DefaultLogsRetention is how long the store keeps lines (Toolforge's
	// 14 days).
	DefaultLogsRetention = "14d"
)

// LogsOptions are the store's and collectors' settings.
type LogsOptions struct {
	// Ingest is where the collectors send lines: a URL taking vlagent's
	// remote write in JSON lines. Empty: the store itself (tenant 0:0).
	Ingest string
	// Retention is the store's retention period (VictoriaLogs' syntax:
	// 14d, 2w, 1y, 36h).
	Retention string
}

// AddLogsFlags registers the logs flags of start (and supervise).
func AddLogsFlags(fs *pflag.FlagSet, o *LogsOptions) {
	fs.StringVar(&o.Ingest, "logs-ingest", "", "URL the nodes' log collectors send pods' lines to (vlagent's remote write, JSON lines), e.g. the platform's logs ingestion; default: the cluster's log store (tenant 0:0)")
	fs.StringVar(&o.Retention, "logs-retention", DefaultLogsRetention, "how long the log store keeps lines: N followed by h, d, w or y, at least 1d")
}

var retentionRE = regexp.MustCompile(`^([0-9]+)([hdwy])$`)

func (o *LogsOptions) validate() error {
	if o.Retention == "" {
		o.Retention = DefaultLogsRetention
	}
	m := retentionRE.FindStringSubmatch(o.Retention)
	if m == nil {
		return UsageError{fmt.Sprintf("--logs-retention %q: want N followed by h, d, w or y (e.g. 14d)", o.Retention)}
	}
	if n, _ := strconv.Atoi(m[1]); (m[2] == "h" && n < 24) || n < 1 {
		return UsageError{fmt.Sprintf("--logs-retention %q: the store keeps lines at least 1d", o.Retention)}
	}
	if o.Ingest != "" {
		u, err := url.Parse(o.Ingest)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return UsageError{fmt.Sprintf("--logs-ingest %q: want an http(s) URL", o.Ingest)}
		}
	}
	return nil
}

// args passes the options on to the supervisor.
func (o LogsOptions) args() []string {
	out := []string{"--logs-retention", o.Retention}
	if o.Ingest != "" {
		out = append(out, "--logs-ingest", o.Ingest)
	}
	return out
}

// LogsStoreData is the store's data directory; it survives stop/start.
func (l Layout) LogsStoreData() string { return filepath.Join(l.Dir, "logs-store") }

// containerLogLinks is where a node's kubelet links its containers' logs
// (the node sees it at containerLogLinksInNode).
func containerLogLinks(cfg node.Config) string { return filepath.Join(cfg.Dir, "containers") }

// collectorDir is a node's collector's state: read offsets and the
// on-disk buffer of lines the store has not taken yet.
func collectorDir(cfg node.Config) string { return filepath.Join(cfg.Dir, "vlagent") }

// startLogs starts the store and a collector per real node (the nodes are
// registered by then: a collector starts by reading its Node). It returns
// the check that the store answers.
func (s *supervisor) startLogs() (func(context.Context) error, error) {
	if err := os.MkdirAll(s.l.LogsStoreData(), 0o700); err != nil {
		return nil, err
	}
	storeURL := "http://" + hostPort(s.p.LogsStore)
	store := s.addChild(&child{name: logsStore, exe: s.tools.victoriaLogs, logFile: s.l.Log(logsStore), addr: hostPort(s.p.LogsStore), args: []string{
		"-storageDataPath=" + s.l.LogsStoreData(),
		"-httpListenAddr=" + hostPort(s.p.LogsStore),
		"-retentionPeriod=" + s.o.Logs.Retention,
		// Lines the store took are on disk within a second, so that a
		// crash loses at most the last one (the default is 5 s).
		"-inmemoryDataFlushInterval=1s",
	}})
	if err := store.start(); err != nil {
		return nil, err
	}
	target := s.o.Logs.Ingest
	if target == "" {
		// One stream: a line a container writes as JSON may name the
		// collector's own fields, and a stream field given twice makes
		// VictoriaLogs v1.52.2 panic on the row (the platform's
		// ingestion rebuilds every row, so it never sees one).
		target = storeURL + "/insert/jsonline"
	}
	// vlagent's flag lists split on commas: a URL's are escaped.
	target = strings.ReplaceAll(target, ",", "%2C")
	cfg, err := s.restConfig()
	if err != nil {
		return nil, err
	}
	for _, n := range s.nodes {
		view, err := startAPIView(cfg, n.cfg.Name)
		if err != nil {
			return nil, fmt.Errorf("%s: the log collector's API view: %w", n.cfg.Name, err)
		}
		s.services = append(s.services, namedService{view, n.cfg.Name + "/api-view", view.addr})
		kubeconfig := s.l.ComponentKubeconfig(n.cfg.Name + "-vlagent")
		if err := writeViewKubeconfig(kubeconfig, "http://"+view.addr); err != nil {
			return nil, err
		}
		for _, d := range []string{containerLogLinks(n.cfg), collectorDir(n.cfg)} {
			if err := os.MkdirAll(d, 0o700); err != nil {
				return nil, err
			}
		}
		c := s.addChild(&child{name: n.cfg.Name + "/vlagent", exe: s.tools.vlagent, logFile: s.l.Log(n.cfg.Name + "-vlagent"),
			env: []string{"KUBECONFIG=" + kubeconfig}, args: collectorArgs(n.cfg, target)})
		if err := c.start(); err != nil {
			return nil, err
		}
	}
	s.publish()
	return func(ctx context.Context) error { return httpGetOK(ctx, storeURL+"/health") }, nil
}

// collectorArgs is a node's vlagent's command line.
func collectorArgs(cfg node.Config, target string) []string {
	return []string{
		"-kubernetesCollector",
		"-kubernetesCollector.logsPath=" + containerLogLinks(cfg),
		"-tmpDataPath=" + collectorDir(cfg),
		"-remoteWrite.url=" + target,
		"-remoteWrite.format=jsonline",
		// A line is what the container wrote: never take its message or
		// time from fields of a JSON line (no field has this name), and
		// add no placeholder message to a line without one. The time is
		// when the runtime read it.
		"-kubernetesCollector.msgField=toolforge.no-such-field",
		"-kubernetesCollector.timeField=toolforge.no-such-field",
		"-defaultMsgValue=",
		// No HTTP listener: the collector only sends.
		"-httpListenAddr=",
	}
}

// writeViewKubeconfig is the collector's kubeconfig: its node's API view,
// plain HTTP on loopback (vlagent's local mode reads a kubeconfig and
// needs a user entry, which has no credentials here).
func writeViewKubeconfig(path, server string) error {
	cfg := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: view
  cluster: {server: %q}
users:
- name: vlagent
  user: {}
contexts:
- name: view
  context: {cluster: view, user: vlagent}
current-context: view
`, server)
	return os.WriteFile(path, []byte(cfg), 0o600)
}
