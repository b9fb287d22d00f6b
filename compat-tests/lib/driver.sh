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

# restart_broker: stop the broker under test and start it again on the same port and
# data dir, through the command run.sh gives in RESTART_BROKER; returns once it
# answers Metadata again (BOOTSTRAP stays valid).
restart_broker() {
    [[ -n "${RESTART_BROKER:-}" ]] || fail "RESTART_BROKER is not set (run the scenario through run.sh)"
    # shellcheck disable=SC2086  # RESTART_BROKER is a command line: words, no quoting
    timeout -k 5 150 $RESTART_BROKER >"$CASE_DIR/restart.out" 2>"$CASE_DIR/restart.err" \
        || fail "broker restart failed (exit $?): $(tail -n 2 "$CASE_DIR/restart.err" | tr '\n' ' ' | cut -c1-300)"
}

# wait_until SECONDS COMMAND...: retry COMMAND every 0.2 s until it succeeds; false
# after SECONDS (the caller fails with what it saw then).
wait_until() {
    local deadline=$((SECONDS + $1))
    shift
    until "$@"; do
        ((SECONDS < deadline)) || return 1
        sleep 0.2
    done
}
