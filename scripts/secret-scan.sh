#!/usr/bin/env bash
# Looks for every secret the tests handed to a program in everything the programs and the
# test harness printed (docs/security.md, "Secrets in logs").
#
#   scripts/secret-scan.sh DIR [EXTRA_LOG...]   scan DIR (COMPLIANCE_TEST_LOGS of a run)
#   scripts/secret-scan.sh --self-test          check that the scan finds what it must
#
# DIR/secrets/*.txt hold the secrets (one a line: fixed test passwords, API keys, the
# test API server's tokens, ServiceAccount tokens minted during the run), DIR/*.log the
# programs' stdout and stderr (compliance_testkit::secrets). A secret found is printed
# masked, with the file and line number, and the scan exits 1. An empty scan (no secrets
# or no logs) also fails: it would prove nothing.
set -euo pipefail

mask() {
    local s=$1
    printf '%s…(%d characters)' "${s:0:3}" "${#s}"
}

scan() {
    local dir=$1
    shift
    local secrets_file
    secrets_file=$(mktemp)
    if compgen -G "$dir/secrets/*.txt" > /dev/null; then
        cat "$dir"/secrets/*.txt | awk 'length($0) >= 8' | sort -u > "$secrets_file"
    fi
    local n_secrets
    n_secrets=$(wc -l < "$secrets_file")
    local logs=()
    while IFS= read -r -d '' f; do logs+=("$f"); done \
        < <(find "$dir" -maxdepth 1 -type f -name '*.log' -print0)
    for extra in "$@"; do
        [ -f "$extra" ] && logs+=("$extra")
    done
    if [ "$n_secrets" -eq 0 ] || [ "${#logs[@]}" -eq 0 ]; then
        rm -f "$secrets_file"
        echo "secret scan: nothing to scan in $dir ($n_secrets secrets, ${#logs[@]} logs): the tests kept no logs" >&2
        return 1
    fi
    local lines
    lines=$(cat "${logs[@]}" | wc -l)
    local found=0
    # -F: secrets are literal strings; -o: only the match, so the line is not echoed.
    while IFS=: read -r file line match; do
        echo "secret scan: $(mask "$match") found in $file line $line" >&2
        found=$((found + 1))
    done < <(grep -HnoF -f "$secrets_file" "${logs[@]}" || true)
    rm -f "$secrets_file"
    if [ "$found" -gt 0 ]; then
        echo "secret scan: $found secret(s) in the logs" >&2
        return 1
    fi
    echo "secret scan: $n_secrets secrets, ${#logs[@]} logs, $lines lines: none found"
}

self_test() {
    local dir
    dir=$(mktemp -d)
    mkdir -p "$dir/secrets"
    printf 'hunter2-self-test\nshort\n' > "$dir/secrets/1.txt"
    printf 'a clean line\n' > "$dir/clean.log"
    if ! scan "$dir" > /dev/null; then
        echo "secret scan self-test: a clean log was refused" >&2
        return 1
    fi
    printf 'Authorization: Basic hunter2-self-test\n' > "$dir/leaky.log"
    if scan "$dir" 2> "$dir/err.txt" > /dev/null; then
        echo "secret scan self-test: a leaked secret was not found" >&2
        return 1
    fi
    if grep -q 'hunter2-self-test' "$dir/err.txt"; then
        echo "secret scan self-test: the report printed the secret itself" >&2
        return 1
    fi
    rm -f "$dir"/*.log
    if scan "$dir" > /dev/null 2>&1; then
        echo "secret scan self-test: an empty scan passed" >&2
        return 1
    fi
    rm -rf "$dir"
    echo "secret scan self-test: ok"
}

case "${1:-}" in
    --self-test) self_test ;;
    "") echo "usage: $0 DIR [EXTRA_LOG...] | --self-test" >&2; exit 2 ;;
    *) scan "$@" ;;
esac
