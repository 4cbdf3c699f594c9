#!/usr/bin/env bash
# make stop: stop `toolforged all` and the devcluster of make run.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
run=${RUN_DIR:-$root/.run}
pidfile=$run/toolforged.pid
if [ -f "$pidfile" ]; then
  pid=$(cat "$pidfile")
  if kill "$pid" 2>/dev/null; then
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    echo "toolforged all stopped" >&2
  fi
  rm -f "$pidfile"
fi
if [ -x "$root/bin/devcluster" ]; then
  "$root/bin/devcluster" stop --dir "$run/cluster"
fi
