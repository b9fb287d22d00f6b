#!/usr/bin/env bash
# Rebalance time of consumer groups, Rafka against Apache Kafka on this machine: N Java
# consumers (kafka-clients 4.3) subscribe to a 2N-partition topic at once, and the time
# from the first subscribe to a stable assignment (every partition owned by exactly one
# member, every member owning some) is measured (compat-tests/groups/GroupScenarios.java,
# `rebalance`), for KIP-848's protocol (group.protocol=consumer, the broker's uniform
# assignor) and the classic one (cooperative-sticky). Both brokers with their default
# group settings (Kafka's: heartbeat 5 s for KIP-848 groups, a 3 s initial delay for
# classic ones), each round Kafka then Rafka, medians.
#
#   bench/rebalance.sh            full: N = 1, 10, 50; 3 rounds; docs/perf/rebalance.md
#   bench/rebalance.sh --smoke    CI: N = 1 and 5, KIP-848 only, one round; prints only
#   bench/rebalance.sh --rounds R
set -uo pipefail
BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$BENCH_DIR/../compat-tests/lib/common.sh"   # free_port, stop_pid, KAFKA_LIBS, REPO_DIR

HELP_LINES=14 DEFAULT_RECORDS=0
source "$BENCH_DIR/lib.sh"
bench_args "$@"
((${#EXTRA_ARGS[@]} == 0)) || { echo "rebalance.sh: unknown argument ${EXTRA_ARGS[0]}" >&2; exit 2; }
if [[ $MODE == full ]]; then
    SIZES=(1 10 50) PROTOCOLS=(consumer classic)
else
    SIZES=(1 5) PROTOCOLS=(consumer)
fi

bench_setup
bench_run_dir rebalance
CLASSES="$RUN/classes"
mkdir -p "$CLASSES"
javac -Xlint:-options -nowarn -d "$CLASSES" -cp "$KAFKA_LIBS/*" "$COMPAT_DIR/groups/GroupScenarios.java" \
    >"$RUN/javac.log" 2>&1 || { cat "$RUN/javac.log"; exit 1; }
BOOTSTRAP=""

broker_start() {
    local port
    port="$(free_port)"
    BOOTSTRAP="127.0.0.1:$port"
    case "$1" in
        kafka)
            rm -rf "$RUN/kafka"
            KAFKA_REF_PORT="$port" KAFKA_REF_DIR="$RUN/kafka" KAFKA_REF_PROPS="group.initial.rebalance.delay.ms=3000" \
                "$COMPAT_DIR/kafka-ref.sh" start >"$RUN/kafka-start.log" 2>&1 \
                || { tail -5 "$RUN/kafka-start.log"; return 1; } ;;
        rafka)
            rm -rf "$RUN/data"
            "$RAFKA_BIN" serve --listener "PLAINTEXT://$BOOTSTRAP" --text-listener "127.0.0.1:$(free_port)" \
                --data-dir "$RUN/data" -o http.listener= >"$RUN/serve.log" 2>&1 </dev/null &
            PID=$!
            local i
            for ((i = 0; i < 100; i++)); do
                port_open "$port" && return 0
                sleep 0.1
            done
            tail -5 "$RUN/serve.log"; return 1 ;;
    esac
}

run() {
    local target="$1" protocol="$2" n ms
    for n in "${SIZES[@]}"; do
        ms="$(timeout -k 5 "$STEP_TIMEOUT" java "${TOOL_JVM[@]}" -cp "$CLASSES:$KAFKA_LIBS/*" GroupScenarios \
            rebalance "$BOOTSTRAP" "rb-$protocol-$n-$ROUND" "rb-$protocol-$n-$ROUND" "$n" "$protocol" \
            2>"$RUN/java.err" | tail -n 1)"
        if [[ "$ms" =~ ^[0-9]+$ ]]; then
            printf '%s\t%s\t%s\t%s\t%s\n' "$ROUND" "$target" "$protocol" "$n" "$ms" >>"$RESULTS"
            log "round $ROUND $target $protocol $n members: $ms ms"
        else
            log "FAIL $target $protocol $n members: ${ms:-no output} $(grep -m1 Exception "$RUN/java.err" | cut -c1-200)"
            FAILS=$((FAILS + 1))
        fi
    done
}

log "rebalance benchmark ($MODE: $ROUNDS round(s), members ${SIZES[*]}, protocols ${PROTOCOLS[*]})"
bench_rounds "${PROTOCOLS[@]}"

summary="$(python3 - "$RESULTS" <<'PY'
import statistics, sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
keys = sorted({(r[2], int(r[3])) for r in rows}, key=lambda k: (k[0] != "consumer", k[1]))
for protocol, n in keys:
    med = {}
    for t in ("kafka", "rafka"):
        xs = [int(r[4]) for r in rows if r[1] == t and r[2] == protocol and int(r[3]) == n]
        med[t] = statistics.median(xs) if xs else None
    k, r = med["kafka"], med["rafka"]
    ratio = f"{k / r:.2f}x" if k and r else "-"
    fmt = lambda v: f"{v:,.0f}" if v is not None else "-"
    print(f"| {protocol} | {n} | {fmt(k)} | {fmt(r)} | {ratio} |")
PY
)"
report="# Rebalance time

\`bench/rebalance.sh\` ($MODE), $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, load at the end $(cut -d' ' -f1-3 /proc/loadavg).
N Java consumers (kafka-clients 4.3.1, one JVM) subscribe at once to a topic of 2N partitions; the time
from the first subscribe until every partition is owned by exactly one member and every member owns
some. \`consumer\`: KIP-848 (group.protocol=consumer, the broker's uniform assignor); \`classic\`:
cooperative-sticky. Both brokers with their default group settings (heartbeat interval 5 s for KIP-848
groups, group.initial.rebalance.delay.ms 3000). Medians of $ROUNDS round(s), in ms; the ratio is Kafka's
time over Rafka's (above 1: Rafka is faster).

| protocol | members | Kafka ms | Rafka ms | Kafka / Rafka |
|---|---|---|---|---|
$summary"
echo "$report"
if [[ $MODE == full ]]; then
    echo "$report" >"$REPO_DIR/docs/perf/rebalance.md"
    log "written to docs/perf/rebalance.md"
fi
log "done in $((SECONDS - START))s, $FAILS failure(s)"
((FAILS == 0))
