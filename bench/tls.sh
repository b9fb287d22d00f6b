#!/usr/bin/env bash
# Produce and consume over TLS, Rafka against Apache Kafka on this machine (issue #18):
# Kafka's own ProducerPerformance (acks=1, 1 KiB records, 4 partitions) and
# ConsumerPerformance against each broker's SSL listener (Kafka's keys:
# listener.name.ssl.ssl.keystore.* with a PEM key and certificate made here by openssl for
# each run, TLS 1.3, no client certificate), and the same runs over PLAINTEXT as each
# broker's baseline. Brokers run one at a time on loopback, each on a fresh data dir
# (Kafka: compat-tests/kafka-ref.sh; Rafka: `target/release/rafka serve` with its
# defaults); rounds interleave them (A B A B ...) so a shared machine's noise hits both
# alike. Prints every run and medians.
#
#   bench/tls.sh            full: 3 rounds of 500,000 records per run; writes docs/perf/tls.md
#   bench/tls.sh --smoke    CI: one round of 20,000 records; prints only
#   options: --rounds N, --records N
#
# Environment: RAFKA_BIN uses that binary instead of `cargo build --release`.
# Exit status: 0 iff every run finished and produced its numbers.
set -uo pipefail
BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$BENCH_DIR/../compat-tests/lib/common.sh"   # free_port, stop_pid, KAFKA_LIBS, REPO_DIR

HELP_LINES=17 DEFAULT_RECORDS=500000
source "$BENCH_DIR/lib.sh"
bench_args "$@"
((${#EXTRA_ARGS[@]} == 0)) || { echo "tls.sh: unknown argument ${EXTRA_ARGS[0]}" >&2; exit 2; }

# Kafka as kafka-server-start.sh starts it (heap and GC flags), with its default threads
# (kafka-ref.sh trims them for the compat suite), as bench/compare.sh does
KAFKA_JVM="-Xmx1G -Xms1G -server -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent"
KAFKA_DEFAULT_PROPS="num.network.threads=3
num.io.threads=8
offsets.topic.num.partitions=50"

bench_setup
command -v openssl >/dev/null 2>&1 || apt_install openssl || { echo "openssl is missing"; exit 1; }

bench_run_dir tlsbench
PLAIN="" SSL=""

# a CA and the brokers' certificate (for 127.0.0.1), fresh for this run
C="$RUN/certs"; mkdir -p "$C"
make_certs "$C" server || { echo "openssl failed"; exit 1; }
cat >"$RUN/ssl.properties" <<PROPS
security.protocol=SSL
ssl.truststore.type=PEM
ssl.truststore.location=$C/ca.pem
PROPS
: >"$RUN/plain.properties"

# the SSL listener's keys, the same for both brokers
ssl_props() {
    cat <<PROPS
listener.name.ssl.ssl.keystore.type=PEM
listener.name.ssl.ssl.keystore.location=$C/server.pem
PROPS
}

# broker_start TARGET: sets PLAIN and SSL (bootstrap addresses)
broker_start() {
    local port sport
    read -r port sport <<<"$(free_port) $(free_port)"
    while [[ "$port" == "$sport" ]]; do sport="$(free_port)"; done
    local listeners="PLAINTEXT://127.0.0.1:$port,SSL://127.0.0.1:$sport"
    PLAIN="127.0.0.1:$port" SSL="127.0.0.1:$sport"
    case "$1" in
        kafka)
            local cport
            cport="$(free_port)"
            while [[ "$cport" == "$port" || "$cport" == "$sport" ]]; do cport="$(free_port)"; done
            rm -rf "$RUN/kafka"
            KAFKA_REF_PORT="$port" KAFKA_REF_CONTROLLER_PORT="$cport" KAFKA_REF_DIR="$RUN/kafka" \
                KAFKA_REF_JVM_OPTS="$KAFKA_JVM" \
                KAFKA_REF_PROPS="listeners=$listeners,CONTROLLER://127.0.0.1:$cport
advertised.listeners=$listeners
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SSL:SSL
$KAFKA_DEFAULT_PROPS
$(ssl_props)" "$COMPAT_DIR/kafka-ref.sh" start >"$RUN/kafka-start.log" 2>&1 \
                || { tail -5 "$RUN/kafka-start.log"; return 1; } ;;
        rafka)
            local tport
            tport="$(free_port)"
            rm -rf "$RUN/data"
            cat >"$RUN/server.properties" <<PROPS
listeners=$listeners
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,SSL:SSL
text.listener=127.0.0.1:$tport
http.listener=
log.dirs=$RUN/data
$(ssl_props)
PROPS
            "$RAFKA_BIN" serve --config "$RUN/server.properties" >"$RUN/serve.log" 2>&1 </dev/null &
            PID=$!
            local i
            for ((i = 0; i < 100; i++)); do
                port_open "$port" && port_open "$sport" && return 0
                sleep 0.1
            done
            tail -5 "$RUN/serve.log"; return 1 ;;
    esac
}

java_tool() { timeout -k 5 "$STEP_TIMEOUT" java "${TOOL_JVM[@]}" -cp "$KAFKA_LIBS/*" "$@"; }

# record TARGET VARIANT OP OUT KIND: the parsed throughput of one run, recorded
record() {
    local line rec_s
    line="$(python3 "$BENCH_DIR/report.py" "parse-$5" "$4" "$RECORD_SIZE")" \
        || { log "FAIL parse $3 $2 on $1"; FAILS=$((FAILS + 1)); return; }
    rec_s="$(sed -n 's/.*rec_s=\([0-9.]*\).*/\1/p' <<<" $line")"
    [[ -n "$rec_s" ]] || { log "FAIL no throughput for $3 $2 on $1"; FAILS=$((FAILS + 1)); return; }
    printf '%s\t%s\t%s\t%s\t%s\n' "$ROUND" "$1" "$2" "$3" "$rec_s" >>"$RESULTS"
    log "round $ROUND $1 $3 over $2: $rec_s records/s"
}

# run TARGET VARIANT: produce then consume RECORDS over the plain or ssl listener
run() {
    local target="$1" variant="$2" topic="bench-$2" bootstrap
    [[ $variant == ssl ]] && bootstrap="$SSL" || bootstrap="$PLAIN"
    java_tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$PLAIN" --create --topic "$topic" \
        --partitions "$PARTITIONS" --replication-factor 1 >/dev/null 2>>"$RUN/tool.err" \
        || { log "FAIL create $topic on $target"; FAILS=$((FAILS + 1)); return; }
    if java_tool org.apache.kafka.tools.ProducerPerformance --bootstrap-server "$bootstrap" \
        --command-config "$RUN/$variant.properties" --topic "$topic" --num-records "$RECORDS" \
        --record-size "$RECORD_SIZE" --throughput -1 --command-property acks=1 \
        >"$RUN/pp.out" 2>"$RUN/pp.err"; then
        record "$target" "$variant" produce "$RUN/pp.out" pp
    else
        tail -5 "$RUN/pp.err" "$RUN/pp.out"; log "FAIL produce $variant on $target"; FAILS=$((FAILS + 1)); return
    fi
    if java_tool org.apache.kafka.tools.ConsumerPerformance --bootstrap-server "$bootstrap" \
        --command-config "$RUN/$variant.properties" --topic "$topic" --num-records "$RECORDS" \
        --timeout 60000 >"$RUN/cp.out" 2>"$RUN/cp.err"; then
        record "$target" "$variant" consume "$RUN/cp.out" cp
    else
        tail -5 "$RUN/cp.err" "$RUN/cp.out"; log "FAIL consume $variant on $target"; FAILS=$((FAILS + 1))
    fi
}

log "TLS benchmark ($MODE: $ROUNDS round(s) x $RECORDS records of $RECORD_SIZE bytes)"
bench_rounds ssl plain

summary="$(python3 - "$RESULTS" <<'EOF'
import statistics, sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
med = {}
for op in ("produce", "consume"):
    for v in ("ssl", "plain"):
        for t in ("kafka", "rafka"):
            xs = [float(r[4]) for r in rows if r[1] == t and r[2] == v and r[3] == op]
            if xs:
                med[(t, v, op)] = m = statistics.median(xs)
                print(f"| {op} | {v} | {t} | {m:,.0f} | {m * 1024 / 1e6:,.1f} | "
                      + ", ".join(f"{x:,.0f}" for x in xs) + " |")
print()
for op in ("produce", "consume"):
    for v in ("ssl", "plain"):
        k, r = med.get(("kafka", v, op)), med.get(("rafka", v, op))
        if k and r:
            print(f"- {op} over {v}: Rafka / Kafka = {r / k:.2f}")
for op in ("produce", "consume"):
    for t in ("kafka", "rafka"):
        s, p = med.get((t, "ssl", op)), med.get((t, "plain", op))
        if s and p:
            print(f"- {t} {op}: TLS / PLAINTEXT = {s / p:.2f}")
EOF
)"
report="# Produce and consume over TLS

\`bench/tls.sh\` ($MODE), $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, load at the end $(cut -d' ' -f1-3 /proc/loadavg).
Kafka's ProducerPerformance (acks=1) and ConsumerPerformance (Java client 4.3.1), $RECORDS records of
$RECORD_SIZE bytes per run, $PARTITIONS partitions, against each broker's SSL listener (PEM key, TLS 1.3,
no client certificate) and its PLAINTEXT one. Medians of $ROUNDS round(s); Kafka with its default
threads and heap (1 GiB), Rafka with its defaults.

| operation | listener | broker | median records/s | median MB/s | runs |
|---|---|---|---|---|---|
$summary"
echo "$report"
if [[ $MODE == full ]]; then
    echo "$report" >"$REPO_DIR/docs/perf/tls.md"
    log "written to docs/perf/tls.md"
fi
log "done in $((SECONDS - START))s, $FAILS failure(s)"
((FAILS == 0))
