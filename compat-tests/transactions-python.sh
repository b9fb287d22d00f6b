#!/usr/bin/env bash
# Transactions with the Python clients (confluent-kafka, kafka-python) against Rafka and
# Apache Kafka: compat-tests/transactions/python_txn.py on a fresh broker per target.
# Run by hand (not in .ci/run yet); results in docs/transactions-tests.md.
#
#   compat-tests/transactions-python.sh [--target rafka|kafka|both]   (default both)
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
TARGET=both
[[ "${1:-}" == --target ]] && TARGET="$2"
RAFKA="${RAFKA:-$REPO_DIR/target/release/rafka}"
PY="$COMPAT_DIR/.work/venv/bin/python"
[[ -x "$PY" ]] || { echo "FAIL: no venv: run compat-tests/setup.sh"; exit 1; }
rc=0
for t in rafka kafka; do
    [[ "$TARGET" == both || "$TARGET" == "$t" ]] || continue
    dir="$(mktemp -d /tmp/pytxn.XXXXXX)"
    bootstrap="$(RAFKA_BIN="$RAFKA" target_start "$t" "$dir")" || { echo "FAIL: $t did not start"; exit 1; }
    echo "== $t"
    timeout 180 "$PY" "$COMPAT_DIR/transactions/python_txn.py" "$bootstrap" | sed "s/^/[$t] /"
    ((PIPESTATUS[0] == 0)) || rc=1
    target_stop "$t" "$dir"
    rm -rf "$dir"
done
exit "$rc"
