#!/usr/bin/env bash
# Prometheus and promtool for the metrics and rules tests, from Debian's `prometheus` package.
#
# The tests scrape compliance-server with a real Prometheus on a loopback port
# (crates/testkit/src/prometheus.rs) and run `promtool check rules`, `promtool test rules`
# and `promtool check metrics` on what the repository ships. They find both programs on
# the PATH (or through PROMETHEUS_BIN and PROMTOOL_BIN); this script only installs them.
#
# Usage:
#   scripts/prometheus.sh ensure   # install the package when a program is missing (apt, as
#                                  # root or through sudo), then print the versions
#   scripts/prometheus.sh check    # exit 0 when both are there, 1 otherwise; installs nothing
#
# Installing the package does not leave a server running here: the tests start their own,
# each with its own storage directory. Without the package the tests print SKIPPED and pass;
# `make test` only warns.
set -Eeuo pipefail

prog=$(basename "$0")
stage="starting"

die() { # REASON
  echo "$prog: cannot install prometheus: $*" >&2
  exit 1
}

on_error() {
  echo "$prog: cannot install prometheus: failed while $stage (see the output above)" >&2
}

prometheus_bin() { echo "${PROMETHEUS_BIN:-$(command -v prometheus || true)}"; }
promtool_bin() { echo "${PROMTOOL_BIN:-$(command -v promtool || true)}"; }

# Exit 0 when both programs are present and runnable.
present() {
  local p t
  p=$(prometheus_bin)
  t=$(promtool_bin)
  [[ -n $p && -x $p && -n $t && -x $t ]]
}

SUDO=()
need_root() {
  [[ $(id -u) -eq 0 ]] && return 0
  command -v sudo >/dev/null || die "not root and no sudo to install packages with"
  if [[ -t 0 ]]; then SUDO=(sudo); else SUDO=(sudo -n); fi
}

apt_get() { # ARG...
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive NEEDRESTART_SUSPEND=1 \
    apt-get -qq -o DPkg::Lock::Timeout=300 "$@"
}

versions() {
  echo "$prog: $("$(prometheus_bin)" --version 2>&1 | head -n 1)" >&2
  echo "$prog: $("$(promtool_bin)" --version 2>&1 | head -n 1)" >&2
}

# The Debian package starts its service where an init system runs; a test machine has
# none, but stop it if it is there, so that nothing else listens on 9090 or writes
# /var/lib/prometheus behind the tests' back.
stop_service() {
  if command -v systemctl >/dev/null && systemctl is-active --quiet prometheus 2>/dev/null; then
    "${SUDO[@]}" systemctl stop prometheus || true
  fi
}

ensure() {
  trap on_error ERR
  if present; then
    versions
    return 0
  fi
  command -v apt-get >/dev/null || die "no apt-get to install it with"
  need_root
  local started=$SECONDS
  echo "$prog: installing prometheus with apt-get" >&2
  stage="installing prometheus"
  if ! apt_get -y install --no-install-recommends prometheus >/dev/null 2>&1; then
    stage="updating the apt package lists (is the Debian mirror reachable?)"
    apt_get update
    stage="installing prometheus"
    apt_get -y install --no-install-recommends prometheus >/dev/null
  fi
  stop_service
  present || die "installed, but prometheus or promtool is still missing"
  echo "$prog: installed in $((SECONDS - started)) s" >&2
  versions
}

case ${1:-} in
ensure) ensure ;;
check)
  present || {
    echo "$prog: prometheus or promtool is missing" >&2
    exit 1
  }
  ;;
*)
  echo "usage: $prog ensure|check" >&2
  exit 2
  ;;
esac
