#!/usr/bin/env bash
# Whole-reporter scale benchmark: for each node count, a cached synthetic SQLite cluster
# (24 hourly documents per node, 125 real CIS checks each) and one timed reporter run.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --bins --example bench_cluster
[ $# -gt 0 ] || set -- 1000 10000
for nodes in "$@"; do
  target/release/examples/bench_cluster "$nodes" "${DOCS_PER_NODE:-24}"
done
