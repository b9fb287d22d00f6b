#!/usr/bin/env bash
# Transactional producer throughput, Rafka against Apache Kafka on this machine (issue
# #17): Kafka's own ProducerPerformance with `--transactional-id` (a transaction committed
# every --transaction-duration-ms; acks=all and idempotence, as transactions require), and
# the same tool without a transactional id (idempotent, acks=all) as each broker's
# baseline. 1 KiB records, 4 partitions. Brokers run one at a time on loopback, each on a
# fresh data dir (Kafka: compat-tests/kafka-ref.sh with its defaults for the transaction
# topic; Rafka: `target/release/rafka serve` with its defaults); rounds interleave them
# (A B A B ...) so a shared machine's noise hits both alike. Prints every run and medians.
#
#   bench/transactions.sh            full: 3 rounds of 500,000 records per variant; writes
#                                    docs/perf/transactions.md
#   bench/transactions.sh --smoke    CI: one round of 20,000 records; prints only
#   options: --rounds N, --records N, --duration-ms N (default 100)
#
# Environment: RAFKA_BIN uses that binary instead of `cargo build --release`.
# Exit status: 0 iff every run finished and produced its numbers.
set -uo pipefail
BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$BENCH_DIR/../compat-tests/lib/common.sh"   # free_port, stop_pid, KAFKA_LIBS, REPO_DIR

HELP_LINES=18 DEFAULT_RECORDS=500000
source "$BENCH_DIR/lib.sh"
bench_args "$@"
DURATION_MS=100
set -- "${EXTRA_ARGS[@]}"
while (($#)); do
    case "$1" in
        --duration-ms) DURATION_MS="$2"; shift 2 ;;
        *) echo "transactions.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done

bench_setup
bench_run_dir txbench
BOOTSTRAP=""

broker_start() {
    case "$1" in
        kafka)
            # Kafka's defaults for the transaction topic (kafka-ref.sh trims it for tests)
            BOOTSTRAP="$(KAFKA_REF_PROPS="transaction.state.log.num.partitions=50" \
                "$COMPAT_DIR/kafka-ref.sh" start)" || return 1 ;;
        rafka)
            local port tport
            port="$(free_port)" tport="$(free_port)"
            rm -rf "$RUN/data"
            "$RAFKA_BIN" serve --listener "127.0.0.1:$port" --text-listener "127.0.0.1:$tport" \
                --data-dir "$RUN/data" >"$RUN/serve.log" 2>&1 </dev/null &
            PID=$!
            BOOTSTRAP="127.0.0.1:$port"
            local i
            for ((i = 0; i < 100; i++)); do port_open "$port" && return 0; sleep 0.1; done
            return 1 ;;
    esac
}

create_topic() {
    timeout 60 java "${TOOL_JVM[@]}" -cp "$KAFKA_LIBS/*" org.apache.kafka.tools.TopicCommand \
        --bootstrap-server "$BOOTSTRAP" --create --topic "$1" --partitions "$PARTITIONS" \
        --replication-factor 1 >/dev/null 2>>"$RUN/tool.err"
}

# run TARGET VARIANT: one ProducerPerformance run, its summary recorded
run() {
    local target="$1" variant="$2" topic="bench-$2" extra=() out="$RUN/pp.out"
    [[ $variant == txn ]] && extra=(--transactional-id "bench-tx-$RANDOM" --transaction-duration-ms "$DURATION_MS")
    create_topic "$topic" || { log "FAIL create $topic on $target"; FAILS=$((FAILS + 1)); return; }
    if ! timeout -k 5 "$STEP_TIMEOUT" java "${TOOL_JVM[@]}" -cp "$KAFKA_LIBS/*" \
        org.apache.kafka.tools.ProducerPerformance --bootstrap-server "$BOOTSTRAP" --topic "$topic" \
        --num-records "$RECORDS" --record-size "$RECORD_SIZE" --throughput -1 \
        --command-property acks=all "${extra[@]}" >"$out" 2>"$RUN/pp.err"; then
        tail -5 "$RUN/pp.err" "$out"
        log "FAIL ProducerPerformance $variant on $target"; FAILS=$((FAILS + 1)); return
    fi
    local line
    line="$(python3 "$BENCH_DIR/report.py" parse-pp "$out" "$RECORD_SIZE")" \
        || { log "FAIL parse $variant on $target"; FAILS=$((FAILS + 1)); return; }
    local rec_s p99
    rec_s="$(sed -n 's/.*rec_s=\([0-9.]*\).*/\1/p' <<<" $line")"
    p99="$(sed -n 's/.*p99_ms=\([0-9.]*\).*/\1/p' <<<" $line")"
    [[ -n "$rec_s" ]] || { log "FAIL no throughput for $variant on $target"; FAILS=$((FAILS + 1)); return; }
    printf '%s\t%s\t%s\t%s\t%s\n' "$ROUND" "$target" "$variant" "$rec_s" "${p99:-}" >>"$RESULTS"
    log "round $ROUND $target $variant: $rec_s records/s, p99 ${p99:-?} ms"
}

log "transactional producer benchmark ($MODE: $ROUNDS round(s) x $RECORDS records, transactions of ${DURATION_MS} ms)"
bench_rounds idem txn

summary="$(python3 - "$RESULTS" <<'EOF'
import statistics, sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
med = {}
for t in ("kafka", "rafka"):
    for v in ("idem", "txn"):
        xs = [float(r[3]) for r in rows if r[1] == t and r[2] == v]
        ps = [float(r[4]) for r in rows if r[1] == t and r[2] == v and r[4]]
        if xs:
            med[(t, v)] = statistics.median(xs)
            print(f"| {t} | {v} | {med[(t, v)]:,.0f} | {statistics.median(ps) if ps else float('nan'):.0f} | "
                  + ", ".join(f"{x:,.0f}" for x in xs) + " |")
print()
for v in ("idem", "txn"):
    if (("kafka", v) in med) and (("rafka", v) in med) and med[("kafka", v)]:
        print(f"- {v}: Rafka / Kafka = {med[('rafka', v)] / med[('kafka', v)]:.2f}")
for t in ("kafka", "rafka"):
    if ((t, "idem") in med) and ((t, "txn") in med) and med[(t, "idem")]:
        print(f"- {t}: transactional / idempotent = {med[(t, 'txn')] / med[(t, 'idem')]:.2f}")
EOF
)"
report="# Transactional producer throughput

\`bench/transactions.sh\` ($MODE), $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, load at the end $(cut -d' ' -f1-3 /proc/loadavg).
ProducerPerformance (Kafka's tool, Java client 4.3.1), $RECORDS records of $RECORD_SIZE bytes per run,
$PARTITIONS partitions, acks=all; \`txn\`: \`--transactional-id\`, a commit every ${DURATION_MS} ms;
\`idem\`: the same without a transactional id (idempotent). Medians of $ROUNDS round(s).

| broker | variant | median records/s | median p99 ms | runs |
|---|---|---|---|---|
$summary"
echo "$report"
if [[ $MODE == full ]]; then
    echo "$report" >"$REPO_DIR/docs/perf/transactions.md"
    log "written to docs/perf/transactions.md"
fi
log "done in $((SECONDS - START))s, $FAILS failure(s)"
((FAILS == 0))
