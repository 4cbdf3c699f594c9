package cluster

import (
	"context"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"

	"github.com/toolforge-go/toolforge/devcluster/internal/images"
	"github.com/toolforge-go/toolforge/devcluster/internal/pki"
	"github.com/toolforge-go/toolforge/devcluster/internal/registry"
)

// registryLog is the registry's log file name.
const registryLog = "registry"

// startRegistry starts the local registry in the supervisor: on loopback
// for the host (pushes, `devcluster status`) and on the gateway for the
// nodes' containerd, each address with its token service at /token. It
// builds catalogue images on first pull, from the machine-wide image
// cache.
func (s *supervisor) startRegistry(ctx context.Context) error {
	log, err := os.OpenFile(s.l.Log(registryLog), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	srv, err := registry.Start(ctx, registry.Config{
		Dir:            s.l.RegistryDir(),
		Addrs:          []string{hostPort(s.p.Registry), net.JoinHostPort(s.plan.Gateway().String(), strconv.Itoa(RegistryGatewayPort))},
		Builder:        images.NewBuilder(images.CacheDir()),
		Log:            log,
		TokenCert:      s.l.PKI().Cert(pki.RegistryToken),
		TokenKey:       s.l.PKI().Key(pki.RegistryToken),
		CredentialsDir: s.l.RegistryCredentials(),
	})
	if err != nil {
		log.Close()
		return fmt.Errorf("local registry: %w", err)
	}
	s.services = append(s.services, namedService{srv, "registry", strings.Join(srv.Addrs(), " ")}, log)
	return nil
}
