#!/usr/bin/env bash
# Findings over time at scale: DAYS daily reports of NODES nodes in a cached SQLite file,
# then the diff of the last two and the lifecycle over all of them, each timed in a
# process of its own (wall time, CPU, peak RSS). Mode `churn` (default) redraws every
# day's results, the worst case for a lifecycle; `stable` repeats the same results.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --example bench_findings
target/release/examples/bench_findings "${1:-10000}" "${2:-30}" "${3:-churn}"
