#!/usr/bin/env bash
# setup.sh [run|test]: install what building and running the platform
# (run), or also testing it (test, the default), need on a Debian machine,
# when it is missing. `make run` calls it with run, `make test` and .ci/run
# without; a second run does nothing. As root it installs the Debian
# packages; otherwise it names the one command to run.
set -euo pipefail

profile=${1:-test}
PACKAGES=(
  # build
  make git gcc libc6-dev ca-certificates
  # make run's scripts and the CLI's helpers
  procps util-linux curl iproute2
  # real nodes: runc under containerd, CNI plugins, kube-proxy's iptables
  runc containernetworking-plugins iptables
  # images built from Debian packages
  mmdebstrap
)
TEST_PACKAGES=(
  tmux                       # the interactive shell's tests drive a terminal
  slapd ldap-utils           # the LDAP account source, against a real slapd
  chromium fonts-dejavu-core # the status page, in a real headless browser (with a font)
  # the builder's unit tests build a Python app (a virtualenv, pip)
  python3-venv python3-pip
)
case $profile in
run) ;;
test) PACKAGES+=("${TEST_PACKAGES[@]}") ;;
*)
  echo "usage: hack/setup.sh [run|test]" >&2
  exit 2
  ;;
esac

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "error: missing Debian packages (${missing[*]}); install them with: sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
  exit 1
fi
echo "setup: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
