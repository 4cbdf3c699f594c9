#!/usr/bin/env bash
# make stop: stop `toolforged all`, the mailbox and the devcluster of make run.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
run=${RUN_DIR:-$root/.run}
# stop NAME PIDFILE: SIGTERM, then SIGKILL after 10 s.
stop() {
  local name=$1 pidfile=$2 pid
  [ -f "$pidfile" ] || return 0
  pid=$(cat "$pidfile")
  if kill "$pid" 2>/dev/null; then
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    echo "$name stopped" >&2
  fi
  rm -f "$pidfile"
}
stop "toolforged all" "$run/toolforged.pid"
stop "the mailbox" "$run/mailbox.pid"
if [ -x "$root/bin/devcluster" ]; then
  "$root/bin/devcluster" stop --dir "$run/cluster"
fi
