#!/usr/bin/env bash
# The README demo: real kube-bench outputs → embedded store → daily-cis-results report.
#
# Each bundled fixture becomes one node, stamped an hour before today's midnight (UTC), so
# the report over yesterday's schedule window [yesterday 00:00, today 00:00] contains them
# all. Re-running replaces the same report: its id depends only on the name and window.
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=${BIN:-${CARGO_TARGET_DIR:-target}/release}
DB=${DB:-compliance.db}
OUT=${OUT:-out}
export COMPLIANCE_DATASTORE="sqlite:$DB"

end=$(date -u +%Y-%m-%dT00:00:00Z)
start=$(date -u -d "$end - 1 day" +%Y-%m-%dT%H:%M:%SZ)
at=$(date -u -d "$end - 1 hour" +%Y-%m-%dT%H:%M:%SZ)

import() { # FILE NODE [KUBERNETES_VERSION]
  "$BIN/compliancectl" import kube-bench "tests/fixtures/$1" --node "$2" --time "$at" ${3:+--k8s-version "$3"}
}
# Versions are given where kube-bench could not detect them (old releases, `none`).
import cis-1.5-node-defectdojo.json      dd-worker-1 1.15.12
import eks-1.0-node-valancej.json        ip-192-168-12-40.ec2.internal 1.18.9
import cis-1.6-master-defectdojo.json    dd-control-plane 1.19.7
import cis-1.20-node-apxd.json           hpe-worker-3 1.22.4
import cis-1.20-node-oakleysecurity.json oakley-worker
import cis-1.23-master-newrelic.json     minikube
import cis-1.12-node-mogamal.json        minikube-m02

COMPLIANCE_RESOURCES=examples/reports.yaml \
TIGERA_COMPLIANCE_REPORT_NAME=daily-cis-results \
TIGERA_COMPLIANCE_REPORT_START_TIME="$start" \
TIGERA_COMPLIANCE_REPORT_END_TIME="$end" \
COMPLIANCE_OUTPUT_DIR="$OUT" \
LOG_LEVEL=${LOG_LEVEL:-warning} \
  "$BIN/compliance-reporter"

echo
"$BIN/compliancectl" reports show --latest daily-cis-results
echo
echo "Downloads in $OUT/:"
ls -l "$OUT"
