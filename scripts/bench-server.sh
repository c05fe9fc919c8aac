#!/usr/bin/env bash
# compliance-server benchmark. For each store (default: sqlite fake-es), examples/bench_server
# stores one NODES-node report and REPORTS small ones and serves them on a loopback port;
# this script then measures it from outside:
#   - time to first byte and total time of the JSON list, the pages of the large report
#     (first page, second page, a status filter, a node, a test across nodes) and the HTML
#     list: the first request (cold caches) apart, then REPEAT more (min / median / max);
#   - requests per second of the list API with wrk (installed with apt-get when missing);
#   - the server's memory at rest, after the pages, and while DOWNLOADS clients download the
#     large report's all-tests.csv at once (VmHWM and sampled VmRSS from /proc/PID/status).
# Pages that answer 404 (not part of this build yet) are reported "not available".
# Usage: scripts/bench-server.sh [sqlite] [fake-es]
#
# scripts/bench-server.sh metrics: the cost of /metrics instead (examples/bench_metrics):
# the first scrape, a scrape when nothing changed and the first after a new report, over
# SQLite with NODES-node reports, without and with the per-test series; the answer's size
# and series count.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "${1:-}" = metrics ]; then
  cargo build --release --example bench_metrics
  bin="${CARGO_TARGET_DIR:-target}/release/examples/bench_metrics"
  "$bin" --nodes "${NODES:-10000}"
  "$bin" --nodes "${NODES:-10000}" --per-test
  exit 0
fi

NODES=${NODES:-10000}
REPORTS=${REPORTS:-1000}
REPEAT=${REPEAT:-20}
DOWNLOADS=${DOWNLOADS:-20}
WRK_THREADS=${WRK_THREADS:-2}
WRK_CONNECTIONS=${WRK_CONNECTIONS:-20}
WRK_DURATION=${WRK_DURATION:-15s}
# Each download gives up after this many seconds (curl --max-time); what it got is reported.
DOWNLOAD_TIMEOUT=${DOWNLOAD_TIMEOUT:-300}
# Where the pages list the reports.
HTML_LIST_PATH=${HTML_LIST_PATH:-/}
# The server runs with glibc's arenas limited as the Deployment sets them
# (manifests/compliance-server.yaml); MALLOC_ARENA_MAX= (empty) measures glibc's default.
export MALLOC_ARENA_MAX=${MALLOC_ARENA_MAX-2}
[ -n "$MALLOC_ARENA_MAX" ] || unset MALLOC_ARENA_MAX
# Targets: the report page's median total time, and the server's peak memory.
TARGET_PAGE_MS=${TARGET_PAGE_MS:-200}
TARGET_MEMORY_MB=${TARGET_MEMORY_MB:-200}

[ $# -gt 0 ] || set -- sqlite fake-es
for store in "$@"; do
  case $store in
    sqlite | fake-es) ;;
    *) echo "unknown store '$store': sqlite or fake-es" >&2; exit 2 ;;
  esac
done
command -v curl >/dev/null || { echo "curl is required" >&2; exit 1; }

cargo build --release --example bench_server
bin="${CARGO_TARGET_DIR:-target}/release/examples/bench_server"

# wrk: installed when missing and this user may (root, or sudo without a password).
if ! command -v wrk >/dev/null; then
  apt=()
  if [ "$(id -u)" = 0 ]; then apt=(apt-get); elif sudo -n true 2>/dev/null; then apt=(sudo -n apt-get); fi
  if [ ${#apt[@]} -gt 0 ] && command -v apt-get >/dev/null; then
    echo "installing wrk with apt-get" >&2
    "${apt[@]}" install -y -q wrk >/dev/null 2>&1 ||
      { "${apt[@]}" update -q >/dev/null 2>&1 && "${apt[@]}" install -y -q wrk >/dev/null 2>&1; } || true
  fi
fi
if command -v wrk >/dev/null; then have_wrk=1; else
  have_wrk=0
  echo "wrk is not installed and could not be installed here: requests per second will be skipped (apt-get install wrk)" >&2
fi

work=$(mktemp -d)
bench_pid=
stop_server() {
  if [ -n "$bench_pid" ] && kill -0 "$bench_pid" 2>/dev/null; then
    kill -TERM "$bench_pid" 2>/dev/null || true
    wait "$bench_pid" 2>/dev/null || true
  fi
  bench_pid=
}
trap 'stop_server; rm -rf "$work"' EXIT

summary="$work/summary.md"
: >"$summary"

ms() { awk '{ printf "%.1f", $1 * 1000 }' <<<"$1"; }
# min / median / max of the numbers in column $2 of file $1, in milliseconds.
stats() {
  cut -d' ' -f"$2" "$1" | sort -g | awk '{ v[NR] = $1 * 1000 } END {
    m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
    printf "%.1f / %.1f / %.1f", v[1], m, v[NR] }'
}
median_ms() {
  cut -d' ' -f"$2" "$1" | sort -g | awk '{ v[NR] = $1 * 1000 } END {
    printf "%.1f", (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
# A field of /proc/PID/status in MB (10^6 bytes; the kernel counts kB of 1024 bytes).
mem_mb() { awk -v f="$2:" '$1 == f { printf "%.0f", $2 * 1024 / 1e6 }' "/proc/$1/status"; }
# A path as the tables show it: the ids replaced by what they stand for.
shown() {
  local p=${1//$report/\{id\}}
  p=${p//\/nodes\/$node/\/nodes\/\{node\}}
  echo "${p//\/tests\/$test/\/tests\/\{test\}}"
}
# Writing 5 to /proc/PID/clear_refs resets VmHWM, so each phase's peak is its own.
reset_peak() { echo 5 >"/proc/$1/clear_refs" 2>/dev/null; }
# phase_memory LABEL: this phase's peak (VmHWM since the last reset) and VmRSS now.
phase_memory() {
  local hwm rss
  hwm=$(mem_mb "$pid" VmHWM) rss=$(mem_mb "$pid" VmRSS)
  phases+=("| $1 | $hwm | $rss |")
  [ "$hwm" -le "$peak" ] || peak=$hwm
  reset_peak "$pid" || true
}
row() { echo "$*" >>"$summary"; echo "$*"; }

curl_fmt='%{http_code} %{time_starttransfer} %{time_total} %{size_download}\n'

# measure LABEL PATH: the first request apart, then REPEAT more.
measure() {
  local label=$1 path=$2 first code times="$work/times"
  first=$(curl -s -o /dev/null -w "$curl_fmt" "$url$path" || echo "000 0 0 0")
  code=${first%% *}
  if [ "$code" = 404 ]; then
    row "| $label | \`$(shown "$path")\` | not available (404) | | | |"
    return
  elif [ "$code" != 200 ]; then
    row "| $label | \`$(shown "$path")\` | error: HTTP $code | | | |"
    return
  fi
  read -r _ cold_ttfb cold_total size <<<"$first"
  : >"$times"
  for _ in $(seq "$REPEAT"); do
    curl -s -o /dev/null -w "$curl_fmt" "$url$path" >>"$times"
  done
  if awk '$1 != 200 { bad = 1 } END { exit !bad }' "$times"; then
    row "| $label | \`$(shown "$path")\` | error: some repeats were not 200 ($(cut -d' ' -f1 "$times" | sort | uniq -c | tr -s ' ' | tr '\n' ';')) | | | |"
    return
  fi
  row "| $label | \`$(shown "$path")\` | $(awk -v s="$size" 'BEGIN { printf "%.0f", s / 1000 }') | $(ms "$cold_ttfb") / $(ms "$cold_total") | $(stats "$times" 2) | $(stats "$times" 3) |"
  if [ "$label" = "report page" ]; then
    report_page_ms=$(median_ms "$times" 3)
  fi
}

# rps LABEL PATH: wrk's requests per second and latency percentiles.
rps() {
  local label=$1 path=$2 out="$work/wrk.txt"
  if [ "$have_wrk" = 0 ]; then
    row "| $label | \`$path\` | skipped: no wrk | | | |"
    return
  fi
  wrk -t"$WRK_THREADS" -c"$WRK_CONNECTIONS" -d"$WRK_DURATION" --latency "$url$path" >"$out" 2>&1 || true
  local reqs p50 p99 errors
  reqs=$(awk '/^Requests\/sec:/ { printf "%.0f", $2 }' "$out")
  p50=$(awk '$1 == "50%" { print $2 }' "$out")
  p99=$(awk '$1 == "99%" { print $2 }' "$out")
  # "Socket errors: connect 0, read 0, write 0, timeout 1" (wrk's timeout is 2 s).
  errors=$(awk '/Non-2xx or 3xx responses:/ { printf "%s non-2xx ", $NF }
    /Socket errors:/ { sub(/.*Socket errors: /, ""); printf "%s", $0 }' "$out")
  row "| $label | \`$path\` | ${reqs:-?} | ${p50:-?} | ${p99:-?} | ${errors:-0} |"
}

for store in "$@"; do
  echo
  echo "=== $store: generating and storing $NODES + $REPORTS reports ==="
  out="$work/$store.out"
  "$bin" --store "$store" --nodes "$NODES" --reports "$REPORTS" >"$out" 2> >(tee "$work/$store.err" >&2) &
  bench_pid=$!
  line=
  for _ in $(seq 3600); do
    line=$(grep -m1 '^BENCH_SERVER ' "$out" || true)
    [ -z "$line" ] || break
    kill -0 "$bench_pid" 2>/dev/null || { echo "bench_server exited before serving" >&2; exit 1; }
    sleep 1
  done
  [ -n "$line" ] || { echo "bench_server did not start serving within an hour" >&2; exit 1; }
  url= pid= report= node= test= generate_s= store_s=
  for kv in $line; do
    case $kv in
      url=*) url=${kv#url=} ;;
      pid=*) pid=${kv#pid=} ;;
      report=*) report=${kv#report=} ;;
      node=*) node=${kv#node=} ;;
      test=*) test=${kv#test=} ;;
      generate_s=*) generate_s=${kv#generate_s=} ;;
      store_s=*) store_s=${kv#store_s=} ;;
    esac
  done
  echo "$line"
  row ""
  row "### $store"
  row ""
  row "Large report \`{id}\` = \`$report\`, \`{node}\` = \`$node\`, \`{test}\` = \`$test\`."
  phases=() peak=0
  if reset_peak "$pid"; then hwm_reset=1; else
    hwm_reset=0
    echo "cannot reset VmHWM through /proc/$pid/clear_refs: each peak below is the peak since start" >&2
  fi
  phase_memory "at rest, before any request"

  row ""
  row "Data: 1 report of $NODES nodes + $REPORTS small reports, generated in ${generate_s} s and stored in ${store_s} s (not part of the figures below)."
  row ""
  row "| request | path | size (KB) | first request: TTFB / total (ms) | TTFB min / median / max (ms) | total min / median / max (ms) |"
  row "|---|---|---|---|---|---|"
  report_page_ms=
  measure "JSON list, maxItems=1000" "/compliance/reports?maxItems=1000"
  measure "JSON list, default page" "/compliance/reports"
  measure "HTML list of reports" "$HTML_LIST_PATH"
  measure "report page" "/reports/$report"
  measure "report page, 2nd node page" "/reports/$report?page=1"
  measure "report page, status=LOW" "/reports/$report?status=LOW"
  measure "node page" "/reports/$report/nodes/$node"
  measure "test across nodes" "/reports/$report/tests/$test"
  phase_memory "the requests above, one at a time"


  # The download alone, then DOWNLOADS at once with memory sampled every 50 ms; before wrk,
  # whose many large list answers leave memory behind in the allocator.
  dl_path="/compliance/reports/$report/download?format=all-tests.csv"
  dl_fmt='%{http_code} %{size_download} %{time_total} %{exitcode}\n'
  single=$(curl -s -o /dev/null --max-time "$DOWNLOAD_TIMEOUT" -w "$dl_fmt" "$url$dl_path" || true)
  phase_memory "one download of all-tests.csv"
  touch "$work/sampling"
  (
    while [ -e "$work/sampling" ]; do
      awk '$1 == "VmRSS:" { print $2 }' "/proc/$pid/status" 2>/dev/null || true
      sleep 0.05
    done
  ) >"$work/rss-samples" &
  sampler=$!
  dl_pids=()
  for i in $(seq "$DOWNLOADS"); do
    curl -s -o /dev/null --max-time "$DOWNLOAD_TIMEOUT" -w "$dl_fmt" "$url$dl_path" >"$work/dl.$i" &
    dl_pids+=($!)
  done
  started=$(date +%s.%N)
  wait "${dl_pids[@]}" || true
  wall=$(awk -v s="$started" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }')
  rm -f "$work/sampling"
  wait "$sampler"
  cat "$work"/dl.* >"$work/dl-all"
  dl_peak_sampled=$(sort -n "$work/rss-samples" | tail -1 | awk '{ printf "%.0f", $1 * 1024 / 1e6 }')
  phase_memory "$DOWNLOADS downloads of all-tests.csv at once (highest VmRSS sampled every 50 ms: $dl_peak_sampled)"
  # curl exit code 28: stopped by --max-time.
  codes=$(awk '{ print ($4 == 28 ? "timed out" : "HTTP " $1) }' "$work/dl-all" | sort | uniq -c |
    awk '{ n = $1; $1 = ""; printf "%s%s×%s", sep, n, substr($0, 2); sep = ", " }')
  sizes=$(cut -d' ' -f2 "$work/dl-all" | sort -g | awk '{ v[NR] = $1 / 1e6 } END {
    if (v[1] == v[NR]) printf "%.1f MB each", v[1]; else printf "%.1f to %.1f MB", v[1], v[NR] }')
  awk '{ print 0, $3 / 1000 }' "$work/dl-all" >"$work/dl-times"
  dl_times=$(stats "$work/dl-times" 2)
  read -r single_code single_size single_time single_exit <<<"$single"
  single_what="HTTP $single_code"
  [ "$single_exit" != 28 ] || single_what="timed out after $DOWNLOAD_TIMEOUT s"

  row ""
  row "| wrk -t$WRK_THREADS -c$WRK_CONNECTIONS -d$WRK_DURATION | path | requests/s | p50 | p99 | errors |"
  row "|---|---|---|---|---|---|"
  rps "JSON list, default page (100)" "/compliance/reports"
  phase_memory "wrk on the default page"
  rps "JSON list, maxItems=1000" "/compliance/reports?maxItems=1000"
  phase_memory "wrk on maxItems=1000"
  row ""
  if [ "$hwm_reset" = 1 ]; then peak_what="peak of the phase (VmHWM)"; else peak_what="peak since start (VmHWM)"; fi
  row "| server memory, MB (10^6 bytes) | $peak_what | VmRSS after it |"
  row "|---|---|---|"
  for p in "${phases[@]}"; do row "$p"; done
  row ""
  row "all-tests.csv of the $NODES-node report: one download alone: $single_what, $(awk -v s="$single_size" 'BEGIN { printf "%.1f", s / 1e6 }') MB in $(awk -v t="$single_time" 'BEGIN { printf "%.2f", t }') s; $DOWNLOADS at once: $codes, $sizes, $dl_times s min / median / max each, all done in $wall s."

  verdict_page="not measured (no report page)"
  if [ -n "$report_page_ms" ]; then
    if awk -v m="$report_page_ms" -v t="$TARGET_PAGE_MS" 'BEGIN { exit !(m < t) }'; then
      verdict_page="met: median $report_page_ms ms < $TARGET_PAGE_MS ms"
    else
      verdict_page="MISSED: median $report_page_ms ms >= $TARGET_PAGE_MS ms"
    fi
  fi
  if [ "$peak" -lt "$TARGET_MEMORY_MB" ]; then
    verdict_mem="met: peak $peak MB < $TARGET_MEMORY_MB MB"
  else
    verdict_mem="MISSED: peak $peak MB >= $TARGET_MEMORY_MB MB"
  fi
  row ""
  row "Targets: report page under $TARGET_PAGE_MS ms: $verdict_page. Memory under $TARGET_MEMORY_MB MB: $verdict_mem."

  stop_server
done

echo
echo "================ summary ================"
cat "$summary"
