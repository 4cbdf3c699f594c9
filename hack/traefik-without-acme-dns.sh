#!/usr/bin/env bash
# Run by hack/upstream.sh in a copy of Traefik's source (see the Makefile):
# devcluster's ingress never asks an ACME server for certificates, so the
# ACME DNS-01 challenge providers (lego's providers/dns: some 150 DNS
# services' SDKs, a third of Traefik's packages and most of its cold
# build) are left out. A DNS challenge configured anyway fails with an
# error naming this. Everything else, the Kubernetes Ingress provider
# devcluster uses included, is Traefik's own code, unchanged.
set -euo pipefail
file=pkg/provider/acme/provider.go
grep -q '"github.com/go-acme/lego/v4/providers/dns"' "$file" || {
  echo "traefik-without-acme-dns.sh: $file no longer imports lego's DNS providers; update this script" >&2
  exit 1
}
mkdir -p pkg/provider/acme/nodns
cat > pkg/provider/acme/nodns/nodns.go <<'GO'
// Package nodns stands in for lego's DNS challenge providers in
// devcluster's build of Traefik (hack/traefik-without-acme-dns.sh).
package nodns

import (
	"fmt"

	"github.com/go-acme/lego/v4/challenge"
)

// NewDNSChallengeProviderByName refuses every provider.
func NewDNSChallengeProviderByName(name string) (challenge.Provider, error) {
	return nil, fmt.Errorf("ACME DNS challenge provider %q: not built into devcluster's Traefik (hack/traefik-without-acme-dns.sh)", name)
}
GO
sed -i 's#"github.com/go-acme/lego/v4/providers/dns"#dns "github.com/traefik/traefik/v3/pkg/provider/acme/nodns"#' "$file"
