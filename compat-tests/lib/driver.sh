# Helpers for the bash scenario drivers (clients/kcat.sh, clients/kafka-java.sh).
# Sourced. A driver is called as `DRIVER SCENARIO` with BOOTSTRAP, TOPIC and
# CASE_DIR in the environment, and must end by printing "OK: ..." (exit 0)
# or "FAIL: ..." (exit 1).
# shellcheck shell=bash
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
: "${BOOTSTRAP:?}" "${TOPIC:?}" "${CASE_DIR:?}"
COMPAT_PY="$COMPAT_DIR/lib/compat.py"

fail() { echo "FAIL: $*"; exit 1; }

# expect_grep FILE REGEX WHAT: fail unless FILE contains REGEX (extended, case-sensitive).
expect_grep() {
    grep -Eq -- "$2" "$1" || fail "$3 (output: $(tr '\n' ' ' <"$1" | cut -c1-300))"
}

# fixture ARGS...: run a compat.py fixture (create-topic, produce-seeded, ...);
# its stdout is passed through, a failure ends the scenario.
fixture() {
    local err="$CASE_DIR/fixture.err"
    "$VENV_PY" "$COMPAT_PY" "$@" 2>"$err" \
        || fail "fixture '$1' failed: $(grep -v '^ ' "$err" | tail -n 1 | cut -c1-300)"
}

# check KIND ARGS... < consumed-output: compat.py verdict, becomes the scenario's.
check() {
    "$VENV_PY" "$COMPAT_PY" check "$@"
}

# gen KIND CLIENT > file: producer input lines.
gen() {
    "$VENV_PY" "$COMPAT_PY" gen "$1" --client "$2"
}
