#!/usr/bin/env bash
# Scenario driver for franz-go (Go): runs the program built from clients/franz-go/
# by setup.sh (clients/franz-go/build.sh).   usage: franz-go.sh SCENARIO
# env: BOOTSTRAP TOPIC CASE_DIR RESTART_BROKER (from run.sh)
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"
BIN="$WORK_DIR/franz-go/compat-franz-go"
if [[ ! -x "$BIN" || ! -f "$WORK_DIR/franz-go/.complete" ]]; then
    why="$(tail -n 1 "$WORK_DIR/franz-go/build.log" 2>/dev/null)"
    echo "FAIL: the franz-go driver is not built (compat-tests/setup.sh builds it): ${why:-no build log}"
    exit 1
fi
export VENV_PY COMPAT_PY="$COMPAT_DIR/lib/compat.py"
exec "$BIN" "$@"
