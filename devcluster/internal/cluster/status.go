package cluster

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/toolforge-go/toolforge/devcluster/internal/registry/token"
)

// Status prints what runs for the cluster in dir. It returns ErrNotRunning
// (after saying so, and why if the last run failed) when nothing runs.
func Status(dir string, out io.Writer) error {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	l := Layout{Dir: abs}
	st, stErr := l.readState()
	if !running(l) {
		fmt.Fprintf(out, "devcluster in %s is not running\n", abs)
		if stErr == nil && st.Phase == PhaseFailed && st.Error != "" {
			fmt.Fprintf(out, "last run failed: %s\n", st.Error)
		}
		return ErrNotRunning
	}
	fmt.Fprintf(out, "devcluster in %s: %s", abs, st.Phase)
	if !st.ReadyAt.IsZero() {
		fmt.Fprintf(out, " since %s (started in %.1fs)", st.ReadyAt.Format(time.RFC3339), st.ReadyAt.Sub(st.StartedAt).Seconds())
	}
	fmt.Fprintf(out, "\nAPI server: %s\nkubeconfig: %s\n", st.APIURL, l.Kubeconfig())
	fmt.Fprintln(out, etcdLine(st))
	fmt.Fprintf(out, "nodes: %d real, %d simulated\n", st.Nodes, st.KwokNodes)
	if st.IngressURL != "" {
		fmt.Fprintf(out, "ingress: %s\n", st.IngressURL)
		registryLines(out, st)
		if st.LogsStore != "" {
			fmt.Fprintf(out, "logs store: %s\n", st.LogsStore)
		}
	}
	if st.Git != "" {
		fmt.Fprintf(out, "git: %s/\negress proxy (builds): %s (user %s, password in %s)\n", st.Git, st.Egress, "builds", l.EgressPasswordFile())
	}
	if n := st.Network; n != nil {
		fmt.Fprintf(out, "network: bridge %s, gateway %s, pods %s, services %s\n", n.Bridge, n.Gateway, n.PodCIDR, n.ServiceCIDR)
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "COMPONENT\tPID\tRESTARTS\tLISTENS\tLOG")
	fmt.Fprintf(tw, "supervisor\t%d\t-\t-\t%s\n", st.SupervisorPID, l.Log("supervisor"))
	for _, p := range st.Procs {
		name := p.Name
		if p.InSupervisor {
			name += " (in supervisor)"
		}
		addr, log := p.Addr, l.Log(strings.ReplaceAll(p.Name, "/", "-"))
		if addr == "" {
			addr = "-"
		}
		if _, err := os.Stat(log); err != nil {
			log = "-"
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\n", name, p.PID, p.Restarts, addr, log)
	}
	return tw.Flush()
}

// etcdLine says where etcd is and what opens it.
func etcdLine(st State) string {
	if st.EtcdCert == "" {
		return "etcd: " + st.EtcdURL
	}
	return fmt.Sprintf("etcd: %s (client certificate %s, key %s, CA %s)", st.EtcdURL, st.EtcdCert, st.EtcdKey, st.EtcdCACert)
}

// registryLines say where the registry and its token service answer, and
// where the credentials for writing to it are.
func registryLines(out io.Writer, st State) {
	if st.RegistryGateway == "" { // a cluster started before the registry had tokens
		fmt.Fprintf(out, "registry: %s\n", st.Registry)
		return
	}
	fmt.Fprintf(out, "registry: %s (nodes and pods: %s); anyone pulls, push and delete need a token\n", st.Registry, st.RegistryGateway)
	fmt.Fprintf(out, "registry token service: http://%s%s (nodes and pods: http://%s%s)\n", st.Registry, token.Path, st.RegistryGateway, token.Path)
	fmt.Fprintf(out, "registry credentials: %s (any repository), %s (tool-<tool>/<name> only)\n",
		token.CredentialsFile(st.RegistryCredentials, token.Admin), token.CredentialsFile(st.RegistryCredentials, token.Builds))
}
