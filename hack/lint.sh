#!/usr/bin/env bash
# The lint gate: golangci-lint (.golangci.yml) and govulncheck over the
# product module. Both are pinned and installed from the Go module proxy
# when missing. govulncheck reads a vulnerability database built here from
# the golang.org/x/vulndb module (its data/osv files, by hack/vulndb),
# pinned below: no network but the Go module proxy is needed.
# Bump VULNDB_VERSION to see newer vulnerabilities (the proxy serves
# pseudo-versions of its commits: `go list -m golang.org/x/vulndb@master`
# names the newest). With --install it only installs the tools and builds
# the database (.ci/run's step).
set -euo pipefail
cd "$(dirname "$0")/.."

GOLANGCI_LINT_VERSION=v2.15.0
GOVULNCHECK_VERSION=v1.9.0
VULNDB_VERSION=v0.0.0-20261105234957-e22db6528018

GOBIN="$(go env GOPATH)/bin"
export PATH="$GOBIN:$PATH"

# have TOOL VERSION: whether TOOL of VERSION is installed.
have() { command -v "$1" >/dev/null && go version -m "$(command -v "$1")" 2>/dev/null | grep -q "mod.*$2"; }

if ! have golangci-lint "$GOLANGCI_LINT_VERSION"; then
  echo "installing golangci-lint $GOLANGCI_LINT_VERSION"
  go install "github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$GOLANGCI_LINT_VERSION"
fi
if ! have govulncheck "$GOVULNCHECK_VERSION"; then
  echo "installing govulncheck $GOVULNCHECK_VERSION"
  go install "golang.org/x/vuln/cmd/govulncheck@$GOVULNCHECK_VERSION"
fi

db="$(go env GOCACHE)/toolforge-vulndb/$VULNDB_VERSION"
if [ ! -f "$db/index/db.json" ]; then
  src="$(go mod download -json "golang.org/x/vulndb@$VULNDB_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
  [ -d "$src/data/osv" ] || { echo "lint: no data/osv in golang.org/x/vulndb@$VULNDB_VERSION ($src)" >&2; exit 1; }
  # The pseudo-version's time is the database's when no entry carries one.
  stamp="${VULNDB_VERSION#v0.0.0-}"; stamp="${stamp%%-*}"
  modified="${stamp:0:4}-${stamp:4:2}-${stamp:6:2}T${stamp:8:2}:${stamp:10:2}:${stamp:12:2}Z"
  rm -rf "$db.tmp" && mkdir -p "$(dirname "$db")"
  go run ./hack/vulndb build -osv "$src/data/osv" -out "$db.tmp" -modified "$modified"
  mv "$db.tmp" "$db"
fi

[ "${1:-}" = "--install" ] && exit 0

echo "== golangci-lint $GOLANGCI_LINT_VERSION"
golangci-lint run ./...
echo "== govulncheck $GOVULNCHECK_VERSION (database: golang.org/x/vulndb@$VULNDB_VERSION)"
# Called vulnerabilities in required modules fail the gate; those in the
# standard library are the toolchain's and are reported (hack/vulndb).
govulncheck -db "file://$db" -format json ./... | go run ./hack/vulndb report
