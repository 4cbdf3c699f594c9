SHELL := /bin/bash
GO ?= go
# Integration test packages each start a devcluster; two at a time fit the
# 2-core machines we run on.
TEST_FLAGS ?= -count=1 -timeout 25m -p 2

# The Kubernetes release devcluster is built from, stamped into its version
# (upstream does the same with -X in hack/lib/version.sh).
K8S_VERSION := $(shell sed -n 's/^[[:space:]]*k8s.io\/kubernetes \(v[0-9][0-9.]*\).*/\1/p' devcluster/go.mod)
K8S_MINOR := $(word 2,$(subst ., ,$(K8S_VERSION)))
K8S_LDFLAGS := $(foreach p,k8s.io/component-base/version k8s.io/client-go/pkg/version,\
	-X $(p).gitVersion=$(K8S_VERSION) -X $(p).gitMajor=1 -X $(p).gitMinor=$(K8S_MINOR) -X $(p).gitTreeState=clean)
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo devel)
LDFLAGS := -X github.com/toolforge-go/toolforge/internal/version.Version=$(VERSION)

RUN_DIR := $(CURDIR)/.run
RUN_PORT ?= 6443

DEVCLUSTER_SRC := $(shell find devcluster -name '*.go' 2>/dev/null) devcluster/go.mod devcluster/go.sum
PRODUCT_CMDS := toolforge toolforged kubectl-sudo toolforge-admin

# Programs real nodes run besides devcluster, built from their own Go
# modules (hack/upstream.sh): containerd v2 (Kubernetes 1.36 needs 2.x;
# Debian's is 1.6), CoreDNS, and the Traefik ingress controller.
CONTAINERD_VERSION := v2.4.2
COREDNS_VERSION := v1.15.0
TRAEFIK_VERSION := v3.6.12
METRICS_SERVER_VERSION := v0.8.0
# The log store (victoria-logs) and its per-node collector (vlagent), from
# one module (Apache-2.0); devcluster runs them beside the cluster and the
# platform image carries them (docs/logs.md).
VICTORIALOGS_VERSION := v1.52.2
LOG_BINS := bin/victoria-logs bin/vlagent
NODE_BINS := bin/containerd bin/containerd-shim-runc-v2 bin/coredns bin/traefik bin/metrics-server bin/devcluster-sandbox $(LOG_BINS)
UPSTREAM_STAMP = .cache/upstream/stamp-$(1)-$(2)

# The platform's image (toolforged, static, on a base made from files, with
# the log store and collector beside it) and its Helm chart, both
# <version>-<short git hash>, built without Docker or helm (hack/images);
# REGISTRY=host:port pushes them there, with REGISTRY_CREDENTIALS=file
# (username:password; a devcluster's is DIR/registry/credentials/admin).
images: $(LOG_BINS)
	$(GO) run ./hack/images $(if $(REGISTRY),--registry $(REGISTRY)) $(if $(REGISTRY_CREDENTIALS),--registry-credentials $(REGISTRY_CREDENTIALS))

.PHONY: images all build setup lint test test-unit test-devcluster run stop bench clean tidy FORCE
all: build

# Debian packages the build, the tests and real nodes need (installs as
# root, else names the command to run); `make run` installs only what
# running needs (hack/setup.sh run).
setup:
	@hack/setup.sh test

# Tests and `make run` drive kubectl: one at the cluster's version is
# built into bin/ when none is on PATH (bin/ comes first on PATH here).
export PATH := $(CURDIR)/bin:$(PATH)
KUBECTL := $(if $(shell command -v kubectl 2>/dev/null),,bin/kubectl)

BUILD_TARGETS := bin/devcluster $(NODE_BINS) $(addprefix bin/,$(PRODUCT_CMDS)) bin/webservice bin/mailbox
build: $(BUILD_TARGETS)

# devcluster links all of Kubernetes: only relink when its sources change.
bin/devcluster: $(DEVCLUSTER_SRC)
	@mkdir -p bin
	cd devcluster && $(GO) build -ldflags '$(K8S_LDFLAGS)' -o ../bin/devcluster .

bin/containerd bin/containerd-shim-runc-v2 &: $(call UPSTREAM_STAMP,containerd,$(CONTAINERD_VERSION))
	hack/upstream.sh github.com/containerd/containerd/v2 $(CONTAINERD_VERSION) bin -tags no_btrfs ./cmd/containerd ./cmd/containerd-shim-runc-v2
	@touch bin/containerd bin/containerd-shim-runc-v2

# CoreDNS with the plugins devcluster's Corefile uses, as CoreDNS documents
# custom builds (plugin.cfg, then go generate): the cloud DNS plugins'
# SDKs are most of a full build.
COREDNS_PLUGINS := metadata|cancel|reload|bind|debug|ready|health|errors|log|loadbalance|cache|kubernetes|loop|forward
bin/coredns: $(call UPSTREAM_STAMP,coredns,$(COREDNS_VERSION))
	hack/upstream.sh --prepare 'grep -E "^($(COREDNS_PLUGINS)):" plugin.cfg > plugin.cfg.devcluster && mv plugin.cfg.devcluster plugin.cfg && go generate coredns.go' \
		github.com/coredns/coredns $(COREDNS_VERSION) bin .
	@touch $@

# Traefik without the ACME DNS challenge providers, which devcluster never
# uses and which are most of a cold build (hack/traefik-without-acme-dns.sh).
bin/traefik: $(call UPSTREAM_STAMP,traefik,$(TRAEFIK_VERSION)-nodns1)
	hack/upstream.sh --prepare 'bash $(CURDIR)/hack/traefik-without-acme-dns.sh # v1' \
		github.com/traefik/traefik/v3 $(TRAEFIK_VERSION) bin ./cmd/traefik
	@touch $@

# The metrics API (kubectl top, the status page's use), as its module
# builds it.
bin/metrics-server: $(call UPSTREAM_STAMP,metrics-server,$(METRICS_SERVER_VERSION))
	hack/upstream.sh sigs.k8s.io/metrics-server $(METRICS_SERVER_VERSION) bin ./cmd/metrics-server
	@touch $@

$(LOG_BINS) &: $(call UPSTREAM_STAMP,victorialogs,$(VICTORIALOGS_VERSION))
	hack/upstream.sh github.com/VictoriaMetrics/VictoriaLogs $(VICTORIALOGS_VERSION) bin ./app/victoria-logs ./app/vlagent
	@touch $(LOG_BINS)

# A version change rebuilds (the stamp names the version).
.cache/upstream/stamp-%:
	@mkdir -p $(@D)
	@touch $@

# A real node's first process: small and static on purpose (see package
# sandbox).
bin/devcluster-sandbox: $(DEVCLUSTER_SRC)
	@mkdir -p bin
	cd devcluster && CGO_ENABLED=0 $(GO) build -o ../bin/devcluster-sandbox ./cmd/devcluster-sandbox

# kubectl at the cluster's version, for machines without one (.ci/run uses
# it only when kubectl is missing from PATH).
bin/kubectl: devcluster/go.mod devcluster/go.sum
	@mkdir -p bin
	cd devcluster && $(GO) build -ldflags '$(K8S_LDFLAGS)' -o ../bin/kubectl k8s.io/kubernetes/cmd/kubectl

# The product binaries are cheap; let go decide what is stale.
bin/%: FORCE
	@mkdir -p bin
	$(GO) build -ldflags '$(LDFLAGS)' -o $@ ./cmd/$*

# make run's SMTP inbox (a development tool, not a product command).
bin/mailbox: FORCE
	@mkdir -p bin
	$(GO) build -o $@ ./hack/mailbox

# `webservice` is toolforge under its original name (multi-call).
bin/webservice: bin/toolforge
	ln -sfn toolforge $@

# The lint gate: golangci-lint (.golangci.yml) and govulncheck, pinned and
# installed from the Go module proxy by hack/lint.sh.
lint:
	hack/lint.sh

# Every test: the lint gate, unit, integration (each package on its own
# devcluster) and end-to-end (the real binaries and kubectl against
# devcluster).
test: setup build $(KUBECTL) lint
	$(GO) vet ./...
	$(GO) test $(TEST_FLAGS) ./...
	cd devcluster && $(GO) vet ./... && $(GO) test $(TEST_FLAGS) ./...

# The embedded default: a devcluster in .run/ and the whole platform
# (toolforged all) with the demo accounts of examples/accounts.yaml.
# hack/run.sh installs the packages, builds each of these targets and
# starts everything, printing each phase's time.
run:
	@RUN_DIR=$(RUN_DIR) RUN_PORT=$(RUN_PORT) RUN_BUILD_TARGETS="$(BUILD_TARGETS) $(KUBECTL)" hack/run.sh

stop:
	@RUN_DIR=$(RUN_DIR) hack/stop.sh

# `make bench SUITE...` runs those suites (as BENCH_ARGS="SUITE..."
# does): the words after bench are suites, not targets.
ifeq (bench,$(firstword $(MAKECMDGOALS)))
BENCH_SUITES := $(wordlist 2,$(words $(MAKECMDGOALS)),$(MAKECMDGOALS))
BENCH_ARGS += $(BENCH_SUITES)
$(eval $(BENCH_SUITES):;@:)
endif

bench: build
	$(GO) run ./bench $(BENCH_ARGS)

clean: stop
	rm -rf bin $(RUN_DIR)

tidy:
	$(GO) mod tidy
	cd devcluster && $(GO) mod tidy
