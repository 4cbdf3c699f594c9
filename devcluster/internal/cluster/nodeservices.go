package cluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/toolforge-go/toolforge/devcluster/internal/addons"
	"github.com/toolforge-go/toolforge/devcluster/internal/cgroups"
	"github.com/toolforge-go/toolforge/devcluster/internal/images"
	"github.com/toolforge-go/toolforge/devcluster/internal/nodenet"
)

// coreDNS is cluster DNS's name: its process, log and client identity.
const coreDNS = "coredns"

// ingress is the ingress controller's process and log name.
const ingress = "traefik"

// SandboxImage is the pause image every pod's sandbox runs; it is served by
// the local registry (it cannot be pulled from the internet).
const SandboxImage = images.PauseImage

// CatalogueRegistries are the registry hosts whose pulls the nodes send to
// the local registry.
var CatalogueRegistries = []string{images.Registry, "registry.devcluster.localhost"}

// mirrors sends every catalogue registry's pulls to the local registry on
// the nodes' gateway.
func (s *supervisor) mirrors() map[string]string {
	url := "http://" + net.JoinHostPort(s.plan.Gateway().String(), strconv.Itoa(RegistryGatewayPort))
	m := map[string]string{}
	for _, h := range CatalogueRegistries {
		m[h] = url
	}
	return m
}

// startNodeServices starts what real nodes need from the host — the API
// forwarder, the registry, DNS and the ingress controller — then the
// nodes. It returns the checks that say they all work.
func (s *supervisor) startNodeServices(ctx context.Context) ([]func(context.Context) error, error) {
	relay := net.JoinHostPort(s.plan.Gateway().String(), strconv.Itoa(s.p.API))
	fwd, err := startForwarder(relay, hostPort(s.p.API))
	if err != nil {
		return nil, fmt.Errorf("API server for the nodes: %w", err)
	}
	s.services = append(s.services, namedService{fwd, "api-relay", relay})
	if err := s.startRegistry(ctx); err != nil {
		return nil, err
	}
	cfg, err := s.restConfig()
	if err != nil {
		return nil, err
	}
	if err := s.startBuildServices(ctx); err != nil {
		return nil, err
	}
	manifest := addons.DNSManifest(nodenet.DNSServiceIP, s.plan.Gateway()) + "---\n" + addons.IngressManifest()
	if err := addons.Apply(ctx, cfg, manifest); err != nil {
		return nil, fmt.Errorf("cluster add-ons: %w", err)
	}
	corefile := filepath.Join(s.l.Dir, "config", "Corefile")
	if err := os.WriteFile(corefile, []byte(addons.Corefile(s.plan.Gateway(), hostPort(s.p.DNSHealth), hostPort(s.p.DNSReady), s.l.ComponentKubeconfig(coreDNS), nodenet.ClusterDomain)), 0o644); err != nil {
		return nil, err
	}
	dns := s.addChild(&child{name: coreDNS, exe: s.tools.coredns, args: []string{"-conf", corefile}, logFile: s.l.Log(coreDNS), addr: net.JoinHostPort(s.plan.Gateway().String(), "53")})
	if err := dns.start(); err != nil {
		return nil, err
	}
	token, err := s.ingressToken(ctx)
	if err != nil {
		return nil, err
	}
	traefikCfg, err := addons.TraefikConfig(hostPort(s.o.IngressPort), hostPort(s.p.IngressPing), s.p.apiURL(), s.l.CACert(), token)
	if err != nil {
		return nil, err
	}
	traefikFile := filepath.Join(s.l.Dir, "config", "traefik.yaml")
	if err := os.WriteFile(traefikFile, traefikCfg, 0o600); err != nil {
		return nil, err
	}
	if err := s.startMetricsServer(ctx, cfg); err != nil {
		return nil, err
	}
	tr := s.addChild(&child{name: ingress, exe: s.tools.traefik, args: []string{"--configFile=" + traefikFile}, logFile: s.l.Log(ingress), addr: hostPort(s.o.IngressPort)})
	if err := tr.start(); err != nil {
		return nil, err
	}
	s.publish()
	for i := 1; i <= s.o.Nodes; i++ {
		n, err := s.newRealNode(i)
		if err != nil {
			return nil, err
		}
		s.nodes = append(s.nodes, n)
		if err := s.startRealNode(ctx, n); err != nil {
			return nil, err
		}
		s.publish()
	}
	logsReady, err := s.startLogs()
	if err != nil {
		return nil, fmt.Errorf("logs: %w", err)
	}
	return []func(context.Context) error{
		logsReady,
		func(ctx context.Context) error { return httpGetOK(ctx, "http://"+hostPort(s.p.DNSReady)+"/ready") },
		func(ctx context.Context) error { return httpGetOK(ctx, "http://"+hostPort(s.p.IngressPing)+"/ping") },
	}, nil
}

// ingressToken waits for the token controller to fill the ingress
// controller's token Secret.
func (s *supervisor) ingressToken(ctx context.Context) (string, error) {
	client, err := s.client()
	if err != nil {
		return "", err
	}
	var token string
	err = s.waitFor(ctx, func(ctx context.Context) error {
		sec, err := client.CoreV1().Secrets(addons.IngressNamespace).Get(ctx, addons.IngressTokenSecret, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if len(sec.Data["token"]) == 0 {
			return errors.New("the ingress controller's token is not issued yet")
		}
		token = string(sec.Data["token"])
		return nil
	})
	return token, err
}

// cleanupHost removes what a cluster's real nodes changed on the host: the
// bridge (with its routes and veths), the nodes' cgroups, and the CNI
// cache's mount point when it is empty. What is not there is skipped.
func cleanupHost(plan nodenet.Plan) error {
	var errs []error
	if err := nodenet.TeardownHost(plan); err != nil {
		errs = append(errs, err)
	}
	if err := cgroups.Remove(cgroupRoot(plan)); err != nil {
		errs = append(errs, err)
	}
	_ = os.Remove("/var/lib/cni") // only when empty: another cluster may use it
	_ = os.Remove(containerLogLinksInNode)
	return errors.Join(errs...)
}

// HostLeftovers lists what of a cluster's real nodes remains on the host
// (for tests and status after stop).
func HostLeftovers(dir string) []string {
	plan, ok, err := nodenet.Load(dir)
	if err != nil || !ok {
		return nil
	}
	out := nodenet.Leftovers(plan)
	for _, cg := range cgroups.Leftovers(cgroupRoot(plan)) {
		out = append(out, "cgroup "+cg)
	}
	return out
}

func httpGetOK(ctx context.Context, url string) error {
	client := &http.Client{Timeout: 2 * time.Second}
	defer client.CloseIdleConnections()
	return getOK(ctx, client, url)
}
