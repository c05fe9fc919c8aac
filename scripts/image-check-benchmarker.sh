#!/usr/bin/env bash
# Checks the Dockerfile's benchmarker target on a machine that cannot pull images.
#
# The real build starts from docker.io/library/debian:bookworm-slim and copies kube-bench
# out of docker.io/aquasec/kube-bench. Here both are local stand-ins:
#
#   - Debian slim: a debootstrap minbase bookworm with the packages the stage installs
#     (procps, jq, openssl, ca-certificates) already in it, so the stage's install step
#     finds nothing missing and needs no network. Kept as $CHECK_DEBIAN.
#   - kube-bench: an image holding, at the paths of the real one, a shell script as
#     /usr/local/bin/kube-bench that checks how it was started and where (arguments,
#     working directory, its checks directory, /bin/sh accepting [[ ]], the tools audits
#     call) and then prints a recorded kube-bench run (tests/fixtures); a config.yaml; and
#     the ownership helper script.
#   - the node's /usr/bin: a directory holding a kubectl that answers `version`, mounted
#     at /usr/local/mount-from-host/bin as the DaemonSet mounts the host's.
#
# The binaries are compiled on the host (the Dockerfile's `prebuilt` path). The image is
# then run as the DaemonSet runs it: read-only root filesystem, UID 0 with every capability
# dropped but DAC_READ_SEARCH, no privilege escalation, a writable /tmp, no network.
#
# Needs: a running Docker daemon with BuildKit (see scripts/image-check.sh), and, the
# first time, root, debootstrap and a Debian mirror.
#
#   scripts/image-check-benchmarker.sh      # or: make image-check-benchmarker
#
# Variables: DOCKER (docker), CARGO (cargo), CARGO_TARGET_DIR (target), CHECK_IMAGE
# (cis-compliance-benchmarker:check), CHECK_DEBIAN (cis-compliance-check-debian:bookworm-slim),
# CHECK_KUBE_BENCH (cis-compliance-check-kube-bench:stand-in), DEBIAN_MIRROR.
set -euo pipefail
cd "$(dirname "$0")/.."

DOCKER=${DOCKER:-docker}
CARGO=${CARGO:-cargo}
TARGET_DIR=${CARGO_TARGET_DIR:-target}
CHECK_IMAGE=${CHECK_IMAGE:-cis-compliance-benchmarker:check}
CHECK_DEBIAN=${CHECK_DEBIAN:-cis-compliance-check-debian:bookworm-slim}
CHECK_KUBE_BENCH=${CHECK_KUBE_BENCH:-cis-compliance-check-kube-bench:stand-in}
DEBIAN_MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
FIXTURE=tests/fixtures/cis-1.23-master-newrelic.json
export DOCKER_BUILDKIT=1

CHECK_NAME=image-check-benchmarker
# shellcheck source=scripts/image-common.sh
. scripts/image-common.sh

# --- the stand-in for Debian slim ---------------------------------------------------------
if "$DOCKER" image inspect "$CHECK_DEBIAN" >/dev/null 2>&1; then
  step "Debian slim stand-in: $CHECK_DEBIAN (already there)"
else
  step "Debian slim stand-in: making $CHECK_DEBIAN with debootstrap (once)"
  [ "$(id -u)" = 0 ] || fail "making the stand-in needs root (debootstrap)"
  command -v debootstrap >/dev/null || fail "debootstrap is missing (apt-get install debootstrap)"
  debootstrap --variant=minbase --include=procps,jq,openssl,ca-certificates \
    bookworm "$work/rootfs" "$DEBIAN_MIRROR" >"$work/debootstrap.log" 2>&1 ||
    { tail -20 "$work/debootstrap.log" >&2; fail "debootstrap"; }
  rm -rf "$work/rootfs/var/lib/apt/lists/"* "$work/rootfs/var/cache/apt/"*.bin
  tar -C "$work/rootfs" -cf - . | "$DOCKER" import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["bash"]' - "$CHECK_DEBIAN" >/dev/null
fi

# --- the stand-in for the kube-bench image ------------------------------------------------
step "kube-bench stand-in: $CHECK_KUBE_BENCH"
kb="$work/kube-bench"
mkdir -p "$kb/usr/local/bin" "$kb/opt/kube-bench/cfg" "$kb/go/bin"
cp "$FIXTURE" "$kb/opt/kube-bench/cfg/stand-in-output.json"
printf 'master:\n  components: []\nnode:\n  components: []\n' >"$kb/opt/kube-bench/cfg/config.yaml"
cat >"$kb/usr/local/bin/kube-bench" <<'SCRIPT'
#!/bin/sh
# Stand-in for kube-bench (scripts/image-check-benchmarker.sh): checks how it was started
# and the tools its audits need, then prints a recorded run.
problem() { echo "stand-in kube-bench: $*" >&2; exit 3; }
[ -n "${KUBE_BENCH_STAND_IN_LOG:-}" ] && printf '%s\n' "$*" >"$KUBE_BENCH_STAND_IN_LOG"
cfg=""
json=no
while [ $# -gt 0 ]; do
  case "$1" in
    --json) json=yes ;;
    --config-dir) cfg=$2; shift ;;
    --config-dir=*) cfg=${1#*=} ;;
  esac
  shift
done
[ "$json" = yes ] || problem "started without --json"
[ -r "${cfg:-./cfg}/config.yaml" ] || problem "no config.yaml in ${cfg:-./cfg} (working directory $PWD)"
[ "$PWD" = /opt/kube-bench ] || problem "working directory is $PWD, not /opt/kube-bench"
# kube-bench feeds each audit to /bin/sh on standard input; some use bash's [[ ]].
echo '[[ "a b" == "a b" ]] && x=$(echo ok) && [[ $x == ok ]]' | /bin/sh ||
  problem "/bin/sh does not run bash syntax"
for tool in ps stat grep sed awk find xargs jq openssl bash; do
  command -v "$tool" >/dev/null || problem "$tool is not in PATH ($PATH)"
done
ps -ef | grep -q '[k]ube-bench' || problem "ps -ef does not list processes"
cat /opt/kube-bench/cfg/stand-in-output.json
SCRIPT
# The node's /usr/bin, with the kubectl the benchmarker takes the version from.
mkdir -p "$work/host-usr-bin"
cat >"$work/host-usr-bin/kubectl" <<'SCRIPT'
#!/bin/sh
# Stand-in for the node's kubectl: only `kubectl version`, as a 1.28+ client prints it.
case "$1" in
  version) printf 'Client Version: v1.23.17\nKustomize Version: v4.5.7\nServer Version: v1.23.5\n' ;;
  *) echo "stand-in kubectl: $*: not supported" >&2; exit 1 ;;
esac
SCRIPT
chmod 0755 "$work/host-usr-bin/kubectl"
printf '#!/bin/sh\n# Stand-in for kube-bench'"'"'s ownership helper.\necho true\n' \
  >"$kb/go/bin/check_files_owner_in_dir.sh"
chmod 0755 "$kb/usr/local/bin/"* "$kb/go/bin/"*
printf 'FROM scratch\nCOPY . /\n' >"$work/Dockerfile.kube-bench"
"$DOCKER" build -q -f "$work/Dockerfile.kube-bench" -t "$CHECK_KUBE_BENCH" "$kb" >/dev/null ||
  fail "building the kube-bench stand-in"

# --- the binaries, built on the host --------------------------------------------------------
prebuilt_context

# --- the image -------------------------------------------------------------------------------
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
step "image: $CHECK_IMAGE (benchmarker target on the stand-ins, prebuilt binaries)"
# No network for RUN: the stage's install step must find everything in the stand-in.
"$DOCKER" build -f Dockerfile --target benchmarker --network none \
  --build-arg BINARIES=prebuilt \
  --build-arg KUBE_BENCH_IMAGE="$CHECK_KUBE_BENCH" \
  --build-arg BENCHMARKER_BASE_IMAGE="$CHECK_DEBIAN" \
  --build-arg VERSION="$version" \
  -t "$CHECK_IMAGE" "$work/context" ||
  fail "$BUILD_HINT"

expect_config "0:0|[\"/usr/local/bin/compliance-benchmarker\"]|/opt/kube-bench|$version"
env_list=$("$DOCKER" image inspect -f '{{range .Config.Env}}{{println .}}{{end}}' "$CHECK_IMAGE")
echo "$env_list"
grep -qx 'KUBE_BENCH_ARGS=--json --config-dir /opt/kube-bench/cfg' <<<"$env_list" ||
  fail "KUBE_BENCH_ARGS does not name the checks directory"
grep -q '^PATH=.*:/usr/local/mount-from-host/bin$' <<<"$env_list" ||
  fail "the node's /usr/bin is not last in PATH"

# Runs the image as the DaemonSet does; extra docker options first, then '--', then arguments.
run() {
  local opts=()
  while [ $# -gt 0 ] && [ "$1" != -- ]; do opts+=("$1"); shift; done
  shift
  "$DOCKER" run --rm --read-only --tmpfs /tmp --user 0:0 --network none \
    --cap-drop ALL --cap-add DAC_READ_SEARCH --security-opt no-new-privileges \
    "${opts[@]}" "$CHECK_IMAGE" "$@"
}

step "what the stage copied: kube-bench, the checks, the helper, the benchmarker"
c=$("$DOCKER" create "$CHECK_IMAGE")
containers+=("$c")
"$DOCKER" cp "$c:/usr/local/bin" - | tar -tvf - >"$work/listing"
cat "$work/listing"
for name in kube-bench check_files_owner_in_dir.sh compliance-benchmarker; do
  grep -Eq "^-rwxr-xr-x (root/root|0/0) .* bin/$name\$" "$work/listing" ||
    fail "$name missing from /usr/local/bin or not root-owned 0755"
done
"$DOCKER" cp "$c:/opt/kube-bench/cfg" - | tar -tf - | grep -qx 'cfg/config.yaml' ||
  fail "/opt/kube-bench/cfg/config.yaml missing"

step "kube-bench, started as the benchmarker starts it, finds its checks and tools"
# shellcheck disable=SC2016 # expanded by the container's shell, from the image's ENV
out=$(run --entrypoint /bin/sh -- -c 'exec kube-bench $KUBE_BENCH_ARGS --version 1.23')
python3 -c 'import json,sys; d=json.load(sys.stdin); print("kube-bench output:", len(d["Controls"]), "sections")' <<<"$out" ||
  fail "kube-bench's output is not the recorded JSON"
step "... and without --config-dir (KUBE_BENCH_ARGS overridden), from the working directory"
run --entrypoint kube-bench -- --json >/dev/null || fail "kube-bench without --config-dir"

step "DAC_READ_SEARCH reads a file of another owner (mode 0600); nothing can be written"
mkdir -p "$work/node/pki"
echo secret >"$work/node/pki/other.key"
chown -R 1234:1234 "$work/node/pki"
chmod 0700 "$work/node/pki"
chmod 0600 "$work/node/pki/other.key"
node=(-v "$work/node:/etc/kubernetes:ro")
out=$(run "${node[@]}" --entrypoint cat -- /etc/kubernetes/pki/other.key)
[ "$out" = secret ] || fail "could not read a 0600 file of UID 1234"
if "$DOCKER" run --rm --read-only --user 0:0 --network none --cap-drop ALL "${node[@]}" \
  --entrypoint cat "$CHECK_IMAGE" /etc/kubernetes/pki/other.key >/dev/null 2>&1; then
  fail "root without DAC_READ_SEARCH read it too: the capability is not what grants it"
fi
echo "ok: readable with DAC_READ_SEARCH only, not without"
for target in /etc/kubernetes/new /opt/kube-bench/new /usr/local/bin/new; do
  if run "${node[@]}" --entrypoint touch -- "$target" 2>/dev/null; then fail "wrote $target"; fi
done
run --entrypoint touch -- /tmp/new || fail "/tmp is not writable"
echo "ok: only /tmp is writable"

step "one benchmark run: compliance-benchmarker --once --output /out/result.json"
mkdir -m 0777 "$work/out"
run -v "$work/out:/out" -v "$work/host-usr-bin:/usr/local/mount-from-host/bin:ro" -e NODENAME=node-1 -e COMPLIANCE_DATASTORE=sqlite:/out/compliance.db \
  -e KUBE_BENCH_STAND_IN_LOG=/out/kube-bench-args -e LOG_LEVEL=info \
  -- --once --output /out/result.json
ls -l "$work/out"
[ -s "$work/out/result.json" ] || fail "no result written"
grep -q 'node-1' "$work/out/result.json" || fail "the result does not name the node"
if [ -f "$work/out/kube-bench-args" ]; then
  echo "kube-bench was started with: $(cat "$work/out/kube-bench-args")"
  grep -q -- '--version 1.23' "$work/out/kube-bench-args" ||
    fail "the version from the node's kubectl (1.23) was not passed to kube-bench"
fi

image_size=$("$DOCKER" image inspect -f '{{.Size}}' "$CHECK_IMAGE")
step "passed: $CHECK_IMAGE is $((image_size / 1000000)) MB"
