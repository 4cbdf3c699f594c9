// Command devcluster runs a real Kubernetes control plane on this machine:
// etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok
// simulated nodes, each a child process of one supervisor.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/toolforge-go/toolforge/devcluster/internal/cluster"
	"github.com/toolforge-go/toolforge/devcluster/internal/components"
)

func main() {
	// Multi-call: the supervisor runs each component as
	// `devcluster component <name> <its own flags>`.
	if len(os.Args) > 2 && os.Args[1] == "component" {
		os.Exit(components.Run(os.Args[2], os.Args[3:]))
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	err := newRoot().ExecuteContext(ctx)
	if err == nil {
		return
	}
	fmt.Fprintf(os.Stderr, "error: %v\n", err)
	var usage cluster.UsageError
	var flagErr flagError
	switch {
	case errors.As(err, &usage), errors.As(err, &flagErr):
		os.Exit(2)
	default:
		os.Exit(1)
	}
}

type flagError struct{ error }

func newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:           "devcluster",
		Short:         "A real local Kubernetes cluster: control plane, real nodes, simulated (kwok) nodes",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return flagError{err} })
	root.AddCommand(newStart(), newStop(), newStatus(), newSupervise(), newImages(), newNode(), newEtcd())
	return root
}

func newStart() *cobra.Command {
	o := cluster.Options{Nodes: 1, Port: 6443, IngressPort: 8000}
	timeout := 3 * time.Minute
	cmd := &cobra.Command{
		Use:   "start --dir DIR [--nodes N] [--kwok-nodes K] [--port P] [--ingress-port P] [--logs-ingest URL] [--logs-retention D]",
		Short: "Start a cluster in DIR and wait until it is ready",
		Long: `Start etcd, kube-apiserver, kube-controller-manager and kube-scheduler in the
background, N real nodes (kubelet, containerd with runc, CNI bridge
networking, kube-proxy, each node in its own namespaces) with cluster DNS,
a local registry serving the image catalogue and an ingress controller
answering HTTP on 127.0.0.1:<ingress-port>, a log store (VictoriaLogs) on
loopback with a log collector (vlagent) per real node, and K simulated
(kwok) nodes;
return once the API server is ready and every node is Ready.
Writes DIR/kubeconfig (cluster-admin) and DIR/ca.crt; logs go to DIR/logs/.
A cluster stopped earlier restarts with its data. Starting a running cluster
is not an error. Real nodes need root.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return cluster.Start(cmd.Context(), o, timeout, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	cmd.Flags().StringVar(&o.Dir, "dir", "", "cluster directory (required)")
	cmd.Flags().IntVar(&o.Nodes, "nodes", o.Nodes, "number of real nodes")
	cmd.Flags().IntVar(&o.KwokNodes, "kwok-nodes", 0, "number of simulated (kwok) nodes, for scale tests")
	cmd.Flags().IntVar(&o.Port, "port", o.Port, "API server port on 127.0.0.1")
	cmd.Flags().IntVar(&o.IngressPort, "ingress-port", o.IngressPort, "port on 127.0.0.1 where the ingress controller answers HTTP (real nodes)")
	cmd.Flags().BoolVar(&o.AuditLog, "audit-log", false, "log every API write to DIR/logs/audit.log")
	cluster.AddLogsFlags(cmd.Flags(), &o.Logs)
	cmd.Flags().DurationVar(&timeout, "timeout", timeout, "give up (and stop everything) if not ready by then")
	return cmd
}

func newStop() *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:   "stop --dir DIR",
		Short: "Stop every process of the cluster in DIR (its data is kept)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if dir == "" {
				return cluster.UsageError{Msg: "--dir is required"}
			}
			return cluster.Stop(cmd.Context(), dir, cmd.ErrOrStderr())
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "", "cluster directory (required)")
	return cmd
}

func newStatus() *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:   "status --dir DIR",
		Short: "Show what runs for the cluster in DIR (exit 1 when nothing does)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if dir == "" {
				return cluster.UsageError{Msg: "--dir is required"}
			}
			err := cluster.Status(dir, cmd.OutOrStdout())
			if errors.Is(err, cluster.ErrNotRunning) {
				os.Exit(1)
			}
			return err
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "", "cluster directory (required)")
	return cmd
}

func newSupervise() *cobra.Command {
	o := cluster.Options{}
	lockFD := 0
	cmd := &cobra.Command{
		Use:    "supervise",
		Short:  "Run the cluster in the foreground (what start runs in the background)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.Validate(); err != nil {
				return err
			}
			lock := os.NewFile(uintptr(lockFD), "lock")
			if lockFD == 0 {
				var err error
				if lock, err = cluster.Lock(o.Dir); err != nil {
					return err
				}
			}
			return cluster.Supervise(cmd.Context(), o, lock)
		},
	}
	cmd.Flags().StringVar(&o.Dir, "dir", "", "cluster directory")
	cmd.Flags().IntVar(&o.Nodes, "nodes", 1, "number of real nodes")
	cmd.Flags().IntVar(&o.KwokNodes, "kwok-nodes", 0, "number of simulated nodes")
	cmd.Flags().IntVar(&o.Port, "port", 6443, "API server port")
	cmd.Flags().IntVar(&o.IngressPort, "ingress-port", 8000, "ingress port")
	cmd.Flags().BoolVar(&o.AuditLog, "audit-log", false, "audit-log writes")
	cluster.AddLogsFlags(cmd.Flags(), &o.Logs)
	cmd.Flags().IntVar(&lockFD, "lock-fd", 0, "inherited, already held directory lock")
	return cmd
}

func newNode() *cobra.Command {
	cmd := &cobra.Command{Use: "node", Short: "Maintain the cluster's real nodes"}
	var dir string
	timeout := 3 * time.Minute
	restart := &cobra.Command{
		Use:   "restart --dir DIR NODE",
		Short: "Reboot a real node: every process and container on it ends, then it comes back Ready",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if dir == "" {
				return cluster.UsageError{Msg: "--dir is required"}
			}
			return cluster.RestartNode(cmd.Context(), dir, args[0], timeout, cmd.ErrOrStderr())
		},
	}
	restart.Flags().StringVar(&dir, "dir", "", "cluster directory (required)")
	restart.Flags().DurationVar(&timeout, "timeout", timeout, "give up if the node is not Ready again by then")
	cmd.AddCommand(restart)
	return cmd
}

func newEtcd() *cobra.Command {
	cmd := &cobra.Command{Use: "etcd", Short: "The cluster's etcd data"}
	var dir string
	restore := &cobra.Command{
		Use:   "restore --dir DIR SNAPSHOT",
		Short: "Replace a stopped cluster's etcd data with a snapshot (checked first; the old data is kept)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if dir == "" {
				return cluster.UsageError{Msg: "--dir is required"}
			}
			return cluster.RestoreEtcd(dir, args[0], cmd.ErrOrStderr())
		},
	}
	restore.Flags().StringVar(&dir, "dir", "", "cluster directory (required)")
	cmd.AddCommand(restore)
	return cmd
}
