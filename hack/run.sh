#!/usr/bin/env bash
# make run: the Debian packages running needs and the binaries
# (RUN_BUILD_TARGETS, from the Makefile), a devcluster with a real node in
# .run/cluster, a local SMTP inbox, and `toolforged all` with the demo
# accounts, in the background; then the demo tool's web service, started
# as the tool would. Each phase prints its time, and all of them again at
# the end. Re-running it is safe; `make stop` ends everything.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
run=${RUN_DIR:-$root/.run}
port=${RUN_PORT:-6443}
ingress_port=${RUN_INGRESS_PORT:-8000}
smtp=${RUN_SMTP:-127.0.0.1:2525}
# The platform's logs ingestion, which the nodes' collectors send to.
logs_ingest=${RUN_LOGS_INGEST:-127.0.0.1:9429}
# toolforged's own addresses (another make run beside this one needs others).
api_addr=${RUN_API_ADDR:-127.0.0.1:8443}
admission_addr=${RUN_ADMISSION_ADDR:-127.0.0.1:9443}
status_addr=${RUN_STATUS_ADDR:-127.0.0.1:8080}
metrics_addr=${RUN_METRICS_ADDR:-127.0.0.1:9100}
health_addr=${RUN_HEALTH_ADDR:-127.0.0.1:9101}
domain=toolforge.localhost
bin=$root/bin
mkdir -p "$run"
step() { echo "==> $*" >&2; }

# Phases and their times: done NAME T0 (T0 an $EPOCHREALTIME).
started=$EPOCHREALTIME
phases=()
elapsed() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f s", b - a }'; }
done_phase() {
  local d
  d=$(elapsed "$2")
  phases+=("$(printf '  %-58s %s' "$1" "$d")")
  echo "==> $1: $d" >&2
}
# Background work of this script (not the platform's processes) ends with it.
background=()
trap 'for p in "${background[@]}"; do kill "$p" 2>/dev/null || true; done' EXIT

# What waits on the network runs beside what waits on the CPU: the Go
# modules download while the packages install, and the first images
# (mmdebstrap fetching Debian packages) build while the binaries compile.
rm -f "$run/.modules.time" "$run/.images.time"
t0=$EPOCHREALTIME
(cd "$root" && go mod download && cd devcluster && go mod download && echo "$(elapsed "$t0")" >"$run/.modules.time") >"$run/modules.log" 2>&1 &
modules=$!
background+=("$modules")
step "Installing the Debian packages running needs (hack/setup.sh run; the Go modules download meanwhile)"
"$root/hack/setup.sh" run
done_phase "Debian packages" "$t0"
if ! wait "$modules"; then
  echo "go mod download failed; its log:" >&2
  tail -20 "$run/modules.log" >&2
  exit 1
fi
done_phase "Go modules (downloading since the packages began; took $(cat "$run/.modules.time"))" "$t0"

images_pid=
for target in ${RUN_BUILD_TARGETS:-}; do
  t0=$EPOCHREALTIME
  step "Building $target"
  make -C "$root" --no-print-directory -s "$target"
  done_phase "build $target" "$t0"
  if [ "$target" = bin/devcluster ] && [ -z "$images_pid" ]; then
    step "Building the first images (python3.11, pause) in the background (log: $run/images-build.log)"
    images_t0=$EPOCHREALTIME
    ("$bin/devcluster" images build python3.11 pause && echo "$(elapsed "$images_t0")" >"$run/.images.time") >"$run/images-build.log" 2>&1 &
    images_pid=$!
    background+=("$images_pid")
  fi
done
if [ -n "$images_pid" ]; then
  t0=$EPOCHREALTIME
  if ! wait "$images_pid"; then
    echo "building the first images failed; its log:" >&2
    tail -20 "$run/images-build.log" >&2
    exit 1
  fi
  done_phase "first images (took $(cat "$run/.images.time") beside compilation); waited" "$t0"
fi
background=()

t0=$EPOCHREALTIME
step "Starting the devcluster (1 real node, ingress on port $ingress_port)"
"$bin/devcluster" start --dir "$run/cluster" --nodes 1 --port "$port" --ingress-port "$ingress_port" \
  --logs-ingest "http://$logs_ingest/insert/jsonline"
logs_store=$(sed -n 's/^ *"logsStore": "\(.*\)",$/\1/p' "$run/cluster/state.json")
done_phase "devcluster start" "$t0"

# The build service: the platform's image (its builder) in the cluster's
# registry, the registry and git server on the nodes' gateway, the builds'
# egress proxy; and the demo tool's app published on the git server.
status=$("$bin/devcluster" status --dir "$run/cluster")
registry=$(sed -n 's/^registry: \([^ ]*\).*/\1/p' <<<"$status")
credentials=$run/cluster/registry/credentials
gateway=$(sed -n 's/^network: .*gateway \([0-9.]*\),.*/\1/p' <<<"$status")
git_base=$(sed -n 's|^git: \(.*\)/$|\1|p' <<<"$status")
if [ ! -s "$run/builder-image" ] || [ "$(cat "$run/builder-image.commit" 2>/dev/null)" != "$(git -C "$root" rev-parse HEAD)" ]; then
  t0=$EPOCHREALTIME
  step "Building the platform's image (its builder) into the cluster's registry"
  (cd "$root" && go run ./hack/images --registry "$registry" --registry-credentials "$credentials/admin" --out "$run/images") >"$run/images.out"
  digest=$(head -1 "$run/images.out" | sed 's/.*@//')
  echo "registry.devcluster.localhost/toolforge@$digest" >"$run/builder-image"
  git -C "$root" rev-parse HEAD >"$run/builder-image.commit"
  done_phase "the platform's image" "$t0"
fi
egress="http://builds:$(cat "$run/cluster/egress/password")@$gateway:3128"
if [ ! -d "$run/cluster/git/demo.git" ]; then
  step "Publishing the demo tool's app on the git server ($git_base/demo.git)"
  work=$(mktemp -d)
  cp -r "$root/examples/demo-app/." "$work/"
  git -C "$work" init -q --initial-branch=main
  git -C "$work" add -A
  git -C "$work" -c user.name=demo -c user.email=demo@toolforge.localhost commit -q -m "the demo app"
  git init -q --bare --initial-branch=main "$run/cluster/git/demo.git"
  git -C "$work" push -q "$run/cluster/git/demo.git" main
  rm -rf "$work"
fi

# start NAME PIDFILE LOG CMD...: a background process, once.
start() {
  local name=$1 pidfile=$2 log=$3
  shift 3
  if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    echo "$name is already running (pid $(cat "$pidfile"))" >&2
    return
  fi
  step "Starting $name (log: $log)"
  nohup "$@" >"$log" 2>&1 &
  echo $! >"$pidfile"
}

t0=$EPOCHREALTIME
start "the mailbox (SMTP $smtp)" "$run/mailbox.pid" "$run/mailbox.log" \
  "$bin/mailbox" --addr "$smtp" --dir "$run/mail"
start "toolforged all" "$run/toolforged.pid" "$run/toolforged.log" \
  "$bin/toolforged" all \
  --kubeconfig "$run/cluster/kubeconfig" \
  --accounts-file "$root/examples/accounts.yaml" \
  --home-root "$run/home" \
  --admin-home-root "$run/admins" \
  --shared-data "dumps=$run/dumps:/public/dumps" \
  --domain "$domain" \
  --web-url "http://{host}:$ingress_port/" \
  --smtp-server "$smtp" \
  --logs-store-url "$logs_store" \
  --logs-ingest-addr "$logs_ingest" \
  --mail-interval 10s \
  --interval 30s \
  --builds-registry registry.devcluster.localhost \
  --builds-registry-url "http://$gateway:5000" \
  --builds-registry-credentials "$credentials/builds" \
  --builds-registry-mirror "registry.devcluster.localhost=http://$gateway:5000" \
  --builds-registry-mirror "docker-registry.tools.wmflabs.org=http://$gateway:5000" \
  --builds-builder-image "$(cat "$run/builder-image")" \
  --builds-proxy "$egress" \
  --builds-no-proxy "$gateway,localhost,127.0.0.1,.svc,.cluster.local" \
  --builds-ca-bundle /etc/ssl/certs/ca-certificates.crt \
  --api-addr "$api_addr" --admission-addr "$admission_addr" --status-addr "$status_addr" \
  --metrics-addr "$metrics_addr" --health-addr "$health_addr"

# Ready when healthy and the demo tool has its credentials.
pid=$(cat "$run/toolforged.pid")
for _ in $(seq 1 240); do
  if ! kill -0 "$pid" 2>/dev/null; then
    echo "toolforged all exited; its log:" >&2
    tail -20 "$run/toolforged.log" >&2
    exit 1
  fi
  if curl -fsS "http://$health_addr/readyz" >/dev/null 2>&1 && [ -s "$run/home/demo/.kube/config" ]; then
    break
  fi
  sleep 0.5
done
[ -s "$run/home/demo/.kube/config" ] || { echo "the demo tool was not provisioned in time; see $run/toolforged.log" >&2; exit 1; }
done_phase "toolforged all ready, the demo tool provisioned" "$t0"

# The demo tool's code, owned by the tool, then its web service started as
# the tool would (the first start builds the python3.11 image: a minute).
demo=$run/home/demo
if [ ! -e "$demo/www/python/src/app.py" ]; then
  cp -r "$root/examples/demo/." "$demo/"
  chown -R --reference="$demo" "$demo/www"
fi
t0=$EPOCHREALTIME
if ! HOME="$demo" "$bin/webservice" status 2>/dev/null | grep -q 'is running'; then
  step "Starting the demo tool's web service (python3.11)"
  HOME="$demo" "$bin/webservice" python3.11 start
fi
url="http://demo.$domain:$ingress_port/"
step "Waiting for $url to answer"
for _ in $(seq 1 300); do
  curl -fsS "$url" >/dev/null 2>&1 && break
  sleep 0.5
done
curl -fsS "$url" >&2 || { echo "the demo web service does not answer at $url; see: HOME=$demo bin/webservice logs" >&2; exit 1; }
done_phase "the demo's web service answering" "$t0"

rel=${run#"$PWD"/}
cat <<MSG

Toolforge runs on a local devcluster with a real node.
  demo web service: $url   (curl $url)
  status page:      http://$status_addr/ (JSON: add ?format=json)
  cluster admin:    export KUBECONFIG=$rel/cluster/kubeconfig; kubectl get nodes
  platform log:     $rel/toolforged.log
  mail sent:        $rel/mail/ (one .eml file per message; SMTP $smtp)

Act as the demo tool (its home is $rel/home/demo; on a bastion, HOME is set by \`become demo\`):
  HOME=$rel/home/demo bin/webservice status
  HOME=$rel/home/demo bin/webservice logs
  HOME=$rel/home/demo bin/toolforge jobs run hello --command 'echo hello' --image python3.11 --no-filelog --wait
  HOME=$rel/home/demo bin/toolforge jobs logs hello
  HOME=$rel/home/demo bin/toolforge jobs run greet --command 'echo hi from a file log' --image python3.11 --wait
  cat $rel/home/demo/greet.out
  HOME=$rel/home/demo bin/toolforge jobs run oops --command 'exit 3' --image python3.11 --emails onfailure --wait; ls $rel/mail
  HOME=$rel/home/demo bin/toolforge envvars create GREETING Hi
  HOME=$rel/home/demo bin/webservice restart; curl $url
  HOME=$rel/home/demo kubectl get pods

Build the demo tool's app from the devcluster git server and run it (docs/builds.md):
  HOME=$rel/home/demo bin/toolforge build start $git_base/demo.git
  HOME=$rel/home/demo bin/webservice stop; HOME=$rel/home/demo bin/webservice buildservice start; curl $url

Act as admin alice:
  HOME=$rel/admins/alice PATH=\$PWD/bin:\$PATH kubectl get pods -A         # view only
  HOME=$rel/admins/alice PATH=\$PWD/bin:\$PATH kubectl sudo get secrets -A # explicit power

Stop everything: make stop

Phases of this run:
$(printf '%s\n' "${phases[@]}")
  $(printf '%-58s %s' total "$(elapsed "$started")")
MSG
