#!/usr/bin/env bash
# make run: a devcluster in .run/cluster and `toolforged all` with the demo
# accounts, in the background. Re-running it is safe; `make stop` ends both.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
run=${RUN_DIR:-$root/.run}
port=${RUN_PORT:-6443}
bin=$root/bin
mkdir -p "$run"

"$bin/devcluster" start --dir "$run/cluster" --nodes 3 --port "$port"

pidfile=$run/toolforged.pid
if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
  echo "toolforged all is already running (pid $(cat "$pidfile"))" >&2
else
  echo "Starting toolforged all (log: $run/toolforged.log)" >&2
  nohup "$bin/toolforged" all \
    --kubeconfig "$run/cluster/kubeconfig" \
    --accounts-file "$root/examples/accounts.yaml" \
    --home-root "$run/home" \
    --admin-home-root "$run/admins" \
    --interval 30s \
    >"$run/toolforged.log" 2>&1 &
  echo $! >"$pidfile"
fi

# Ready when healthy and the demo tool has its credentials.
for _ in $(seq 1 120); do
  if ! kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    echo "toolforged all exited; its log:" >&2
    tail -20 "$run/toolforged.log" >&2
    exit 1
  fi
  if curl -fsS http://127.0.0.1:9101/healthz >/dev/null 2>&1 && [ -s "$run/home/demo/.kube/config" ]; then
    break
  fi
  sleep 0.5
done
[ -s "$run/home/demo/.kube/config" ] || { echo "the demo tool was not provisioned in time; see $run/toolforged.log" >&2; exit 1; }

# The demo tool runs a web service, started as the tool would.
if ! HOME="$run/home/demo" "$bin/webservice" status 2>/dev/null | grep -q '^webservice of type'; then
  HOME="$run/home/demo" "$bin/webservice" python3.11 start
fi

rel=${run#"$PWD"/}
cat <<MSG

Toolforge runs on a local devcluster.
  cluster admin:  export KUBECONFIG=$rel/cluster/kubeconfig; kubectl get nodes
  platform log:   $rel/toolforged.log
  status page:    http://127.0.0.1:8080/ (JSON: add ?format=json)

Act as the demo tool (its home is $rel/home/demo; on a bastion, HOME is set by \`become demo\`):
  HOME=$rel/home/demo bin/webservice status
  HOME=$rel/home/demo bin/toolforge jobs run hello --command 'echo hello' --image python3.11 --wait
  HOME=$rel/home/demo bin/toolforge jobs list
  HOME=$rel/home/demo bin/toolforge envvars create GREETING hello
  HOME=$rel/home/demo kubectl get pods

Act as admin alice:
  HOME=$rel/admins/alice PATH=\$PWD/bin:\$PATH kubectl get pods -A         # view only
  HOME=$rel/admins/alice PATH=\$PWD/bin:\$PATH kubectl sudo get secrets -A # explicit power

Stop everything: make stop
MSG
