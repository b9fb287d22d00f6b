#!/usr/bin/env bash
# A three-node Rafka cluster against a three-node Apache Kafka (KRaft) cluster, on
# the same machine, one after the other (never at once).
#
#   bench/cluster.sh            full run: 3 rounds of 200k x 1 KiB records, medians;
#                               writes docs/perf/cluster.md, docs/perf/cluster-results.tsv
#                               and the generated cluster block of docs/perf.md
#   bench/cluster.sh --smoke    tiny counts, one round, report printed; docs/ untouched
#   options: --rounds N, --records N (per produce workload), --out DIR
#
# Each round starts a fresh cluster per target (kafka, then rafka), on free loopback
# ports, each node with process.roles=broker,controller and one static quorum (the
# layout of compat-tests/cluster.sh; Kafka's log dirs formatted with StorageTool), and
# runs:
#   w1  topic perf (3 partitions, replication factor 3, min.insync.replicas=2),
#       ProducerPerformance acks=all, RECORDS x 1024 B, unthrottled: records/s, MB/s,
#       p50/p99 latency as the tool reports them; then each node's RSS (ps -o rss).
#   w2  ConsumerPerformance reading the RECORDS back: MB/s, records/s (fetch.* columns:
#       without the group join).
#   w3  failover: topic failover (same layout); VerifiableProducer (acks=all,
#       idempotent, retries) at FO_RATE records/s with keys 0..59 (hash partitioning,
#       so every partition gets writes); kill -9 the leader of partition 0 (from
#       kafka-topics --describe); p0_gap_ms = the largest gap between consecutive
#       acknowledgements of partition 0 around the kill; failover_ms = the end of that
#       gap - the kill (an ack the old leader sent just before dying does not count as
#       resumption). Also whether the killed node was the active controller (from
#       kafka-metadata-quorum), reported apart. Then a console consumer reads
#       the topic back from the two survivors: every acknowledged value must be there.
# The timing keys are the same for both targets: broker.session.timeout.ms,
# broker.heartbeat.interval.ms, replica.lag.time.max.ms (see TIMING_PROPS).
# Kafka runs with its own start-script JVM defaults (-Xmx1G -Xms1G G1) and its default
# server settings (threads, no fsync: durability by replication); Rafka with its own.
#
# Environment: RAFKA_BIN (default target/release/rafka, built if missing), KAFKA_LIBS
# (Kafka 4.x jars; default compat-tests/.work/kafka-libs from compat-tests/setup.sh),
# TARGETS="kafka" (or "rafka") runs one side only (for debugging this script);
# KEEP=1 keeps the temp dir (node configs and logs, tool outputs).
# Exit status: 0 iff every workload ran on both targets and nothing acknowledged was lost.
set -uo pipefail
BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
KAFKA_LIBS_FROM_ENV="${KAFKA_LIBS:-}"
source "$BENCH_DIR/../compat-tests/lib/common.sh"   # free_port, port_open, stop_pid, kafka_tool, REPO_DIR
[[ -n "$KAFKA_LIBS_FROM_ENV" ]] && KAFKA_LIBS="$KAFKA_LIBS_FROM_ENV"

MODE=full ROUNDS="" OUT="" RECORDS=""
while (($#)); do
    case "$1" in
        --smoke) MODE=smoke; shift ;;
        --rounds) ROUNDS="$2"; shift 2 ;;
        --records) RECORDS="$2"; shift 2 ;;
        --out) OUT="$2"; shift 2 ;;
        -h|--help) awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"; exit 0 ;;
        *) echo "cluster.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done

# ------------------------------------------------------------ sizes
RECORD_SIZE=1024
PARTITIONS=3
MIN_ISR=2
FO_RATE=300                 # failover producer, records/s (all partitions)
FO_KEYS=60
if [[ $MODE == full ]]; then
    ROUNDS="${ROUNDS:-3}"
    RECORDS="${RECORDS:-200000}"
    FO_WARMUP=8             # seconds of steady writes before the kill
else
    ROUNDS="${ROUNDS:-1}"
    RECORDS="${RECORDS:-20000}"
    FO_WARMUP=4
fi
FO_AFTER=3                  # seconds of resumed partition-0 acks to see before stopping
FO_MAX=45                   # give up this long after the kill (failover never resumed)
STEP_TIMEOUT=300            # any single client run
START_TIMEOUT=120           # three nodes up and registered

# The same for both targets.
TIMING_PROPS="broker.session.timeout.ms=3000
broker.heartbeat.interval.ms=500
replica.lag.time.max.ms=10000"
# Kafka's start-script defaults (kafka-server-start.sh, kafka-run-class.sh), per node.
KAFKA_JVM=(-Xmx1G -Xms1G -server -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35
    -XX:+ExplicitGCInvokesConcurrent)
# The perf tools' own scripts: KAFKA_HEAP_OPTS=-Xmx512M and the same flags.
TOOL_JVM=(-Xmx512M -server -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35
    -XX:+ExplicitGCInvokesConcurrent -Djava.awt.headless=true
    "-Dlog4j2.configurationFile=$COMPAT_DIR/log4j2.properties" -Dcompat.log.level=WARN)

BENCH_START=$SECONDS
log() { printf '[%4ds] %s\n' "$((SECONDS - BENCH_START))" "$*"; }

# ------------------------------------------------------------ setup
compgen -G "$KAFKA_LIBS/kafka-tools-*.jar" >/dev/null \
    || { echo "cluster.sh: no Kafka jars in $KAFKA_LIBS: run compat-tests/setup.sh or set KAFKA_LIBS" >&2; exit 1; }
command -v java >/dev/null || { echo "cluster.sh: no java on PATH" >&2; exit 1; }
RAFKA_BIN="${RAFKA_BIN:-$REPO_DIR/target/release/rafka}"
if [[ ! -x "$RAFKA_BIN" ]]; then
    log "cargo build --release --bin rafka"
    (cd "$REPO_DIR" && CARGO_TERM_COLOR=never cargo build --release --bin rafka) >/tmp/cluster-bench-build.log 2>&1 \
        || { tail -20 /tmp/cluster-bench-build.log; echo "build failed"; exit 1; }
fi

RUN="$(mktemp -d /tmp/rafka-cluster-bench.XXXXXX)"
RESULTS="$RUN/results.tsv"
: >"$RESULTS"
mkdir -p "$RUN/logs"
if [[ -z "$OUT" ]]; then
    if [[ $MODE == full ]]; then OUT="$REPO_DIR/docs/perf"; else OUT="$RUN/out"; fi
fi
mkdir -p "$OUT"
TARGET="" ROUND=0 FAILS=0 CDIR="" BOOTSTRAP="" FO_PID=""
declare -A PID=() KPORT=() CPORT=() TPORT=()
NODES=(1 2 3)

cluster_kill_all() {
    local n
    for n in "${!PID[@]}"; do kill -KILL "${PID[$n]}" 2>/dev/null; done
    for n in "${!PID[@]}"; do wait "${PID[$n]}" 2>/dev/null; done
    PID=()
}
cleanup() {
    [[ -n "$FO_PID" ]] && kill -KILL "$FO_PID" 2>/dev/null
    cluster_kill_all
    if [[ "${KEEP:-0}" == 1 ]]; then echo "kept $RUN"; else rm -rf "$RUN"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

rec() { printf '%s\t%s\t%s\t%s\n' "$ROUND" "$TARGET" "$1" "$2" >>"$RESULTS"; }
fail() { FAILS=$((FAILS + 1)); log "FAIL [$TARGET round $ROUND] $*"; echo "$TARGET round $ROUND: $*" >>"$RUN/failures.txt"; }
kv() { sed -n "s/.* $2=\([^ ]*\).*/\1/p" <<<" $1"; }
now_ms() { date +%s%3N; }
# tail_logs: the last lines of each node's log into the failure record
tail_logs() {
    local n
    for n in "${NODES[@]}"; do
        { echo "---- $TARGET round $ROUND node $n log (last 25 lines)"; tail -n 25 "$CDIR/node$n.log" 2>/dev/null; } >>"$RUN/failures.txt"
    done
}

# tool OUT SECS CLASS ARGS...: one Kafka tool with the perf tools' JVM
tool() {
    local out="$1" secs="$2"; shift 2
    timeout -k 5 "$secs" java "${TOOL_JVM[@]}" -cp "$KAFKA_LIBS/*" "$@" >"$out" 2>&1 </dev/null
}
topics() { local out="$1"; shift; tool "$out" 60 org.apache.kafka.tools.TopicCommand --bootstrap-server "$BOOTSTRAP" --command-config "$CDIR/admin.properties" "$@"; }

# ------------------------------------------------------------ the cluster
declare -A TAKEN=()
pick_port() {
    local i p
    for ((i = 0; i < 50; i++)); do
        p="$(free_port)" || continue
        [[ -z "${TAKEN[$p]:-}" ]] && { TAKEN[$p]=1; PORT=$p; return 0; }
    done
    return 1
}

cluster_start() {
    local n voters=""
    CDIR="$RUN/$TARGET-$ROUND"
    mkdir -p "$CDIR"
    BOOTSTRAP=""
    for n in "${NODES[@]}"; do
        pick_port; KPORT[$n]=$PORT; pick_port; CPORT[$n]=$PORT; pick_port; TPORT[$n]=$PORT
        voters+="${voters:+,}$n@127.0.0.1:${CPORT[$n]}"
        BOOTSTRAP+="${BOOTSTRAP:+,}127.0.0.1:${KPORT[$n]}"
    done
    for n in "${NODES[@]}"; do
        {
            echo "process.roles=broker,controller"
            echo "node.id=$n"
            echo "controller.quorum.voters=$voters"
            echo "listeners=PLAINTEXT://127.0.0.1:${KPORT[$n]},CONTROLLER://127.0.0.1:${CPORT[$n]}"
            echo "advertised.listeners=PLAINTEXT://127.0.0.1:${KPORT[$n]},CONTROLLER://127.0.0.1:${CPORT[$n]}"
            echo "controller.listener.names=CONTROLLER"
            echo "inter.broker.listener.name=PLAINTEXT"
            echo "log.dirs=$CDIR/data$n"
            echo "auto.create.topics.enable=false"
            echo "group.initial.rebalance.delay.ms=0"
            echo "$TIMING_PROPS"
            if [[ $TARGET == rafka ]]; then
                echo "text.listener=127.0.0.1:${TPORT[$n]}"
            else
                echo "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT"
            fi
        } >"$CDIR/node$n.properties"
        mkdir -p "$CDIR/data$n"
    done
    printf 'request.timeout.ms=10000\ndefault.api.timeout.ms=30000\n' >"$CDIR/admin.properties"
    if [[ $TARGET == kafka ]]; then
        local cid fpids=()
        cid="$(python3 -c 'import base64, uuid
while True:
    s = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
    if not s.startswith("-"):
        print(s); break')"
        for n in "${NODES[@]}"; do
            kafka_tool 90 kafka.tools.StorageTool format -t "$cid" -c "$CDIR/node$n.properties" \
                >"$CDIR/format$n.out" 2>&1 </dev/null &
            fpids+=($!)
        done
        for n in "${fpids[@]}"; do wait "$n" || { cat "$CDIR"/format*.out >&2; return 1; }; done
    fi
    for n in "${NODES[@]}"; do
        if [[ $TARGET == rafka ]]; then
            "$RAFKA_BIN" serve --config "$CDIR/node$n.properties" >"$CDIR/node$n.log" 2>&1 </dev/null &
        else
            java "${KAFKA_JVM[@]}" -Djava.awt.headless=true -Dfile.encoding=UTF-8 \
                -Dlog4j2.configurationFile="$COMPAT_DIR/log4j2.properties" -Dcompat.log.level=INFO \
                -cp "$KAFKA_LIBS/*" kafka.Kafka "$CDIR/node$n.properties" >"$CDIR/node$n.log" 2>&1 </dev/null &
        fi
        PID[$n]=$!
    done
    local deadline=$((SECONDS + START_TIMEOUT)) ids=""
    for n in "${NODES[@]}"; do
        until port_open "${KPORT[$n]}"; do
            kill -0 "${PID[$n]}" 2>/dev/null || { echo "node $n exited: $(tail -n 3 "$CDIR/node$n.log")" >&2; return 1; }
            ((SECONDS < deadline)) || { echo "node $n does not listen" >&2; return 1; }
            sleep 0.2
        done
    done
    # the three brokers registered and unfenced
    while :; do
        if tool "$CDIR/api-versions.out" 60 org.apache.kafka.tools.BrokerApiVersionsCommand \
            --bootstrap-server "$BOOTSTRAP" --command-config "$CDIR/admin.properties"; then
            ids="$(grep -Eo '\(id: [0-9]+' "$CDIR/api-versions.out" | grep -Eo '[0-9]+' | sort -u | tr '\n' ' ')"
            [[ "$ids" == "1 2 3 " ]] && return 0
        fi
        ((SECONDS < deadline)) || { echo "brokers registered: ${ids:-none}" >&2; tail -5 "$CDIR/api-versions.out" >&2; return 1; }
        sleep 1
    done
}

cluster_stop() {
    local n
    for n in "${!PID[@]}"; do stop_pid "${PID[$n]}" 10 >/dev/null 2>&1 & done
    wait
    cluster_kill_all
    if [[ "${KEEP:-0}" != 1 ]]; then rm -rf "$CDIR"/data*; fi
}

# create_topic NAME: RF 3, min.insync.replicas=2; waits until every partition has a
# leader and an ISR of 3
create_topic() {
    topics "$CDIR/create-$1.out" --create --topic "$1" --partitions "$PARTITIONS" --replication-factor 3 \
        --config "min.insync.replicas=$MIN_ISR" || { tail -5 "$CDIR/create-$1.out" >&2; return 1; }
    local i
    for ((i = 0; i < 30; i++)); do
        topics "$CDIR/describe-$1.out" --describe --topic "$1" \
            && [[ "$(grep -cE 'Leader: [1-3][[:space:]].*Isr: [1-3],[1-3],[1-3]([[:space:]]|$)' "$CDIR/describe-$1.out")" == "$PARTITIONS" ]] \
            && return 0
        sleep 1
    done
    tail -5 "$CDIR/describe-$1.out" >&2
    return 1
}

# ------------------------------------------------------------ workloads
w1_produce() {
    local out="$CDIR/pp.out" line n rss total=0
    timeout -k 5 "$STEP_TIMEOUT" java "${TOOL_JVM[@]}" -cp "$KAFKA_LIBS/*" org.apache.kafka.tools.ProducerPerformance \
        --bootstrap-server "$BOOTSTRAP" --topic perf --num-records "$RECORDS" --record-size "$RECORD_SIZE" \
        --throughput -1 --producer-props acks=all >"$out" 2>"$CDIR/pp.err" </dev/null
    local rc=$?
    ((rc == 0)) || { tail -5 "$CDIR/pp.err" "$out" >&2; fail "ProducerPerformance exit $rc: $(tail -n 2 "$CDIR/pp.err" | tr '\n' ' ')"; tail_logs; return 1; }
    for n in "${NODES[@]}"; do
        rss="$(ps -o rss= -p "${PID[$n]}" | tr -d ' ')"
        rec "rss_node${n}_mb" "$(python3 -c "print('%.1f' % (${rss:-0} / 1024))")"
        total=$((total + ${rss:-0}))
    done
    rec rss_total_mb "$(python3 -c "print('%.1f' % ($total / 1024))")"
    line="$(python3 "$BENCH_DIR/report.py" parse-pp "$out" "$RECORD_SIZE")" || { fail "no ProducerPerformance summary"; return 1; }
    [[ "$(kv "$line" records)" == "$RECORDS" ]] || fail "ProducerPerformance sent $(kv "$line" records) of $RECORDS"
    grep -qi "error\|exception" "$CDIR/pp.err" && log "ProducerPerformance stderr: $(grep -im1 'error\|exception' "$CDIR/pp.err")"
    for k in rec_s mb_s p50_ms p99_ms p999_ms max_ms; do rec "produce_$k" "$(kv "$line" "$k")"; done
    log "$TARGET round $ROUND: produce $(kv "$line" rec_s) rec/s, $(kv "$line" mb_s) MB/s, p50 $(kv "$line" p50_ms) ms, p99 $(kv "$line" p99_ms) ms; RSS total $((total / 1024)) MiB"
}

w2_consume() {
    local out="$CDIR/cp.out" line
    timeout -k 5 "$STEP_TIMEOUT" java "${TOOL_JVM[@]}" -cp "$KAFKA_LIBS/*" org.apache.kafka.tools.ConsumerPerformance \
        --bootstrap-server "$BOOTSTRAP" --topic perf --num-records "$RECORDS" --timeout 60000 \
        >"$out" 2>"$CDIR/cp.err" </dev/null
    local rc=$?
    ((rc == 0)) || { tail -5 "$CDIR/cp.err" "$out" >&2; fail "ConsumerPerformance exit $rc: $(tail -n 2 "$CDIR/cp.err" | tr '\n' ' ')"; tail_logs; return 1; }
    line="$(python3 "$BENCH_DIR/report.py" parse-cp "$out" "$RECORD_SIZE")" || { fail "no ConsumerPerformance result"; return 1; }
    [[ "$(kv "$line" records)" -ge "$RECORDS" ]] 2>/dev/null || fail "ConsumerPerformance read $(kv "$line" records) of $RECORDS"
    rec consume_rec_s "$(kv "$line" rec_s)"
    rec consume_mb_s "$(kv "$line" mb_s)"
    log "$TARGET round $ROUND: consume $(kv "$line" rec_s) rec/s, $(kv "$line" mb_s) MB/s"
}

# analyse_acks FILE KILL_MS [done]: VerifiableProducer's JSON lines -> key=value.
# With "done" it only says whether partition 0 has acks FO_AFTER s after the first one
# following the kill (exit 0) or not (exit 1).
analyse_acks() {
    python3 - "$@" "$FO_AFTER" <<'EOF'
import json, sys
path, kill_ms = sys.argv[1], int(sys.argv[2])
check = len(sys.argv) > 4 and sys.argv[3] == "done"
after_s = float(sys.argv[-1])
p0, allp, errors, acked = [], [], 0, []
with open(path, errors="replace") as f:
    for line in f:
        if not line.startswith("{"):
            continue
        try:
            d = json.loads(line)
        except ValueError:
            continue            # a line being written
        name = d.get("name")
        if name == "producer_send_success":
            t = int(d["timestamp"])
            allp.append(t)
            acked.append(str(d["value"]))
            if d["partition"] == 0:
                p0.append(t)
        elif name == "producer_send_error":
            errors += 1
def max_gap(ts):
    """the largest gap between consecutive acks that ends after the kill and starts at
    most 1 s before it: (gap, start, end), or Nones"""
    ts = sorted(ts)
    pairs = [(b - a, a, b) for a, b in zip(ts, ts[1:]) if b > kill_ms and a >= kill_ms - 1000]
    return max(pairs) if pairs else (None, None, None)
g0, g0_start, g0_end = max_gap(p0)
if check:
    # done: partition 0 has been acknowledged again for after_s seconds since the end of
    # its largest gap (acks still in flight at the kill do not count as resumption)
    sys.exit(0 if g0_end is not None and max(p0) - g0_end >= after_s * 1000 else 1)
before = [t for t in p0 if t <= kill_ms]
after = [t for t in p0 if t > kill_ms]
ga, _, _ = max_gap(allp)
out = {
    # the time from the kill until partition 0's acknowledgements resumed: the end of
    # its largest gap around the kill (not simply the first ack after the kill, which
    # can be a response the old leader sent just before it died)
    "failover_ms": (g0_end - kill_ms) if g0_end is not None else "none",
    "first_p0_ack_after_kill_ms": (after[0] - kill_ms) if after else "none",
    "p0_gap_ms": g0 if g0 is not None else "none",
    "p0_gap_starts_before_kill_ms": (kill_ms - g0_start) if g0_start is not None else "none",
    "all_gap_ms": ga if ga is not None else "none",
    "p0_acks_before": len(before), "p0_acks_after": len(after),
    "acked": len(acked), "send_errors": errors,
}
print(" ".join("%s=%s" % kv for kv in out.items()))
with open(path + ".acked", "w") as f:
    f.write("\n".join(acked) + "\n")
EOF
}

w3_failover() {
    create_topic failover || { fail "create topic failover"; tail_logs; return 1; }
    local desc="$CDIR/describe-failover.out" victim qleader kill_ms line i
    victim="$(sed -nE 's/.*Partition: 0[[:space:]].*Leader: ([0-9]+).*/\1/p' "$desc" | head -n1)"
    [[ "$victim" =~ ^[1-3]$ ]] || { fail "no leader of partition 0 in: $(grep 'Partition: 0' "$desc")"; return 1; }
    tool "$CDIR/quorum.out" 60 org.apache.kafka.tools.MetadataQuorumCommand --bootstrap-server "$BOOTSTRAP" \
        --command-config "$CDIR/admin.properties" describe --status
    qleader="$(sed -nE 's/^LeaderId:[[:space:]]+([0-9]+)$/\1/p' "$CDIR/quorum.out")"
    cat >"$CDIR/fo-producer.properties" <<EOF
acks=all
enable.idempotence=true
retries=2147483647
max.in.flight.requests.per.connection=5
delivery.timeout.ms=120000
request.timeout.ms=30000
retry.backoff.ms=100
retry.backoff.max.ms=1000
EOF
    local fo="$CDIR/fo.jsonl"
    java "${TOOL_JVM[@]}" -cp "$KAFKA_LIBS/*" org.apache.kafka.tools.VerifiableProducer \
        --bootstrap-server "$BOOTSTRAP" --topic failover --throughput "$FO_RATE" --acks -1 \
        --repeating-keys "$FO_KEYS" --command-config "$CDIR/fo-producer.properties" \
        >"$fo" 2>"$CDIR/fo.err" </dev/null &
    FO_PID=$!
    # steady state first: partition 0 acknowledged for FO_WARMUP seconds
    local t0=$SECONDS
    until grep -q '"partition":0' "$fo" 2>/dev/null; do
        ((SECONDS - t0 < 60)) || { fail "failover producer: no acks on partition 0 in 60 s"; tail -5 "$CDIR/fo.err"; kill "$FO_PID"; FO_PID=""; return 1; }
        sleep 0.2
    done
    sleep "$FO_WARMUP"
    kill_ms="$(now_ms)"
    kill -KILL "${PID[$victim]}"
    wait "${PID[$victim]}" 2>/dev/null
    unset "PID[$victim]"
    log "$TARGET round $ROUND: kill -9 node $victim (leader of partition 0; active controller: node ${qleader:-?})"
    rec fo_victim_is_controller "$([[ "$victim" == "$qleader" ]] && echo 1 || echo 0)"
    while ! analyse_acks "$fo" "$kill_ms" done; do
        if (($(now_ms) - kill_ms > FO_MAX * 1000)); then
            fail "failover: partition 0 acks did not resume within ${FO_MAX}s of the kill"
            tail_logs
            break
        fi
        sleep 0.5
    done
    kill -TERM "$FO_PID" 2>/dev/null
    for ((i = 0; i < 100; i++)); do kill -0 "$FO_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$FO_PID" 2>/dev/null; wait "$FO_PID" 2>/dev/null; FO_PID=""
    line="$(analyse_acks "$fo" "$kill_ms")"
    log "$TARGET round $ROUND: failover $line"
    echo "$TARGET round $ROUND victim=$victim controller=$qleader $line" >>"$RUN/failover.txt"
    local k v
    for k in failover_ms p0_gap_ms all_gap_ms acked send_errors; do
        v="$(kv "$line" "$k")"
        [[ "$v" =~ ^[0-9]+$ ]] && rec "fo_$k" "$v"
    done
    [[ "$(kv "$line" send_errors)" == 0 ]] || { fail "failover producer: $(kv "$line" send_errors) send errors"; grep -m3 producer_send_error "$fo" >>"$RUN/failures.txt"; }
    # every acknowledged value is in the topic (read from the survivors)
    local survivors="" n
    for n in "${!PID[@]}"; do survivors+="${survivors:+,}127.0.0.1:${KPORT[$n]}"; done
    timeout -k 5 120 java "${TOOL_JVM[@]}" -cp "$KAFKA_LIBS/*" org.apache.kafka.tools.consumer.ConsoleConsumer \
        --bootstrap-server "$survivors" --topic failover --from-beginning --timeout-ms 6000 \
        >"$CDIR/fo-read.txt" 2>"$CDIR/fo-read.err" </dev/null
    local missing dups
    missing="$(sort -u "$CDIR/fo-read.txt" | comm -13 - <(sort -u "$fo.acked" | grep .) | wc -l)"
    dups="$(sort "$CDIR/fo-read.txt" | uniq -d | wc -l)"
    rec fo_lost "$missing"
    rec fo_duplicates "$dups"
    log "$TARGET round $ROUND: read back $(wc -l <"$CDIR/fo-read.txt") records: $missing acknowledged missing, $dups duplicated"
    if ((missing > 0)); then
        fail "failover: $missing acknowledged records missing after the failover (e.g. $(sort -u "$CDIR/fo-read.txt" | comm -13 - <(sort -u "$fo.acked" | grep .) | head -5 | paste -sd' ' -))"
        tail_logs
    fi
}

session() {
    log "$TARGET round $ROUND: start three nodes"
    local t0=$SECONDS
    if ! cluster_start 2>"$RUN/logs/start.err"; then
        cat "$RUN/logs/start.err"
        fail "cluster did not start"; tail_logs; cluster_stop; return
    fi
    rec startup_s "$((SECONDS - t0))"
    log "$TARGET round $ROUND: cluster up in $((SECONDS - t0))s ($BOOTSTRAP)"
    if create_topic perf 2>"$RUN/logs/topic.err"; then
        log "$TARGET round $ROUND: w1 ProducerPerformance acks=all, $RECORDS x $RECORD_SIZE B"
        w1_produce && { log "$TARGET round $ROUND: w2 ConsumerPerformance"; w2_consume; }
    else
        cat "$RUN/logs/topic.err"; fail "create topic perf"; tail_logs
    fi
    log "$TARGET round $ROUND: w3 failover"
    w3_failover
    cluster_stop
    log "$TARGET round $ROUND: stopped"
}

# ------------------------------------------------------------ main
{
    echo "MODE=$MODE"
    echo "ROUNDS=$ROUNDS"
    echo "DATE=$(date -u '+%Y-%m-%d %H:%M UTC')"
    machine_facts
    echo "FS=$(df -hT "$RUN" | awk 'NR == 2 {print $1 " " $2}')"
    echo "LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)"
    echo "KAFKA_VERSION=$(basename "$(compgen -G "$KAFKA_LIBS/kafka-tools-[0-9]*.jar" | head -1)" .jar | sed 's/kafka-tools-//')"
    echo "JAVA_VERSION=$(java -version 2>&1 | head -1 | cut -d'"' -f2)"
    echo "RAFKA_COMMIT=$(python3 "$BENCH_DIR/report.py" head-commit "$REPO_DIR")"
    echo "RECORDS=$RECORDS RECORD_SIZE=$RECORD_SIZE PARTITIONS=$PARTITIONS MIN_ISR=$MIN_ISR FO_RATE=$FO_RATE FO_WARMUP=$FO_WARMUP"
    echo "TIMING=$(tr '\n' ' ' <<<"$TIMING_PROPS")"
} >"$RUN/machine.env"
log "$MODE: $ROUNDS round(s), $RECORDS records of $RECORD_SIZE B per produce workload; run dir $RUN"

for ((ROUND = 1; ROUND <= ROUNDS; ROUND++)); do
    for TARGET in ${TARGETS:-kafka rafka}; do session; done
done
TARGET=""
echo "LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)" >>"$RUN/machine.env"
echo "TOTAL_S=$((SECONDS - BENCH_START))" >>"$RUN/machine.env"
touch "$RUN/failures.txt" "$RUN/failover.txt"

# ------------------------------------------------------------ report
python3 - "$RESULTS" "$RUN/machine.env" "$RUN/failover.txt" "$RUN/failures.txt" "$OUT" "$MODE" "$REPO_DIR/docs/perf.md" <<'EOF'
import os, shutil, statistics, sys
results, machine, fo_txt, failures, out, mode, perf_md = sys.argv[1:8]
BEGIN = "<!-- bench/cluster.sh: generated block, do not edit by hand -->"
END = "<!-- end of bench/cluster.sh block -->"
env = {}
for line in open(machine):
    if "=" in line:
        k, v = line.rstrip("\n").split("=", 1)
        env[k] = v
vals, by_round = {}, {}
for line in open(results):
    r, t, m, v = line.rstrip("\n").split("\t")
    vals.setdefault((t, m), []).append(float(v))
    by_round[(t, r, m)] = float(v)
# failover split by whether the killed node was also the active controller (a KRaft
# election on top of the fencing): "fo_failover_ms_ctrl1" / "_ctrl0"
for (t, r, m), v in list(by_round.items()):
    if m == "fo_failover_ms" and (t, r, "fo_victim_is_controller") in by_round:
        c = int(by_round[(t, r, "fo_victim_is_controller")])
        vals.setdefault((t, "fo_failover_ms_ctrl%d" % c), []).append(v)
def med(t, m):
    v = vals.get((t, m))
    return statistics.median(v) if v else None
def fmt(x):
    if x is None: return "—"
    return ("%.0f" % x) if abs(x) >= 100 else ("%.2f" % x).rstrip("0").rstrip(".")
def rounds(t, m):
    return " / ".join(fmt(x) for x in vals.get((t, m), [])) or "—"
rows = [
    ("produce RF=3 acks=all, records/s", "produce_rec_s", "higher"),
    ("produce RF=3 acks=all, MB/s", "produce_mb_s", "higher"),
    ("produce latency p50, ms", "produce_p50_ms", "lower"),
    ("produce latency p99, ms", "produce_p99_ms", "lower"),
    ("produce latency p99.9, ms", "produce_p999_ms", "lower"),
    ("consume, records/s", "consume_rec_s", "higher"),
    ("consume, MB/s", "consume_mb_s", "higher"),
    ("failover: kill -9 until partition-0 acks resume, ms", "fo_failover_ms", "lower"),
    ("failover: largest partition-0 ack gap, ms", "fo_p0_gap_ms", "lower"),
    ("failover: largest ack gap, any partition, ms", "fo_all_gap_ms", "lower"),
    ("… rounds where the killed node was not the active controller, ms", "fo_failover_ms_ctrl0", "lower"),
    ("… rounds where it was also the active controller, ms", "fo_failover_ms_ctrl1", "lower"),
    ("failover: killed node was also the active controller (rounds)", "fo_victim_is_controller", "info"),
    ("failover: acknowledged records", "fo_acked", "info"),
    ("failover: acknowledged records missing afterwards", "fo_lost", "lower"),
    ("failover: duplicated records", "fo_duplicates", "lower"),
    ("failover: producer send errors", "fo_send_errors", "lower"),
    ("RSS after produce, node 1, MiB", "rss_node1_mb", "lower"),
    ("RSS after produce, node 2, MiB", "rss_node2_mb", "lower"),
    ("RSS after produce, node 3, MiB", "rss_node3_mb", "lower"),
    ("RSS after produce, three nodes, MiB", "rss_total_mb", "lower"),
    ("start-up to three registered brokers, s", "startup_s", "lower"),
]
L = []
L.append("Generated by `bench/cluster.sh` (%s) on %s; %s round(s), medians over rounds (per-round values in the last columns). "
         "Ratio = Rafka / Kafka: above 1 is better for Rafka where higher is better, below 1 where lower is better. "
         "The machine was shared with other work (builds, test suites) throughout: expect ±30%%." % (mode, env.get("DATE"), env.get("ROUNDS")))
L.append("")
L.append("| | |\n|---|---|")
for k, name in [("CPU", "CPU"), ("MEMORY", "memory"), ("DISK", "disk"), ("FS", "filesystem"),
                ("LOAD_START", "load average at start"), ("LOAD_END", "load average at end"),
                ("KAFKA_VERSION", "Apache Kafka"), ("JAVA_VERSION", "Java"), ("RAFKA_COMMIT", "Rafka commit"),
                ("RECORDS", "sizes"), ("TIMING", "timing keys, both targets"), ("TOTAL_S", "run time, s")]:
    L.append("| %s | %s |" % (name, env.get(k, "")))
L.append("")
L.append("| metric | Kafka | Rafka | Rafka / Kafka | Kafka per round | Rafka per round |")
L.append("|---|---:|---:|---:|---|---|")
for name, m, better in rows:
    k, r = med("kafka", m), med("rafka", m)
    if m == "fo_victim_is_controller":
        k = sum(vals.get(("kafka", m), [])); r = sum(vals.get(("rafka", m), []))
    ratio = "%.2f" % (r / k) if (k and r is not None and better != "info") else "—"
    if better != "info" and ratio != "—" and m in ("produce_rec_s", "produce_p99_ms", "consume_mb_s", "fo_failover_ms"):
        ratio = "**%s**" % ratio
    L.append("| %s | %s | %s | %s | %s | %s |" % (name, fmt(k), fmt(r), ratio, rounds("kafka", m), rounds("rafka", m)))
fo = open(fo_txt).read().strip()
if fo:
    L.append("")
    L.append("Failover rounds (victim = the node killed; controller = the active controller before the kill):")
    L.append("")
    L.append("```")
    L.append(fo)
    L.append("```")
fl = open(failures).read().strip()
L.append("")
if fl:
    L.append("Failures:")
    L.append("")
    L.append("```")
    L.append(fl)
    L.append("```")
else:
    L.append("No failures: every workload ran on both clusters, no acknowledged record was lost.")
block = "\n".join(L) + "\n"
os.makedirs(out, exist_ok=True)
with open(os.path.join(out, "cluster.md"), "w") as f:
    f.write("# Three-node cluster: Rafka and Apache Kafka side by side\n\n"
            "Written by `bench/cluster.sh`; how it measures: see its header and docs/perf.md.\n\n" + block)
shutil.copy(results, os.path.join(out, "cluster-results.tsv"))
if mode == "full" and os.path.abspath(out) == os.path.abspath(os.path.join(os.path.dirname(perf_md), "perf")):
    text = open(perf_md).read()
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        _, tail = rest.split(END, 1)
        text = head + BEGIN + "\n" + block + END + tail
    else:
        text = text.rstrip("\n") + "\n\n" + BEGIN + "\n" + block + END + "\n"
    open(perf_md, "w").write(text)
print(block)
EOF
log "done in $((SECONDS - BENCH_START))s, $FAILS failure(s); report in $OUT/cluster.md"
if ((FAILS > 0)); then exit 1; fi
