#!/usr/bin/env bash
# Good clients under hostile ones (issue #13, items 1-3): a producer (acks=all) and a
# consumer on one partition, with and without every hostile client at once (abandoned
# long-poll fetches, connections that pipeline fetches and read nothing, idle sockets
# and trickled requests on both ports). Prints one RESULT line per variant: end-to-end
# p50/p99/max, and the broker's RSS idle, at the end of the run, at its peak (VmHWM) and
# 3 s after the hostile clients left. The logic is examples/hostile.rs; the bounded CI
# test of the same attack is tests/hostile_clients.rs (it asserts no timing).
#
#   bench/hostile.sh [--rounds K] [--records N] [--rate R] [--bulk-mib M] [--attack-only]
#   RAFKA_BIN=PATH   run that broker binary (e.g. an older build) instead of building one
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if [[ -z "${RAFKA_BIN:-}" ]]; then
    cargo build --release --bin rafka
    RAFKA_BIN=target/release/rafka
fi
cargo build --release --example hostile
echo "# $(date -u +%FT%TZ) $(git rev-parse --short HEAD) broker=$RAFKA_BIN load=$(cut -d' ' -f1-3 /proc/loadavg)"
timeout -k 10 900 target/release/examples/hostile --rafka "$RAFKA_BIN" "$@"
echo "# load after: $(cut -d' ' -f1-3 /proc/loadavg)"
