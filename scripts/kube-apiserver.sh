#!/usr/bin/env bash
# A real kube-apiserver and kube-controller-manager for the integration tests, built offline
# from Debian's sources.
#
# No Kubernetes server binary is packaged for Debian bookworm, but bookworm's source package
# `kubernetes` (upstream 1.20.2, with every Go dependency vendored) builds without network
# access beyond the Debian mirror, using Debian's Go 1.19. etcd comes from Debian's
# `etcd-server` (3.4). The tests start the servers themselves (crates/testkit/src/apiserver.rs):
# every test that needs an API server gets kube-apiserver over etcd, and the tests that need
# controllers acting on objects (the Job controller, the garbage collector) also get
# kube-controller-manager. This script only makes sure the binaries are there.
#
# Usage:
#   scripts/kube-apiserver.sh build   # build whichever binary is missing, cache them, print
#                                     # both paths (kube-apiserver, then the controller manager)
#   scripts/kube-apiserver.sh path    # print the cached kube-apiserver's path; exit 1 if not built
#   scripts/kube-apiserver.sh path-controller-manager
#                                     # the same for kube-controller-manager
#
# The binaries are cached outside the repository, in
#   ${CIS_KUBE_CACHE:-$HOME/.cache/cis-compliance}/kube-apiserver-1.20.2/kube-apiserver
#   ${CIS_KUBE_CACHE:-$HOME/.cache/cis-compliance}/kube-apiserver-1.20.2/kube-controller-manager
# so clean clones and `cargo clean` do not pay for the build again. `build` compiles only the
# ones that are missing (a cache made before the controller manager was added keeps its
# kube-apiserver), from one download of the sources. On two cores a cold build of either
# takes six to ten minutes; both together take only about a minute more than kube-apiserver
# alone, since they share most packages (kube-controller-manager alone also skips `make
# gen_openapi`). Once cached, `build` returns at once.
#
# When the build is impossible (not Debian bookworm, no apt-get, no root or sudo, no
# mirror), `build` prints one line saying why and exits non-zero; callers decide whether
# that is fatal (`make test` goes on and the tests that need a missing binary report
# themselves skipped). Set KUBE_BUILD_KEEP=1 to keep the build tree for inspection.
set -Eeuo pipefail

readonly K8S_VERSION=1.20.2
# Debian's version of the source package: upstream 1.20.2, renamed 1.20.5+really1.20.2.
readonly SRC_PACKAGE=kubernetes
readonly SUITE=bookworm
readonly GO_PACKAGE=golang-1.19-go
readonly GOROOT_DIR=/usr/lib/go-1.19
# reflect2 as Debian packages it (1.0.2). The copy vendored by Kubernetes 1.20 (1.0.1)
# reaches into Go's map internals in a way Go 1.18 changed: with Go 1.19 the apiserver
# crashes with a segmentation fault as soon as a custom resource is stored.
readonly REFLECT2_PACKAGE=golang-github-modern-go-reflect2-dev
readonly REFLECT2_DIR=/usr/share/gocode/src/github.com/modern-go/reflect2

readonly CACHE_DIR="${CIS_KUBE_CACHE:-${HOME:?is not set: set CIS_KUBE_CACHE}/.cache/cis-compliance}/kube-apiserver-$K8S_VERSION"
# The binaries, in the order `build` prints their paths; each is built from
# k8s.io/kubernetes/cmd/<name>.
readonly BINARIES=(kube-apiserver kube-controller-manager)
readonly BIN="$CACHE_DIR/kube-apiserver"
readonly KCM_BIN="$CACHE_DIR/kube-controller-manager"

prog=$(basename "$0")
# What the build is doing right now, and which binaries it is for; both named in the
# one-line failure message.
stage="starting"
building="kube-apiserver and kube-controller-manager"

die() { # REASON: the one line a caller sees when nothing can be built
  echo "$prog: cannot build $building: $*" >&2
  exit 1
}

on_error() {
  echo "$prog: cannot build $building: failed while $stage (see the output above)" >&2
}

usage() {
  echo "usage: $prog build|path|path-controller-manager" >&2
  exit 2
}

# --- privileges and apt -------------------------------------------------------------------

# Commands that change the system run through $SUDO: nothing as root, sudo otherwise
# (non-interactively when there is no terminal to ask for a password on).
SUDO=()
need_root() {
  [[ $(id -u) -eq 0 ]] && return 0
  command -v sudo >/dev/null || die "not root and no sudo to install packages with"
  if [[ -t 0 ]]; then SUDO=(sudo); else SUDO=(sudo -n); fi
}

apt_updated=false
apt_update() {
  $apt_updated && return 0
  stage="updating the apt package lists (is the Debian mirror reachable?)"
  "${SUDO[@]}" apt-get -q -o DPkg::Lock::Timeout=300 update
  apt_updated=true
}

apt_install() { # PACKAGE...
  stage="installing $*"
  # needrestart, when installed, would only add a page of "no services need restarting".
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive NEEDRESTART_SUSPEND=1 \
    apt-get -q -y -o DPkg::Lock::Timeout=300 install --no-install-recommends "$@"
}

# Installs whichever of the packages is missing; PACKAGE:FILE pairs, FILE being what proves
# the package is there (so a manually installed etcd or openssl counts too).
ensure_installed() { # PACKAGE:FILE...
  local missing=() pair
  for pair in "$@"; do
    local pkg=${pair%%:*} file=${pair#*:}
    if [[ $file == /* ]]; then [[ -e $file ]] || missing+=("$pkg")
    else command -v "$file" >/dev/null || missing+=("$pkg"); fi
  done
  ((${#missing[@]} == 0)) && return 0
  command -v apt-get >/dev/null || die "no apt-get to install ${missing[*]} with"
  need_root
  apt_update
  apt_install "${missing[@]}"
}

# Every apt source file, as "FILE<TAB>FORMAT" lines (list: one-line, sources: deb822).
apt_source_files() {
  local f
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [[ -f $f ]] && printf '%s\tlist\n' "$f"
  done
  for f in /etc/apt/sources.list.d/*.sources; do
    [[ -f $f ]] && printf '%s\tsources\n' "$f"
  done
  return 0
}

# Prints the apt entries of TYPE (deb or deb-src) for the suite $SUITE, each rewritten as a
# deb-src entry in its own format, first deb822 stanzas and then one-line entries. Used both
# to tell whether source packages are already enabled and to derive an entry that uses the
# same mirror and key as the machine's binary packages.
entries_for_suite() { # TYPE
  local type=$1 file format
  while IFS=$'\t' read -r file format; do
    if [[ $format == sources ]]; then
      # A deb822 stanza is a paragraph; keep those of TYPE that include the suite and are
      # not disabled, with Types and Suites narrowed to a deb-src entry for the suite.
      awk -v type="$type" -v suite="$SUITE" '
        BEGIN { RS = ""; FS = "\n" }
        {
          ok_type = 0; ok_suite = 0; enabled = 1; out = ""
          for (i = 1; i <= NF; i++) {
            line = $i
            if (line ~ /^#/) continue
            if (line ~ /^Types:/) {
              n = split(substr(line, 7), t, /[ \t]+/)
              for (j = 1; j <= n; j++) if (t[j] == type) ok_type = 1
              line = "Types: deb-src"
            } else if (line ~ /^Suites:/) {
              n = split(substr(line, 8), s, /[ \t]+/)
              for (j = 1; j <= n; j++) if (s[j] == suite) ok_suite = 1
              line = "Suites: " suite
            } else if (line ~ /^Enabled:[ \t]*no/) {
              enabled = 0
            }
            out = out line "\n"
          }
          if (ok_type && ok_suite && enabled) print out
        }' "$file"
    else
      # One-line entries: "TYPE [options] URI SUITE COMPONENT...".
      awk -v type="$type" -v suite="$SUITE" '
        $1 == type {
          for (i = 2; i <= NF; i++) if ($i == suite) { sub(/^[ \t]*[a-z-]+/, "deb-src"); print; next }
        }' "$file"
    fi
  done < <(apt_source_files)
}

# Makes `apt-get source` work for the suite: adds a deb-src entry (in a file of its own,
# beside the machine's) only when none exists, modelled on the existing binary entry.
ensure_deb_src() {
  if [[ -n $(entries_for_suite deb-src) ]]; then
    return 0
  fi
  stage="adding a deb-src entry for $SUITE"
  local entry target
  entry=$(entries_for_suite deb | awk 'BEGIN { RS = "" } NR == 1 { print; exit }')
  if [[ $entry == *"Types:"* ]]; then
    target=/etc/apt/sources.list.d/cis-compliance-deb-src.sources
  elif [[ -n $entry ]]; then
    target=/etc/apt/sources.list.d/cis-compliance-deb-src.list
  else
    # No binary entry for the suite to copy from: Debian's own mirror and key.
    target=/etc/apt/sources.list.d/cis-compliance-deb-src.sources
    entry=$(printf '%s\n' "Types: deb-src" "URIs: http://deb.debian.org/debian" \
      "Suites: $SUITE" "Components: main" \
      "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg")
  fi
  echo "$prog: enabling source packages for $SUITE in $target"
  printf '# Added by cis-compliance scripts/kube-apiserver.sh to fetch the kubernetes sources.\n%s\n' \
    "$entry" | "${SUDO[@]}" tee "$target" >/dev/null
  apt_updated=false
}

# --- build ---------------------------------------------------------------------------------

# The runtime tools the tests need beside the apiserver: etcd, and openssl for the
# service-account signing key.
ensure_runtime() {
  ensure_installed etcd-server:etcd openssl:openssl
  ensure_kubectl
}

# The manifest tests also drive kubectl (kustomize, apply --dry-run). Where none is on the
# PATH, Debian's kubernetes-client (the same 1.20) is unpacked into the cache rather than
# installed, so it never shadows a kubectl the machine already has. Best-effort: without
# it those tests say SKIPPED.
ensure_kubectl() {
  command -v kubectl >/dev/null && return 0
  [[ -x $CACHE_DIR/kubectl ]] && return 0
  local tmp
  tmp=$(mktemp -d "${TMPDIR:-/tmp}/kubectl-deb.XXXXXX")
  if [[ $(id -u) -eq 0 ]] && id _apt >/dev/null 2>&1; then chown _apt "$tmp"; fi
  if (cd "$tmp" && apt-get -q download kubernetes-client >/dev/null 2>&1 &&
    dpkg-deb -x kubernetes-client_*.deb x && install -m 0755 x/usr/bin/kubectl "$CACHE_DIR/kubectl"); then
    echo "$prog: kubectl for the tests: $CACHE_DIR/kubectl"
  else
    echo "$prog: warning: could not unpack Debian's kubectl; the kubectl tests will be skipped" >&2
  fi
  rm -rf "$tmp"
}

# The binaries not yet in the cache, one name a line.
missing_binaries() {
  local name
  for name in "${BINARIES[@]}"; do
    [[ -x $CACHE_DIR/$name ]] || echo "$name"
  done
  return 0
}

# Prints every binary's path, one a line, in the order of BINARIES.
print_paths() {
  local name
  for name in "${BINARIES[@]}"; do
    echo "$CACHE_DIR/$name"
  done
}

build() {
  trap on_error ERR
  local missing=()
  mapfile -t missing < <(missing_binaries)
  if ((${#missing[@]} == 0)); then
    ensure_runtime >&2
    print_paths
    return 0
  fi
  building=${missing[*]}
  building=${building// / and }

  stage="checking the platform"
  local system
  # shellcheck disable=SC1091 # read in a subshell, so its variables stay there
  system=$(. /etc/os-release 2>/dev/null && echo "${VERSION_CODENAME:-?} ${PRETTY_NAME:-}") ||
    system="? an unknown system"
  [[ ${system%% *} == "$SUITE" ]] || die "needs Debian $SUITE (this is ${system#* })"
  command -v apt-get >/dev/null || die "no apt-get on this machine"
  need_root

  mkdir -p "$CACHE_DIR"
  # Two builds at once (two checkouts running `make test`) would only waste time: the
  # second waits for the first and then finds the binaries.
  exec 9>"$CACHE_DIR/.build.lock"
  flock 9
  mapfile -t missing < <(missing_binaries)
  if ((${#missing[@]} == 0)); then
    ensure_runtime >&2
    print_paths
    return 0
  fi
  building=${missing[*]}
  building=${building// / and }

  ensure_deb_src
  apt_update
  # dpkg-dev unpacks the source package, make and rsync run its code generator.
  apt_install "$GO_PACKAGE" "$REFLECT2_PACKAGE" dpkg-dev make rsync etcd-server openssl

  local started=$SECONDS
  # Everything happens in a temporary directory outside the repository, removed at the end
  # whatever happens: only the binaries are kept.
  local work
  work=$(mktemp -d "${TMPDIR:-/tmp}/kube-build.XXXXXX")
  if [[ ${KUBE_BUILD_KEEP:-} == 1 ]]; then
    echo "$prog: keeping the build tree in $work"
  else
    # shellcheck disable=SC2064 # expand $work now, it is local
    trap "rm -rf '$work'" EXIT
  fi
  # apt downloads as its unprivileged _apt user when it can; as root, let it write here.
  if [[ $(id -u) -eq 0 ]] && id _apt >/dev/null 2>&1; then chown _apt "$work"; fi
  cd "$work"

  stage="downloading the $SRC_PACKAGE source package from $SUITE"
  apt-get -q source --download-only "$SRC_PACKAGE/$SUITE"
  stage="unpacking the $SRC_PACKAGE source package"
  local dsc
  dsc=$(ls "$SRC_PACKAGE"_*.dsc)
  # GOPATH mode wants the tree at $GOPATH/src/k8s.io/kubernetes.
  mkdir -p gopath/src/k8s.io
  dpkg-source --no-check -x "$dsc" gopath/src/k8s.io/kubernetes
  rm -f "$SRC_PACKAGE"_*
  local tree=$work/gopath/src/k8s.io/kubernetes
  grep -q "$K8S_VERSION" <<<"$dsc" ||
    echo "$prog: warning: $dsc is not the expected upstream $K8S_VERSION" >&2

  stage="replacing the vendored reflect2 with Debian's"
  [[ -f $REFLECT2_DIR/reflect2.go ]] || die "$REFLECT2_PACKAGE did not install $REFLECT2_DIR"
  rm -rf "$tree/vendor/github.com/modern-go/reflect2"
  mkdir -p "$tree/vendor/github.com/modern-go/reflect2"
  # Only the Go sources: Debian's directory may hold test data and symlinks we do not need.
  find "$REFLECT2_DIR" -maxdepth 1 -type f \( -name '*.go' -o -name '*.s' \) ! -name '*_test.go' \
    -exec cp {} "$tree/vendor/github.com/modern-go/reflect2/" \;

  # The Go toolchain: Debian's 1.19, in GOPATH mode, with build caches inside $work.
  export GOROOT=$GOROOT_DIR PATH="$GOROOT_DIR/bin:$PATH"
  export GOPATH=$work/gopath GOCACHE=$work/gocache GO111MODULE=off CGO_ENABLED=0
  unset GOFLAGS GOBIN
  cd "$tree"

  # The source package lacks pkg/generated/openapi's definitions (its doc.go alone makes it
  # a package, so `go build` would fail only when compiling it). kube-apiserver imports it,
  # kube-controller-manager does not: generate it only for a binary that needs it, since
  # the generator is a build of its own.
  local name pkgs=()
  for name in "${missing[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/$name"); done
  stage="listing the packages ${pkgs[*]} import"
  local deps
  # Into a variable first: with pipefail, grep -q quitting early would fail the pipeline.
  deps=$(go list -e -deps "${pkgs[@]}")
  if grep -qx 'k8s.io/kubernetes/pkg/generated/openapi' <<<"$deps"; then
    stage="generating the OpenAPI definitions (make gen_openapi)"
    make gen_openapi
  fi

  # Stamp the version, as upstream's build scripts do: otherwise the binaries report
  # v0.0.0-master. `--version` reads component-base's copy, the apiserver's /version
  # endpoint client-go's, so both get it. -s -w drops the symbol table and DWARF (about
  # 40 MB a binary); Go's own stack traces do not need them.
  local major=${K8S_VERSION%%.*} minor=${K8S_VERSION#*.}
  minor=${minor%%.*}
  local ldflags="-s -w" pkg
  for pkg in client-go/pkg/version component-base/version; do
    local v=k8s.io/kubernetes/vendor/k8s.io/$pkg
    ldflags+=" -X $v.gitVersion=v$K8S_VERSION -X $v.gitMajor=$major -X $v.gitMinor=$minor"
    ldflags+=" -X $v.gitTreeState=clean -X $v.buildDate=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  done

  local version
  for name in "${missing[@]}"; do
    local compile_started=$SECONDS
    stage="compiling $name"
    go build -o "$work/$name" -ldflags "$ldflags" "k8s.io/kubernetes/cmd/$name"

    stage="checking the new $name"
    version=$("$work/$name" --version)
    echo "$version" >&2
    [[ $version == "Kubernetes v$K8S_VERSION" ]] ||
      die "the new $name reports \"$version\", not Kubernetes v$K8S_VERSION"

    stage="caching $name"
    # Copy then rename, so a reader never sees half a binary.
    cp "$work/$name" "$CACHE_DIR/$name.tmp.$$"
    mv "$CACHE_DIR/$name.tmp.$$" "$CACHE_DIR/$name"
    echo "$prog: compiled $name $K8S_VERSION in $((SECONDS - compile_started)) s" >&2
  done
  echo "$prog: built $building $K8S_VERSION in $((SECONDS - started)) s" >&2
  ensure_kubectl >&2
  print_paths
}

case ${1:-} in
build) build ;;
path)
  [[ -x $BIN ]] || exit 1
  echo "$BIN"
  ;;
path-controller-manager)
  [[ -x $KCM_BIN ]] || exit 1
  echo "$KCM_BIN"
  ;;
*) usage ;;
esac
