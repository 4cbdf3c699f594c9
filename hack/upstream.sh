#!/usr/bin/env bash
# upstream.sh [--prepare CMD] MODULE VERSION OUT [go build flags...] PACKAGE...
#
# Builds programs of an upstream Go module exactly as its own repository
# does: the module (from the Go module proxy, checksum-verified) is the
# main module, so its go.mod, go.sum and replace directives apply. Its
# source is copied out of the read-only module cache into a build
# directory under .cache/, where --prepare CMD (if given) runs first — for
# a build option the project documents as a source edit, e.g. CoreDNS's
# plugin.cfg — and the binaries are written to OUT (a directory).
set -euo pipefail
prepare=
if [ "${1:-}" = --prepare ]; then
  prepare=$2
  shift 2
fi
mod=$1 ver=$2 out=$3
shift 3
root=$(cd "$(dirname "$0")/.." && pwd)
src=$(go mod download -json "$mod@$ver" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
if [ -z "$src" ] || [ ! -f "$src/go.mod" ]; then
  echo "upstream.sh: cannot download $mod@$ver from the Go module proxy" >&2
  exit 1
fi
tag=$(printf '%s' "$prepare" | sha256sum | cut -c1-12)
work=$root/.cache/upstream/$(echo "$mod" | tr / _)@$ver-$tag
if [ ! -f "$work/.ready" ]; then
  rm -rf "$work"
  mkdir -p "$work"
  cp -r "$src"/. "$work"
  chmod -R u+w "$work"
  if [ -n "$prepare" ]; then
    (cd "$work" && bash -c "$prepare")
  fi
  touch "$work/.ready"
fi
mkdir -p "$out"
out=$(cd "$out" && pwd)
cd "$work"
echo "building $mod@$ver: $*" >&2
CGO_ENABLED=0 go build -trimpath -ldflags '-s -w' -o "$out/" "$@"
