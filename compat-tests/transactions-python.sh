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
    if [[ "$t" == rafka ]]; then
        out="$(RAFKA_SERVE_STATE="$dir/state" RAFKA_BIN="$RAFKA" RAFKA_SERVE_DATA="$dir/data" \
            RAFKA_SERVE_LOG="$dir/broker.log" "$COMPAT_DIR/lib/rafka-serve.sh" start)" || { echo "FAIL: rafka did not start"; exit 1; }
    else
        out="$(KAFKA_REF_STATE="$dir/state" KAFKA_REF_DIR="$dir/kafka" "$COMPAT_DIR/kafka-ref.sh" start)" \
            || { echo "FAIL: kafka did not start"; exit 1; }
    fi
    echo "== $t"
    timeout 180 "$PY" "$COMPAT_DIR/transactions/python_txn.py" "$(tail -n 1 <<<"$out")" | sed "s/^/[$t] /"
    ((PIPESTATUS[0] == 0)) || rc=1
    if [[ "$t" == rafka ]]; then
        RAFKA_SERVE_STATE="$dir/state" "$COMPAT_DIR/lib/rafka-serve.sh" stop >/dev/null 2>&1
    else
        KAFKA_REF_STATE="$dir/state" "$COMPAT_DIR/kafka-ref.sh" stop >/dev/null 2>&1
    fi
    rm -rf "$dir"
done
exit "$rc"
