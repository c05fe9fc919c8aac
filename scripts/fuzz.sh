#!/usr/bin/env bash
# The fuzz targets of fuzz/ (docs/fuzzing.md), with cargo-fuzz on the nightly toolchain.
#
#   scripts/fuzz.sh ensure                            nightly and cargo-fuzz are there (installs
#                                                     cargo-fuzz from crates.io when missing)
#   scripts/fuzz.sh smoke [SECONDS]                   builds every target, runs each SECONDS
#                                                     (default 20) from its seed corpus; fails
#                                                     on any crash, timeout or OOM
#   scripts/fuzz.sh campaign TARGET [RUNS] [MAX_SECONDS]
#                                                     a long run (default 10,000,000 runs or
#                                                     1,800 s), growing fuzz/corpus-local/TARGET
#
# Every run uses a copy of the committed seeds (fuzz/corpus/TARGET) as its second corpus, so
# the seeds stay as committed; what a run finds goes to fuzz/corpus-local/ (ignored by git)
# and a crashing input to fuzz/artifacts/TARGET/. Environment: FUZZ_SANITIZER (default
# `address`; `none` builds faster and finds panics, overflows and hangs, not memory errors
# in C code), FUZZ_PROFILE (default `release`: optimised, as campaigns need; `dev`
# compiles several times faster and runs slower, enough for a smoke run) and NICE
# (default 10: the machines are shared). `make test` smokes with `none` and `dev`, so a
# clean CI clone builds the targets in minutes rather than the better part of an hour.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"

TARGETS=(kube_bench ndjson global_report_yaml env_values es_responses server_params report_core)
SANITIZER=${FUZZ_SANITIZER:-address}
NICE=${NICE:-10}
# libFuzzer's limits: a run using over 2 GiB or one input taking over 10 s is a finding.
LIMITS=(-rss_limit_mb=2048 -timeout=10 -print_final_stats=1)

fuzz() {
	nice -n "$NICE" cargo +nightly fuzz "$@"
}

# cargo-fuzz's default build: optimised, with debug assertions and overflow checks (an
# overflow panics, as in tests), instrumented for coverage.
build_flags() {
	printf '%s\n' --sanitizer "$SANITIZER"
	if [[ ${FUZZ_PROFILE:-release} == dev ]]; then printf '%s\n' --dev; fi
}

ensure() {
	if ! cargo +nightly --version >/dev/null 2>&1; then
		echo "fuzz: no nightly toolchain (rustup toolchain list); cargo-fuzz needs one" >&2
		return 1
	fi
	if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
		echo "fuzz: installing cargo-fuzz from crates.io" >&2
		cargo install cargo-fuzz --locked >&2 || {
			echo "fuzz: cargo-fuzz could not be installed" >&2
			return 1
		}
	fi
}

dict_args() {
	local target=$1
	if [[ -f dict/$target.dict ]]; then echo "-dict=dict/$target.dict"; fi
}

# run TARGET OUTDIR libFuzzer-flags...: one target over OUTDIR (grown) and its seeds (read).
run() {
	local target=$1 out=$2
	shift 2
	mkdir -p "$out" "artifacts/$target"
	local dict
	dict=$(dict_args "$target")
	mapfile -t flags < <(build_flags)
	# shellcheck disable=SC2086
	fuzz run "${flags[@]}" "$target" "$out" "corpus/$target" -- \
		"${LIMITS[@]}" -artifact_prefix="artifacts/$target/" $dict "$@"
}

smoke() {
	local seconds=${1:-20}
	if ! ensure; then
		echo "fuzz smoke SKIPPED: no nightly toolchain or cargo-fuzz here"
		return 0
	fi
	mapfile -t flags < <(build_flags)
	local start=$SECONDS
	fuzz build "${flags[@]}"
	echo "fuzz smoke: built ${#TARGETS[@]} targets in $((SECONDS - start)) s (sanitizer $SANITIZER)"
	local tmp
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' RETURN
	local failed=()
	for target in "${TARGETS[@]}"; do
		local log=$tmp/$target.log
		if run "$target" "$tmp/$target" -max_total_time="$seconds" >"$log" 2>&1; then
			echo "fuzz smoke: $target ok: $(summary "$log")"
		else
			echo "fuzz smoke: $target FAILED: $(summary "$log")"
			tail -n 60 "$log"
			failed+=("$target")
		fi
	done
	echo "fuzz smoke: ${#TARGETS[@]} targets in $((SECONDS - start)) s"
	if ((${#failed[@]})); then
		echo "fuzz smoke: crashes in ${failed[*]} (inputs under fuzz/artifacts/)" >&2
		return 1
	fi
}

# The executions, time and speed of a libFuzzer log: `Done N runs in S second(s)`, else
# the final stats.
summary() {
	local log=$1 runs secs
	runs=$(sed -n 's/^Done \([0-9]*\) runs in \([0-9]*\) second.*/\1/p' "$log" | tail -n 1)
	secs=$(sed -n 's/^Done \([0-9]*\) runs in \([0-9]*\) second.*/\2/p' "$log" | tail -n 1)
	if [[ -z $runs ]]; then
		runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
	fi
	local speed=""
	if [[ -n $runs && -n $secs && $secs -gt 0 ]]; then speed=", $((runs / secs)) exec/s"; fi
	local cov ft corp rss
	cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1 | cut -d' ' -f2)
	ft=$(grep -o 'ft: [0-9]*' "$log" | tail -n 1 | cut -d' ' -f2)
	corp=$(grep -o 'corp: [0-9]*/[0-9]*[a-zA-Z]*' "$log" | tail -n 1 | cut -d' ' -f2)
	rss=$(sed -n 's/^stat::peak_rss_mb: *//p' "$log" | tail -n 1)
	echo "${runs:-?} runs in ${secs:-?} s${speed}, cov ${cov:-?}, ft ${ft:-?}, corpus ${corp:-?}, peak RSS ${rss:-?} MB"
}

campaign() {
	local target=${1:?usage: scripts/fuzz.sh campaign TARGET [RUNS] [MAX_SECONDS]}
	local runs=${2:-10000000} seconds=${3:-1800}
	ensure
	local log=corpus-local/$target.log
	mkdir -p corpus-local
	local start=$SECONDS status=0
	# The run's own status: the filters after it may match nothing, and a `|| true` would
	# replace PIPESTATUS (a campaign that found a timeout once said `exit 0`).
	run "$target" "corpus-local/$target" -runs="$runs" -max_total_time="$seconds" >"$log" 2>&1 ||
		status=$?
	grep -E '^(#[0-9]+.*(pulse|DONE)|Done|==|SUMMARY|stat::)' "$log" || true
	local files
	files=$(find "corpus-local/$target" -type f | wc -l)
	echo "campaign $target: $(summary "$log"), ${files} inputs in corpus-local/$target," \
		"$((SECONDS - start)) s wall, exit $status"
	return "$status"
}

case ${1:-} in
ensure) ensure ;;
smoke) smoke "${2:-}" ;;
campaign) campaign "${@:2}" ;;
*)
	sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'
	exit 2
	;;
esac
