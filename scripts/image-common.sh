# Sourced by scripts/image-check.sh and scripts/image-check-benchmarker.sh: their step and
# failure messages, a work directory removed on exit together with the containers listed
# in `containers`, and the check that a Docker daemon answers. Needs DOCKER and CHECK_NAME.

step() { printf '\n== %s\n' "$*"; }
fail() { printf '%s: FAILED: %s\n' "$CHECK_NAME" "$*" >&2; exit 1; }

work=$(mktemp -d)
containers=()
cleanup() {
  for c in "${containers[@]}"; do "$DOCKER" rm -f "$c" >/dev/null 2>&1 || true; done
  rm -rf "$work"
}
trap cleanup EXIT

"$DOCKER" info >/dev/null 2>&1 ||
  fail "no Docker daemon answers to '$DOCKER info' (start one, e.g. dockerd --iptables=false --bridge=none &)"

# Builds every src/bin binary on the host and puts it in $work/context/bin, the build
# context of the Dockerfile's `prebuilt` stage; `bins` lists their names. Like the
# Dockerfile's builder (RELEASE_DEBUG=0): no debug information, symbols kept. Needs CARGO
# and TARGET_DIR.
prebuilt_context() {
  step "binaries: $CARGO build --release --locked --bins"
  "$CARGO" build --release --locked --bins
  mkdir -p "$work/context/bin"
  bins=()
  local source name
  for source in src/bin/*.rs; do
    name=$(basename "$source" .rs)
    bins+=("$name")
    if command -v strip >/dev/null; then
      strip --strip-debug -o "$work/context/bin/$name" "$TARGET_DIR/release/$name"
    else
      cp "$TARGET_DIR/release/$name" "$work/context/bin/"
    fi
  done
  ls -l "$work/context/bin"
}

BUILD_HINT="docker build (it needs BuildKit: a client with buildx, or the 20.10 client of Debian's docker.io, e.g. DOCKER=/usr/bin/docker)"

# Fails unless $CHECK_IMAGE's user|entrypoint|workdir|version label is $1.
expect_config() {
  local config
  config=$("$DOCKER" image inspect -f \
    '{{.Config.User}}|{{json .Config.Entrypoint}}|{{.Config.WorkingDir}}|{{index .Config.Labels "org.opencontainers.image.version"}}' \
    "$CHECK_IMAGE")
  echo "user|entrypoint|workdir|version: $config"
  [ "$config" = "$1" ] || fail "unexpected image config: $config"
}
