#!/usr/bin/env bash
# The benchmarker's cost per run and its memory while the store is down.
#
# A stand-in kube-bench prints a real control-plane output (125 checks) alternating with a
# worker-node one, so every run differs from the last and is queued; the SQLite store sits
# in a directory that does not exist, so every store attempt fails. The daemon runs RUNS
# runs (default 120) one second apart; the script prints its resident memory after each
# tenth run. With the queue bounded at 48 documents, memory must level off.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --bin compliance-benchmarker
bin="${CARGO_TARGET_DIR:-target}/release/compliance-benchmarker"
runs_wanted="${RUNS:-120}"
work=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT
mkdir "$work/bin"
fixtures="$PWD/tests/fixtures"
cat > "$work/bin/kubelet" <<'EOF'
#!/bin/sh
echo "Kubernetes v1.29.3"
EOF
cat > "$work/bin/kube-bench" <<EOF
#!/bin/sh
n=\$((\$(cat "$work/runs" 2>/dev/null || echo 0) + 1))
echo \$n > "$work/runs"
if [ \$((n % 2)) -eq 0 ]; then cat "$fixtures/cis-1.23-master-newrelic.json"
else cat "$fixtures/cis-1.20-node-oakleysecurity.json"; fi
EOF
chmod +x "$work/bin/"*

PATH="$work/bin:/usr/bin:/bin" NODENAME=bench-node BENCHMARK_INTERVAL=1s \
  COMPLIANCE_DATASTORE="sqlite:$work/missing/compliance.db" LOG_LEVEL=error \
  "$bin" 2>"$work/log" &
pid=$!

rss() { awk '/^VmRSS/ {print $2}' "/proc/$pid/status"; }
hwm() { awk '/^VmHWM/ {print $2}' "/proc/$pid/status"; }
start=$(date +%s.%N)
printf '%6s  %10s  %10s\n' runs 'RSS (kB)' 'peak (kB)'
last=0
while :; do
  # Empty while the stand-in rewrites it.
  n=$(cat "$work/runs" 2>/dev/null || true)
  n=${n:-$last}
  if [ "$n" -ge $((last + 10)) ]; then
    last=$((n - n % 10))
    printf '%6d  %10d  %10d\n' "$n" "$(rss)" "$(hwm)"
  fi
  [ "$n" -ge "$runs_wanted" ] && break
  kill -0 "$pid" 2>/dev/null || { echo "the benchmarker exited:"; cat "$work/log"; exit 1; }
  sleep 0.2
done
end=$(date +%s.%N)
cpu=$(awk '{print ($14 + $15) / 100}' "/proc/$pid/stat")
kill -TERM "$pid"
wait "$pid" || true
awk -v n="$runs_wanted" -v s="$start" -v e="$end" -v cpu="$cpu" 'BEGIN {
  printf "%d runs in %.0f s wall; benchmarker CPU %.2f s in all (%.1f ms per run, kube-bench excluded)\n",
    n, e - s, cpu, cpu * 1000 / n }'
