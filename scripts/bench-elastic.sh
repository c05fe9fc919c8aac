#!/usr/bin/env bash
# Whole-reporter benchmark against Elasticsearch: for each node count, a synthetic cluster
# (the latest document of each node full size with 125 real CIS checks, 23 older small ones)
# in the in-process fake Elasticsearch, and one timed reporter run over it.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --bins --example bench_elastic
[ $# -gt 0 ] || set -- 1000 10000
for nodes in "$@"; do
  "${CARGO_TARGET_DIR:-target}/release/examples/bench_elastic" "$nodes" "${DOCS_PER_NODE:-24}"
done
