#!/usr/bin/env bash
# Checks the runtime stage of the Dockerfile on a machine that cannot pull images.
#
# The real build starts from rust:*-bookworm and gcr.io/distroless/cc-debian12. Without
# registry access, this script builds the same runtime stage on a local stand-in for the
# distroless base, with the binaries compiled on the host (the Dockerfile's `prebuilt`
# path), then runs the image the way a cluster would: read-only root filesystem, UID 65532,
# no network.
#
# The stand-in base is made once with debootstrap (Debian packages only) and kept as
# $CHECK_BASE: the files of libc6, libgcc-s1, base-files and tzdata from a minimal bookworm,
# plus passwd/group entries for nonroot (65532) — like distroless cc, it has no shell and no
# package manager, so the checks also show that the image needs neither.
#
# Needs: a running Docker daemon with BuildKit (Debian's docker.io works, started as
# `dockerd --iptables=false --bridge=none`), and, the first time, root and debootstrap.
#
#   scripts/image-check.sh            # or: make image-check
#
# Variables: DOCKER (docker), CARGO (cargo), CARGO_TARGET_DIR (target), CHECK_IMAGE
# (cis-compliance:check), CHECK_BASE (cis-compliance-check-base:bookworm), DEBIAN_MIRROR.
set -euo pipefail
cd "$(dirname "$0")/.."

DOCKER=${DOCKER:-docker}
CARGO=${CARGO:-cargo}
TARGET_DIR=${CARGO_TARGET_DIR:-target}
CHECK_IMAGE=${CHECK_IMAGE:-cis-compliance:check}
CHECK_BASE=${CHECK_BASE:-cis-compliance-check-base:bookworm}
DEBIAN_MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
export DOCKER_BUILDKIT=1

CHECK_NAME=image-check
# shellcheck source=scripts/image-common.sh
. scripts/image-common.sh

# --- the stand-in base image ------------------------------------------------------------
if "$DOCKER" image inspect "$CHECK_BASE" >/dev/null 2>&1; then
  step "base: $CHECK_BASE (already there)"
else
  step "base: making $CHECK_BASE with debootstrap (once)"
  [ "$(id -u)" = 0 ] || fail "making the base needs root (debootstrap)"
  command -v debootstrap >/dev/null || fail "debootstrap is missing (apt-get install debootstrap)"
  debootstrap --variant=minbase bookworm "$work/rootfs" "$DEBIAN_MIRROR" >"$work/debootstrap.log" 2>&1 ||
    { tail -20 "$work/debootstrap.log" >&2; fail "debootstrap"; }
  base="$work/base"
  mkdir -p "$base"
  # The packages' own files (directories included, not recursed), spelled under /usr as
  # bookworm's merged /usr has them, and the /lib and /lib64 links.
  chroot "$work/rootfs" dpkg -L libc6 libgcc-s1 base-files tzdata |
    sed -E -e 's#^/(lib|lib64|bin|sbin)/#/usr/\1/#' -e 's#^/##' -e '/^$/d' |
    { cat; printf '%s\n' lib lib64; } | sort -u >"$work/files"
  tar -C "$work/rootfs" --no-recursion -cf - -T "$work/files" | tar -C "$base" -xf -
  mkdir -p "$base/etc" "$base/tmp" "$base/home/nonroot"
  chmod 1777 "$base/tmp"
  chown 65532:65532 "$base/home/nonroot"
  printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' >"$base/etc/passwd"
  printf 'root:x:0:\nnonroot:x:65532:\n' >"$base/etc/group"
  [ ! -e "$base/bin/sh" ] || fail "the stand-in base should not have a shell"
  tar -C "$base" -cf - . | "$DOCKER" import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'USER 65532' --change 'WORKDIR /home/nonroot' - "$CHECK_BASE" >/dev/null
fi

# --- the binaries, built on the host ------------------------------------------------------
prebuilt_context

# --- the image -----------------------------------------------------------------------------
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
revision=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
step "image: $CHECK_IMAGE (runtime stage on $CHECK_BASE, prebuilt binaries)"
"$DOCKER" build -f Dockerfile \
  --build-arg BINARIES=prebuilt \
  --build-arg RUNTIME_IMAGE="$CHECK_BASE" \
  --build-arg VERSION="$version" \
  --build-arg REVISION="$revision" \
  -t "$CHECK_IMAGE" "$work/context" ||
  fail "$BUILD_HINT"

expect_config "65532:65532|[\"/usr/local/bin/compliance-reporter\"]|/data|$version"

# Runs the image as a cluster would; extra docker options first, then '--', then arguments.
run() {
  local opts=()
  while [ $# -gt 0 ] && [ "$1" != -- ]; do opts+=("$1"); shift; done
  shift
  "$DOCKER" run --rm --read-only --user 65532:65532 --network none --cap-drop ALL \
    --security-opt no-new-privileges "${opts[@]}" "$CHECK_IMAGE" "$@"
}

step "every binary of src/bin is in /usr/local/bin, owned by root"
c=$("$DOCKER" create "$CHECK_IMAGE")
containers+=("$c")
"$DOCKER" cp "$c:/usr/local/bin" - | tar -tvf - >"$work/listing"
cat "$work/listing"
for name in "${bins[@]}"; do
  grep -Eq "^-rwxr-xr-x (root/root|0/0) .* bin/$name\$" "$work/listing" || fail "$name missing or not root-owned 0755"
done

step "/data, the working directory, belongs to 65532 (so a fresh volume there is writable)"
"$DOCKER" cp "$c:/data" - | tar -tvf - --numeric-owner >"$work/listing"
cat "$work/listing"
grep -Eq '^drwx.* 65532/65532 .* data/$' "$work/listing" || fail "/data is not owned by 65532"

step "compliancectl --version"
out=$(run --entrypoint compliancectl -- --version)
echo "$out"
[ "$out" = "compliancectl $version" ] || fail "unexpected version line: $out"

step "the reporter without its configuration exits 2 and says why"
for env in "" "-e TIGERA_COMPLIANCE_REPORT_NAME=daily -e COMPLIANCE_DATASTORE=postgres://nowhere"; do
  set +e
  # shellcheck disable=SC2086 # $env is a list of options
  out=$(run $env -- 2>&1)
  code=$?
  set -e
  echo "$out (exit $code)"
  [ "$code" = 2 ] || fail "expected exit 2, got $code"
  variable=TIGERA_COMPLIANCE_REPORT_NAME
  [ -z "$env" ] || variable=COMPLIANCE_DATASTORE
  grep -q "$variable" <<<"$out" || fail "the error does not name $variable"
done

step "no shell in the image"
if run --entrypoint /bin/sh -- -c true >/dev/null 2>&1; then fail "/bin/sh ran"; fi
echo "ok: /bin/sh cannot be started"

step "SQLite with a read-only root filesystem needs /data: without it the reporter fails"
set +e
out=$(run -v "$PWD/examples:/examples:ro" -e COMPLIANCE_RESOURCES=/examples/reports.yaml \
  -e TIGERA_COMPLIANCE_REPORT_NAME=daily-cis-results -- 2>&1)
code=$?
set -e
echo "$out (exit $code)"
[ "$code" != 0 ] || fail "the reporter wrote to a read-only /data"

step "a whole report on SQLite with a writable /data (the emptyDir of a pod)"
# A host directory stands in for the emptyDir: writable by anyone, like an emptyDir.
mkdir -m 0777 "$work/data"
data=(-v "$work/data:/data" -v "$PWD/tests/fixtures:/fixtures:ro" -v "$PWD/examples:/examples:ro")
end=$(date -u +%Y-%m-%dT00:00:00Z)
start=$(date -u -d "$end - 1 day" +%Y-%m-%dT%H:%M:%SZ)
at=$(date -u -d "$end - 1 hour" +%Y-%m-%dT%H:%M:%SZ)
run "${data[@]}" --entrypoint compliancectl -- \
  import kube-bench /fixtures/cis-1.20-node-apxd.json --node worker-1 --time "$at" --k8s-version 1.22.4
run "${data[@]}" --entrypoint compliancectl -- \
  import kube-bench /fixtures/cis-1.23-master-newrelic.json --node control-plane-1 --time "$at"
run "${data[@]}" -e COMPLIANCE_RESOURCES=/examples/reports.yaml \
  -e TIGERA_COMPLIANCE_REPORT_NAME=daily-cis-results \
  -e TIGERA_COMPLIANCE_REPORT_START_TIME="$start" -e TIGERA_COMPLIANCE_REPORT_END_TIME="$end" \
  -e COMPLIANCE_OUTPUT_DIR=/data/out -e LOG_LEVEL=warning --
run "${data[@]}" --entrypoint compliancectl -- reports show --latest daily-cis-results
ls -ln "$work/data" "$work/data/out"
[ -s "$work/data/compliance.db" ] || fail "no compliance.db in /data"
[ -n "$(ls "$work/data/out")" ] || fail "no downloads in /data/out"

image_size=$("$DOCKER" image inspect -f '{{.Size}}' "$CHECK_IMAGE")
base_size=$("$DOCKER" image inspect -f '{{.Size}}' "$CHECK_BASE")
step "passed: $CHECK_IMAGE is $((image_size / 1000000)) MB, of which $((base_size / 1000000)) MB is the stand-in base"
