#!/usr/bin/env bash
# Controller scale benchmark: REPORTS GlobalReports owning REPORTS x JOBS Jobs on the test
# kit's real kube-apiserver, and the release compliance-controller over them (cold pass,
# a pass that changes every status, a pass that changes nothing; requests and peak memory).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/kube-apiserver.sh build >/dev/null
cargo build --release --bin compliance-controller --example bench_controller
target/release/examples/bench_controller "${1:-1000}" "${2:-10}"
