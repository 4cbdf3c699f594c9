package cluster

import (
	"context"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"

	"github.com/toolforge-go/toolforge/devcluster/internal/egress"
	"github.com/toolforge-go/toolforge/devcluster/internal/gitserver"
)

// Ports of what the build service uses on the nodes' gateway (the
// gateway's address is the cluster's own, so fixed ports do not clash).
const (
	// GitGatewayPort serves DIR/git/NAME.git read-only over smart HTTP.
	GitGatewayPort = 8418
	// EgressGatewayPort is the build service's egress proxy.
	EgressGatewayPort = 3128
)

// GitDir holds the bare repositories the git server serves.
func (l Layout) GitDir() string { return filepath.Join(l.Dir, "git") }

// EgressPasswordFile holds the egress proxy's password (mode 0600).
func (l Layout) EgressPasswordFile() string { return filepath.Join(l.Dir, "egress", "password") }

// BuildNamespace is the build service's namespace: only its pods may use
// the egress proxy.
const BuildNamespace = "image-build"

// startBuildServices starts the git server and the egress proxy on the
// nodes' gateway, which both the host and pods reach. The proxy serves
// the build namespace's pods only, by their addresses (pods' traffic
// reaches the gateway unmasqueraded), which it learns from a watch.
func (s *supervisor) startBuildServices(ctx context.Context) error {
	log, err := os.OpenFile(s.l.Log("git"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	gw := s.plan.Gateway().String()
	git, err := gitserver.Start(s.l.GitDir(), net.JoinHostPort(gw, strconv.Itoa(GitGatewayPort)), slog.New(slog.NewTextHandler(log, nil)))
	if err != nil {
		log.Close()
		return err
	}
	s.services = append(s.services, namedService{git, "git", git.Addr()}, log)
	s.state.Git = "http://" + git.Addr()

	elog, err := os.OpenFile(s.l.Log("egress"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	pw, err := egress.Password(s.l.EgressPasswordFile())
	if err != nil {
		elog.Close()
		return err
	}
	allow, err := s.buildPodIPs(ctx)
	if err != nil {
		elog.Close()
		return err
	}
	px, err := egress.Start(net.JoinHostPort(gw, strconv.Itoa(EgressGatewayPort)), pw, egress.DefaultHosts, allow, slog.New(slog.NewTextHandler(elog, nil)))
	if err != nil {
		elog.Close()
		return err
	}
	s.services = append(s.services, namedService{px, "egress", px.Addr()}, elog)
	s.state.Egress = "http://" + px.Addr()
	return nil
}

// buildPodIPs watches the build namespace's pods and says whether an
// address is one of theirs.
func (s *supervisor) buildPodIPs(ctx context.Context) (func(ip string) bool, error) {
	client, err := s.client()
	if err != nil {
		return nil, err
	}
	f := informers.NewSharedInformerFactoryWithOptions(client, 0, informers.WithNamespace(BuildNamespace))
	pods := f.Core().V1().Pods()
	inf := pods.Informer()
	f.Start(ctx.Done())
	return func(ip string) bool {
		if !inf.HasSynced() {
			return false
		}
		list, err := pods.Lister().List(labels.Everything())
		if err != nil {
			return false
		}
		for _, p := range list {
			if p.Status.PodIP == ip && (p.Status.Phase == corev1.PodPending || p.Status.Phase == corev1.PodRunning) {
				return true
			}
		}
		return false
	}, nil
}
