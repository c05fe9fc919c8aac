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
