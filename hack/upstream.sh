#!/usr/bin/env bash
# upstream.sh MODULE VERSION OUT [go build flags...] PACKAGE...
#
# Builds programs of an upstream Go module exactly as its own repository
# does: the module (from the Go module proxy, checksum-verified) is the
# main module, so its go.mod, go.sum and replace directives apply. Its
# source is copied out of the read-only module cache into a build
# directory under .cache/, and the binaries are written to OUT (a
# directory).
set -euo pipefail
mod=$1 ver=$2 out=$3
shift 3
root=$(cd "$(dirname "$0")/.." && pwd)
src=$(go mod download -json "$mod@$ver" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
[ -n "$src" ] || { echo "upstream.sh: cannot download $mod@$ver" >&2; exit 1; }
work=$root/.cache/upstream/$(echo "$mod" | tr / _)@$ver
if [ ! -f "$work/.copied" ]; then
  rm -rf "$work"
  mkdir -p "$work"
  cp -r "$src"/. "$work"
  chmod -R u+w "$work"
  touch "$work/.copied"
fi
mkdir -p "$out"
out=$(cd "$out" && pwd)
cd "$work"
echo "building $mod@$ver: $*" >&2
CGO_ENABLED=0 go build -trimpath -ldflags '-s -w' -o "$out/" "$@"
