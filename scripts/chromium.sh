#!/usr/bin/env bash
# Headless Chromium and ChromeDriver for the browser tests, from Debian's packages.
#
# The browser tests (crates/testkit/src/browser.rs) drive a real Chromium through
# ChromeDriver. Debian bookworm packages both: `chromium` and `chromium-driver`, of the same
# version, which is what keeps the two compatible. The tests find them on the PATH (or
# through CHROMIUM_BIN and CHROMEDRIVER_BIN); this script only makes sure they are
# installed.
#
# Usage:
#   scripts/chromium.sh ensure   # install whichever package is missing (apt, as root or
#                                # through sudo; with fonts-liberation), then print both
#                                # versions
#   scripts/chromium.sh check    # exit 0 when both are installed, 1 (saying what is missing)
#                                # otherwise; installs nothing
#
# When the packages cannot be installed (no apt-get, no root or sudo, no mirror), `ensure`
# prints one line saying why and exits non-zero; `make test` only warns then, and the
# browser tests print SKIPPED and pass.
set -Eeuo pipefail

prog=$(basename "$0")
# What the script is doing right now, named in the one-line failure message.
stage="starting"

die() { # REASON
  echo "$prog: cannot install chromium and chromium-driver: $*" >&2
  exit 1
}

on_error() {
  echo "$prog: cannot install chromium and chromium-driver: failed while $stage (see the output above)" >&2
}

usage() {
  echo "usage: $prog ensure|check" >&2
  exit 2
}

# The programs the tests run, honouring the same overrides as the tests.
chromium_bin() { echo "${CHROMIUM_BIN:-$(command -v chromium || true)}"; }
chromedriver_bin() { echo "${CHROMEDRIVER_BIN:-$(command -v chromedriver || true)}"; }

# The Debian packages missing, one a line. Recommended packages are not installed (they
# bring a printing system and a notification daemon); of them only the fonts matter, so that
# screenshots show text rather than boxes, and they are asked for by name.
missing_packages() {
  local chromium driver
  chromium=$(chromium_bin)
  driver=$(chromedriver_bin)
  [[ -n $chromium && -x $chromium ]] || echo chromium
  [[ -n $driver && -x $driver ]] || echo chromium-driver
  [[ -d /usr/share/fonts/truetype/liberation ]] || echo fonts-liberation
}

# Commands that change the system run through $SUDO: nothing as root, sudo otherwise
# (non-interactively when there is no terminal to ask for a password on).
SUDO=()
need_root() {
  [[ $(id -u) -eq 0 ]] && return 0
  command -v sudo >/dev/null || die "not root and no sudo to install packages with"
  if [[ -t 0 ]]; then SUDO=(sudo); else SUDO=(sudo -n); fi
}

apt_get() { # ARG...: quiet, non-interactive, waiting for another apt to finish
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive NEEDRESTART_SUSPEND=1 \
    apt-get -qq -o DPkg::Lock::Timeout=300 "$@"
}

print_versions() {
  local chromium driver
  chromium=$(chromium_bin)
  driver=$(chromedriver_bin)
  # Debian's launcher script complains on stderr about /dev/shm on some machines: noise.
  echo "$prog: $("$chromium" --version 2>/dev/null) ($chromium)" >&2
  echo "$prog: $("$driver" --version 2>/dev/null) ($driver)" >&2
}

ensure() {
  trap on_error ERR
  local missing
  mapfile -t missing < <(missing_packages)
  if ((${#missing[@]} == 0)); then
    print_versions
    return 0
  fi
  command -v apt-get >/dev/null || die "no apt-get to install ${missing[*]} with"
  need_root
  local started=$SECONDS
  echo "$prog: installing ${missing[*]} with apt-get" >&2
  # Install from the lists already there if they know the packages; refresh them only when
  # that fails (a fresh machine's lists may be empty or stale).
  stage="installing ${missing[*]}"
  if ! apt_get -y install --no-install-recommends "${missing[@]}" >/dev/null 2>&1; then
    stage="updating the apt package lists (is the Debian mirror reachable?)"
    apt_get update
    stage="installing ${missing[*]}"
    apt_get -y install --no-install-recommends "${missing[@]}" >/dev/null
  fi
  stage="checking the installed programs"
  mapfile -t missing < <(missing_packages)
  ((${#missing[@]} == 0)) || die "installed, but still missing the programs of ${missing[*]}"
  echo "$prog: installed in $((SECONDS - started)) s" >&2
  print_versions
}

case ${1:-} in
ensure) ensure ;;
check)
  mapfile -t missing < <(missing_packages)
  if ((${#missing[@]} > 0)); then
    echo "$prog: missing ${missing[*]}" >&2
    exit 1
  fi
  ;;
*) usage ;;
esac
