#!/usr/bin/env bash
# Start / stop / restart the `rafka serve` under test, as kafka-ref.sh does for the
# Apache Kafka reference broker. run.sh uses it, and gives scenarios
# `rafka-serve.sh restart` as RESTART_BROKER.
#
#   rafka-serve.sh start     RAFKA_BIN serve on free loopback ports, data in
#                            RAFKA_SERVE_DATA, output appended to RAFKA_SERVE_LOG;
#                            prints 127.0.0.1:PORT once it answers a Metadata request
#   rafka-serve.sh restart   SIGTERM (SIGKILL after 10 s), then the same command line
#                            again: same ports, same data dir, log appended; prints the
#                            bootstrap address once it answers Metadata again
#   rafka-serve.sh stop      SIGTERM, SIGKILL after 10 s
#
# On failure the last stderr line says why ("broker not reachable ...").
# Environment: RAFKA_SERVE_STATE (state file: PID, PORT, TEXT_PORT, DATA, LOG, BIN;
# required), RAFKA_BIN, RAFKA_SERVE_DATA and RAFKA_SERVE_LOG (for start), RAFKA_WAIT
# (seconds to wait for it to listen, default 10), RAFKA_SERVE_ARGS (for start: more
# `rafka serve` arguments, split on blanks and put after the ones below, so that
# `-o auto.create.topics.enable=true` overrides the default here; kept for restart).
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
: "${RAFKA_SERVE_STATE:?}"
STATE="$RAFKA_SERVE_STATE"
WAIT="${RAFKA_WAIT:-10}"

# launch BIN DATA LOG PORT TEXT_PORT [ARGS]: start rafka serve, write the state, wait
# until it answers.
launch() {
    local bin="$1" data="$2" log="$3" port="$4" tport="$5" args="${6:-}"
    local -a extra=()
    read -r -a extra <<<"$args"
    mkdir -p "$data"
    echo "== rafka-serve.sh: starting on 127.0.0.1:$port at $(date -u +%H:%M:%S)" >>"$log"
    # The reference broker's settings (kafka-ref.sh): topics are only made by CreateTopics,
    # the first rebalance of a group does not wait, one __consumer_offsets partition.
    # setsid: its own process group, so a scenario's timeout does not take it down.
    setsid "$bin" serve --listener "127.0.0.1:$port" --text-listener "127.0.0.1:$tport" \
        --data-dir "$data" -o auto.create.topics.enable=false \
        -o group.initial.rebalance.delay.ms=0 -o offsets.topic.num.partitions=1 \
        "${extra[@]}" >>"$log" 2>&1 </dev/null &
    local pid=$!
    printf 'PID=%q\nPORT=%q\nTEXT_PORT=%q\nDATA=%q\nLOG=%q\nBIN=%q\nARGS=%q\n' \
        "$pid" "$port" "$tport" "$data" "$log" "$bin" "$args" >"$STATE"
    local deadline=$((SECONDS + WAIT)) why=""
    until port_open "$port"; do
        if ! kill -0 "$pid" 2>/dev/null || ((SECONDS >= deadline)); then
            why="broker not reachable"
            kill -0 "$pid" 2>/dev/null || why+=" (rafka serve exited: $(tail -n 1 "$log" | cut -c1-200))"
            break
        fi
        sleep 0.2
    done
    # Listening is not enough: without a Metadata answer every client would
    # just wait for its timeouts, so fail fast instead.
    if [[ -z "$why" ]] && ! timeout 10 kcat -L -b "127.0.0.1:$port" -m 5 >"$log.probe" 2>&1; then
        why="broker not reachable: 127.0.0.1:$port accepts connections but does not answer a Kafka Metadata request"
    fi
    if [[ -n "$why" ]]; then
        echo "$why" >&2
        return 1
    fi
    echo "127.0.0.1:$port"
}

start() {
    : "${RAFKA_BIN:?}" "${RAFKA_SERVE_DATA:?}" "${RAFKA_SERVE_LOG:?}"
    local port tport
    port="$(free_port)"; tport="$(free_port)"
    while [[ "$tport" == "$port" ]]; do tport="$(free_port)"; done
    launch "$RAFKA_BIN" "$RAFKA_SERVE_DATA" "$RAFKA_SERVE_LOG" "$port" "$tport" "${RAFKA_SERVE_ARGS:-}"
}

stop() {
    [[ -f "$STATE" ]] || return 0
    local PID
    # shellcheck disable=SC1090
    source "$STATE"
    stop_pid "$PID" 10 || true
    rm -f "$STATE"
}

restart() {
    [[ -f "$STATE" ]] || { echo "rafka-serve: not running ($STATE missing)" >&2; return 1; }
    local PID PORT TEXT_PORT DATA LOG BIN ARGS=""
    # shellcheck disable=SC1090
    source "$STATE"
    stop_pid "$PID" 10 || true
    launch "$BIN" "$DATA" "$LOG" "$PORT" "$TEXT_PORT" "$ARGS"
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    restart) restart ;;
    *) echo "usage: $0 start|stop|restart" >&2; exit 2 ;;
esac
