#!/usr/bin/env bash
# Rafka and Apache Kafka side by side on this machine (issue #8).
#
#   bench/compare.sh            full run: 3 rounds, ~1 GiB per throughput workload;
#                               rewrites docs/perf/ and the generated block of docs/perf.md
#   bench/compare.sh --smoke    CI: tiny record counts, one round, every workload once;
#                               the report goes to a temp dir and is printed, docs/ untouched
#   options: --rounds N, --out DIR (where compare.md, plots and results.tsv go)
#
# Brokers run one at a time on loopback, each on a fresh data dir under one temp dir
# (same filesystem for both): Apache Kafka (single KRaft node from the Maven jars,
# started by compat-tests/kafka-ref.sh with Kafka's own defaults, see KAFKA_* below),
# the same Kafka with log.flush.interval.messages=1 (fsync every append, for the
# acks=all durability comparison), and `target/release/rafka serve` with its defaults.
# Each round runs them in that order (A B A B ...); the report takes medians over rounds.
#
# Clients: Kafka's ProducerPerformance / ConsumerPerformance (kafka-tools jar) and
# examples/loadgen.rs (librdkafka), which also measures end-to-end latency, start-up and
# recovery. Results: one `round target metric value` line per measurement in
# results.tsv; bench/report.py turns them into compare.md and SVG plots (gnuplot).
#
# Environment: RAFKA_BIN / LOADGEN_BIN use those binaries instead of `cargo build`.
# Exit status: 0 iff every workload ran and produced its numbers.
set -uo pipefail
BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$BENCH_DIR/../compat-tests/lib/common.sh"   # free_port, stop_pid, KAFKA_LIBS, REPO_DIR

MODE=full ROUNDS="" OUT=""
while (($#)); do
    case "$1" in
        --smoke) MODE=smoke; shift ;;
        --rounds) ROUNDS="$2"; shift 2 ;;
        --out) OUT="$2"; shift 2 ;;
        -h|--help) sed -n '2,24p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "compare.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done

# ------------------------------------------------------------ sizes
RECORD_SIZE=1024
PARTITIONS=4                # every throughput topic, on both brokers
if [[ $MODE == full ]]; then
    ROUNDS="${ROUNDS:-3}"
    THR_RECORDS=1048576     # workloads 1 and 4: 1 GiB of payload; also the recovery data
    ALL_RECORDS=262144      # workload 2 (acks=all), 256 MiB: Kafka with fsync per append is slow
    RATE_SECS=10            # workload 3: fixed-rate runs last about this long...
    RATE_MAX_RECORDS=600000 # ...but never more records than this
    P1000_RECORDS=100000    # workload 6: Kafka takes ~25 s for these
    IDLE_RECORDS=200000
else
    ROUNDS="${ROUNDS:-1}"
    THR_RECORDS=20000
    ALL_RECORDS=10000
    RATE_SECS=2
    RATE_MAX_RECORDS=10000
    P1000_RECORDS=5000
    IDLE_RECORDS=5000
fi
WIDE_PARTITIONS=1000
IDLE_CONNS=500
STEP_TIMEOUT=240            # seconds, any single client run

# ConsumerPerformance always subscribe()s with a consumer group: both brokers have them.
CONSUMER_PERF_TARGETS="kafka rafka"
# ProducerPerformance runs with the Java producer's defaults on both brokers (Kafka 4:
# idempotence on where acks=all; with acks=1 the producer turns it off itself).
PP_COMMON_PROPS=""

# Kafka's own start-up defaults: kafka-server-start.sh's KAFKA_HEAP_OPTS and
# kafka-run-class.sh's KAFKA_JVM_PERFORMANCE_OPTS.
KAFKA_JVM="-Xmx1G -Xms1G -server -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent"
# kafka-ref.sh trims threads and the internal topics for the compat suite and starts groups
# at once; put Kafka's defaults back (only the replication factors stay at 1: one node).
KAFKA_DEFAULT_PROPS="num.network.threads=3
num.io.threads=8
num.recovery.threads.per.data.dir=2
auto.create.topics.enable=true
offsets.topic.num.partitions=50
transaction.state.log.num.partitions=50
group.initial.rebalance.delay.ms=3000"
KAFKA_FSYNC_PROPS="$KAFKA_DEFAULT_PROPS
log.flush.interval.messages=1"
# The perf tools' own scripts use KAFKA_HEAP_OPTS=-Xmx512M and the same JVM flags.
TOOL_JVM=(-Xmx512M -server -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35
    -XX:+ExplicitGCInvokesConcurrent -Djava.awt.headless=true
    "-Dlog4j2.configurationFile=$COMPAT_DIR/log4j2.properties" -Dcompat.log.level=WARN)

BENCH_START=$SECONDS
export RUST_BACKTRACE=0   # loadgen errors as one line, not a backtrace
log() { printf '[%4ds] %s\n' "$((SECONDS - BENCH_START))" "$*"; }

# ------------------------------------------------------------ setup
log "setup ($MODE, $ROUNDS round(s))"
"$COMPAT_DIR/setup.sh" || { echo "compat-tests/setup.sh failed"; exit 1; }
if ! command -v gnuplot >/dev/null 2>&1; then
    log "installing gnuplot-nox (apt)"
    export DEBIAN_FRONTEND=noninteractive
    { timeout 300 apt-get update -q && timeout 600 apt-get install -y -q gnuplot-nox; } \
        >"$WORK_DIR/apt-gnuplot.log" 2>&1 || log "WARNING: gnuplot could not be installed; no plots"
fi
if [[ -z "${RAFKA_BIN:-}" || -z "${LOADGEN_BIN:-}" ]]; then
    log "cargo build --release --bin rafka --example loadgen"
    (cd "$REPO_DIR" && CARGO_TERM_COLOR=never timeout -k 10 1800 cargo build --release --bin rafka --example loadgen) \
        >"$WORK_DIR/bench-build.log" 2>&1 || { tail -20 "$WORK_DIR/bench-build.log"; echo "build failed"; exit 1; }
fi
RAFKA_BIN="${RAFKA_BIN:-$REPO_DIR/target/release/rafka}"
LOADGEN_BIN="${LOADGEN_BIN:-$REPO_DIR/target/release/examples/loadgen}"

RUN="$(mktemp -d /tmp/rafka-bench.XXXXXX)"
RESULTS="$RUN/results.tsv"
: >"$RESULTS"
mkdir -p "$RUN/curves" "$RUN/logs"
if [[ -z "$OUT" ]]; then
    if [[ $MODE == full ]]; then OUT="$REPO_DIR/docs/perf"; else OUT="$RUN/out"; fi
fi
mkdir -p "$OUT"
export KAFKA_REF_STATE="$RUN/kafka-ref.state"
BROKER_PID="" SAMPLER_PID="" TARGET="" ROUND=0 FAILS=0

cleanup() {
    stop_sampler
    if [[ -f "$KAFKA_REF_STATE" ]]; then "$COMPAT_DIR/kafka-ref.sh" stop >/dev/null 2>&1; fi
    [[ -n "$BROKER_PID" ]] && stop_pid "$BROKER_PID" 30
    rm -rf "$RUN"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ------------------------------------------------------------ measurement helpers
rec() { printf '%s\t%s\t%s\t%s\n' "$ROUND" "$TARGET" "$1" "$2" >>"$RESULTS"; }
fail() { FAILS=$((FAILS + 1)); log "FAIL [$TARGET round $ROUND] $*"; }
# kv LINE KEY: the value of KEY=... in a RESULT line
kv() { sed -n "s/.* $2=\([^ ]*\).*/\1/p" <<<" $1"; }
# ms_between NS1 NS2: (NS2 - NS1) in milliseconds, one decimal
ms_between() { python3 -c "print('%.1f' % (($2 - $1) / 1e6))"; }

CLK_TCK="$(getconf CLK_TCK)"
# cpu_ticks PID: utime + stime so far (fields 14 and 15 of /proc/PID/stat)
cpu_ticks() {
    local line rest
    read -r line <"/proc/$1/stat" || { echo 0; return; }
    rest="${line##*) }"
    read -r -a f <<<"$rest"
    echo $((f[11] + f[12]))
}
rss_kb() {
    local k v _
    while read -r k v _; do [[ $k == VmRSS: ]] && { echo "$v"; return; }; done <"/proc/$1/status"
    echo 0
}
# The peak RSS of the broker while a workload runs, sampled every 100 ms.
start_sampler() {
    local pid="$1" out="$RUN/rss.peak"
    echo 0 >"$out"
    (
        max=0
        while kill -0 "$pid" 2>/dev/null; do
            v="$(rss_kb "$pid" 2>/dev/null)"; v="${v:-0}"
            ((v > max)) && { max=$v; echo "$max" >"$out"; }
            sleep 0.1
        done
    ) &
    SAMPLER_PID=$!
}
stop_sampler() {
    [[ -n "$SAMPLER_PID" ]] || return 0
    kill "$SAMPLER_PID" 2>/dev/null; wait "$SAMPLER_PID" 2>/dev/null
    SAMPLER_PID=""
}
peak_rss_mb() { python3 -c "print('%.1f' % ($(cat "$RUN/rss.peak") / 1024))"; }

# note_cmd ARGS...: keep the exact client and broker command lines (first round) for the report
note_cmd() {
    ((ROUND == 1)) || return 0
    printf '%s\n' "$*" | sed -e "s|$BOOTSTRAP|\$BOOTSTRAP|g" -e "s|$KAFKA_LIBS|compat-tests/.work/kafka-libs|g" \
        -e "s|$RUN/broker|\$DATA|g" -e "s|$REPO_DIR/||g" -e "s|$RUN/curves/[^ ]*|FILE|g" >>"$RUN/commands.txt"
}
loadgen() {
    note_cmd "$LOADGEN_BIN" "$@" --bootstrap "$BOOTSTRAP"
    timeout -k 5 "$STEP_TIMEOUT" "$LOADGEN_BIN" "$@" --bootstrap "$BOOTSTRAP"
}

# ------------------------------------------------------------ brokers
# broker_start [restart]: fresh data dir (or the same one after a kill), sets BROKER_PID and
# BOOTSTRAP, and prints the probe's RESULT line (times are epoch ns, see loadgen ready).
PORT="" CPORT=""
broker_start() {
    local restart="${1:-}" out="$RUN/ready.out" last=()
    [[ -n "$restart" ]] && last=(--last "lg1:$((THR_RECORDS / PARTITIONS))" --partitions "$PARTITIONS")
    if [[ -z "$restart" ]]; then
        PORT="$(free_port)"; CPORT="$(free_port)"
        while [[ "$CPORT" == "$PORT" ]]; do CPORT="$(free_port)"; done
        rm -rf "$RUN/broker"; mkdir -p "$RUN/broker"
    fi
    BOOTSTRAP="127.0.0.1:$PORT"
    case "$TARGET" in
        kafka|kafka-fsync)
            note_cmd "# probe: $LOADGEN_BIN ready --bootstrap $BOOTSTRAP --timeout-s 170 ${last[*]}"
            local props="$KAFKA_DEFAULT_PROPS"
            [[ $TARGET == kafka-fsync ]] && props="$KAFKA_FSYNC_PROPS"
            KAFKA_REF_DIR="$RUN/broker" KAFKA_REF_WAIT=0 KAFKA_REF_PORT="$PORT" KAFKA_REF_CONTROLLER_PORT="$CPORT" \
                KAFKA_REF_JVM_OPTS="$KAFKA_JVM" KAFKA_REF_PROPS="$props" \
                "$COMPAT_DIR/kafka-ref.sh" start >"$RUN/logs/kafka-ref.out" 2>&1 \
                || { cat "$RUN/logs/kafka-ref.out" >&2; return 1; }
            BROKER_PID="$(sed -n 's/^PID=//p' "$KAFKA_REF_STATE")"
            note_cmd "# $TARGET: compat-tests/kafka-ref.sh start, JVM: $KAFKA_JVM; server.properties += $(tr '\n' ' ' <<<"$props")"
            timeout -k 5 180 "$LOADGEN_BIN" ready --bootstrap "$BOOTSTRAP" --timeout-s 170 "${last[@]}" >"$out" 2>"$RUN/logs/ready.err"
            ;;
        rafka)
            note_cmd "# rafka, timed by the probe that spawns it: $LOADGEN_BIN ready --bootstrap $BOOTSTRAP --timeout-s 170 ${last[*]} --log FILE -- $RAFKA_BIN serve --listener $BOOTSTRAP --text-listener 127.0.0.1:$CPORT --data-dir $RUN/broker/data"
            # loadgen spawns the broker itself, so start-up is timed from the spawn.
            timeout -k 5 180 "$LOADGEN_BIN" ready --bootstrap "$BOOTSTRAP" --timeout-s 170 "${last[@]}" \
                --log "$RUN/broker/serve.log" -- "$RAFKA_BIN" serve --listener "$BOOTSTRAP" \
                --text-listener "127.0.0.1:$CPORT" --data-dir "$RUN/broker/data" >"$out" 2>"$RUN/logs/ready.err"
            BROKER_PID="$(sed -n 's/^PID //p' "$out")"
            ;;
    esac
    local rc=$?
    local line; line="$(grep '^RESULT' "$out")"
    if [[ $rc != 0 || -z "$line" ]]; then
        cat "$RUN/logs/ready.err" >&2
        return 1
    fi
    local t0
    if [[ $TARGET == rafka ]]; then t0="$(kv "$line" spawned_ns)"; else t0="$(sed -n 's/^STARTED_NS=//p' "$KAFKA_REF_STATE")"; fi
    READY_METADATA_MS="$(ms_between "$t0" "$(kv "$line" metadata_ns)")"
    READY_LAST_MS=""
    [[ -n "$restart" ]] && READY_LAST_MS="$(ms_between "$t0" "$(kv "$line" last_record_ns)")"
    return 0
}

broker_stop() {
    case "$TARGET" in
        kafka|kafka-fsync) "$COMPAT_DIR/kafka-ref.sh" stop >/dev/null 2>&1 ;;
        rafka) stop_pid "$BROKER_PID" 30 ;;
    esac
    BROKER_PID=""
    rm -rf "$RUN/broker"
}

broker_kill9() {
    kill -KILL "$BROKER_PID" 2>/dev/null
    local i
    for ((i = 0; i < 100; i++)); do kill -0 "$BROKER_PID" 2>/dev/null || break; sleep 0.05; done
    BROKER_PID=""
}

# ------------------------------------------------------------ clients
# producer_perf TOPIC RECORDS THROUGHPUT ACKS: Kafka's ProducerPerformance; prints its
# summary as key=value (rec_s, mb_s, p50_ms, p99_ms, p999_ms, ...).
producer_perf() {
    local out="$RUN/logs/pp.out"
    note_cmd java "${TOOL_JVM[@]}" -cp "'$KAFKA_LIBS/*'" org.apache.kafka.tools.ProducerPerformance \
        --bootstrap-server "$BOOTSTRAP" --topic "$1" --num-records "$2" --record-size "$RECORD_SIZE" \
        --throughput "$3" --command-property "acks=$4" $PP_COMMON_PROPS
    timeout -k 5 "$STEP_TIMEOUT" java "${TOOL_JVM[@]}" -cp "$KAFKA_LIBS/*" org.apache.kafka.tools.ProducerPerformance \
        --bootstrap-server "$BOOTSTRAP" --topic "$1" --num-records "$2" --record-size "$RECORD_SIZE" \
        --throughput "$3" --command-property "acks=$4" $PP_COMMON_PROPS >"$out" 2>"$RUN/logs/pp.err" \
        || { tail -5 "$RUN/logs/pp.err" "$out" >&2; return 1; }
    python3 "$BENCH_DIR/report.py" parse-pp "$out" "$RECORD_SIZE"
}

consumer_perf() {
    local out="$RUN/logs/cp.out"
    note_cmd java "${TOOL_JVM[@]}" -cp "'$KAFKA_LIBS/*'" org.apache.kafka.tools.ConsumerPerformance \
        --bootstrap-server "$BOOTSTRAP" --topic "$1" --num-records "$2" --timeout 60000
    timeout -k 5 "$STEP_TIMEOUT" java "${TOOL_JVM[@]}" -cp "$KAFKA_LIBS/*" org.apache.kafka.tools.ConsumerPerformance \
        --bootstrap-server "$BOOTSTRAP" --topic "$1" --num-records "$2" --timeout 60000 \
        >"$out" 2>"$RUN/logs/cp.err" || { tail -5 "$RUN/logs/cp.err" "$out" >&2; return 1; }
    python3 "$BENCH_DIR/report.py" parse-cp "$out" "$RECORD_SIZE"
}

# record_kv PREFIX LINE KEYS...: rec PREFIX_KEY for each KEY present in LINE
record_kv() {
    local prefix="$1" line="$2" k v; shift 2
    for k in "$@"; do
        v="$(kv "$line" "$k")"
        [[ -n "$v" ]] && rec "${prefix}_$k" "$v"
    done
    return 0
}

# run_produce PREFIX TOPIC RECORDS ACKS [loadgen flags...] with CPU and RSS measured
run_lg_produce() {
    local prefix="$1" topic="$2" n="$3" acks="$4" line; shift 4
    line="$(loadgen produce --topic "$topic" --create --records "$n" --size "$RECORD_SIZE" \
        --partitions "$PARTITIONS" --acks "$acks" "$@" 2>"$RUN/logs/lg.err")" \
        || { tail -3 "$RUN/logs/lg.err" >&2; fail "loadgen produce $prefix"; return 1; }
    LAST_LINE="$line"
    record_kv "$prefix" "$line" rec_s mb_s p50_ms p99_ms p999_ms e2e_p50_ms e2e_p99_ms e2e_p999_ms
}

run_pp() {
    local prefix="$1" topic="$2" n="$3" tput="$4" acks="$5" line
    loadgen create --topic "$topic" --partitions "$PARTITIONS" >/dev/null 2>"$RUN/logs/lg.err" \
        || { tail -3 "$RUN/logs/lg.err" >&2; fail "create $topic"; return 1; }
    line="$(producer_perf "$topic" "$n" "$tput" "$acks")" || { fail "ProducerPerformance $prefix"; return 1; }
    LAST_LINE="$line"
    record_kv "$prefix" "$line" rec_s mb_s p50_ms p99_ms p999_ms
}

# with_load_stats PREFIX CMD...: run CMD; record broker CPU s per GB produced and peak RSS.
with_load_stats() {
    local prefix="$1" n="$2"; shift 2
    local c0 c1 rc
    c0="$(cpu_ticks "$BROKER_PID")"
    start_sampler "$BROKER_PID"
    "$@"; rc=$?
    stop_sampler
    c1="$(cpu_ticks "$BROKER_PID")"
    if [[ $rc == 0 ]]; then
        rec "${prefix}_rss_mb" "$(peak_rss_mb)"
        rec "${prefix}_cpu_s_per_gb" "$(python3 -c "print('%.2f' % (($c1 - $c0) / $CLK_TCK / ($n * $RECORD_SIZE / 1e9)))")"
    fi
    return $rc
}

# Workload 3's rates: 50% of Kafka's acks=1 maximum in round 1, for each client its own
# (ProducerPerformance is CPU-bound far below loadgen on two cores).
RATE_PP="" RATE_LG=""

# set_rate VAR CLIENT: the first Kafka round's w1 result (LAST_LINE) sets VAR.
set_rate() {
    local var="$1" client="$2"
    if [[ -z "${!var}" && $TARGET == kafka ]]; then
        printf -v "$var" '%s' "$(python3 -c "print(max(1000, int(float('$(kv "$LAST_LINE" rec_s)') / 2)))")"
        log "workload 3 rate for $client: ${!var} records/s (50% of Kafka's acks=1)"
    fi
}

# ------------------------------------------------------------ one broker, all workloads
session_main() {
    log "$TARGET round $ROUND: start (fresh data dir)"
    broker_start || { fail "broker did not start"; broker_stop; return; }
    rec startup_ms "$READY_METADATA_MS"
    sleep 2
    rec rss_idle_mb "$(python3 -c "print('%.1f' % ($(rss_kb "$BROKER_PID") / 1024))")"

    log "$TARGET round $ROUND: w1 loadgen produce acks=1, $THR_RECORDS x $RECORD_SIZE B"
    with_load_stats w1_lg "$THR_RECORDS" run_lg_produce w1_lg lg1 "$THR_RECORDS" 1 && set_rate RATE_LG loadgen

    # before the kill -9: a restarted broker checks each batch's CRC on its first read
    log "$TARGET round $ROUND: w4 consume lg1 from page cache"
    local line
    if line="$(loadgen consume --topic lg1 --records "$THR_RECORDS" --partitions "$PARTITIONS" 2>"$RUN/logs/lg.err")"; then
        record_kv w4_lg "$line" rec_s mb_s
    else
        tail -3 "$RUN/logs/lg.err" >&2; fail "loadgen consume"
    fi
    if [[ " $CONSUMER_PERF_TARGETS " == *" $TARGET "* ]]; then
        if line="$(consumer_perf lg1 "$THR_RECORDS")"; then
            record_kv w4_cp "$line" rec_s mb_s
        else
            fail "ConsumerPerformance"
        fi
    fi

    log "$TARGET round $ROUND: w5 kill -9 with lg1 ($((THR_RECORDS * RECORD_SIZE >> 20)) MiB), restart"
    broker_kill9
    if broker_start restart; then
        rec recovery_metadata_ms "$READY_METADATA_MS"
        rec recovery_last_record_ms "$READY_LAST_MS"
    else
        fail "restart after kill -9"; broker_stop; return
    fi

    log "$TARGET round $ROUND: w1 ProducerPerformance acks=1"
    with_load_stats w1_pp "$THR_RECORDS" run_pp w1_pp pp1 "$THR_RECORDS" -1 1 && set_rate RATE_PP ProducerPerformance
    local var
    for var in RATE_PP RATE_LG; do
        [[ -n "${!var}" ]] || { printf -v "$var" '%s' 20000; log "no Kafka rate measured: $var=20000"; }
    done

    session_acks_all

    local n_pp n_lg
    n_pp="$(python3 -c "print(min($RATE_MAX_RECORDS, int($RATE_PP * $RATE_SECS)))")"
    n_lg="$(python3 -c "print(min($RATE_MAX_RECORDS, int($RATE_LG * $RATE_SECS)))")"
    log "$TARGET round $ROUND: w3 fixed rate: ProducerPerformance $RATE_PP records/s x $n_pp, loadgen $RATE_LG records/s x $n_lg"
    run_pp w3_pp pp-rate "$n_pp" "$RATE_PP" 1
    run_lg_produce w3_lg lg-rate "$n_lg" 1 --rate "$RATE_LG" --e2e --curve "$RUN/curves/$TARGET.$ROUND.txt"

    log "$TARGET round $ROUND: w6 $WIDE_PARTITIONS partitions"
    local t0 t1
    t0="$(date +%s%N)"
    if loadgen create --topic wide --partitions "$WIDE_PARTITIONS" >/dev/null 2>"$RUN/logs/lg.err"; then
        t1="$(date +%s%N)"
        rec w6_create_ms "$(ms_between "$t0" "$t1")"
        line="$(loadgen produce --topic wide --records "$P1000_RECORDS" --size "$RECORD_SIZE" \
            --partitions "$WIDE_PARTITIONS" --acks 1 2>"$RUN/logs/lg.err")" \
            && record_kv w6_wide "$line" rec_s mb_s p99_ms || { tail -3 "$RUN/logs/lg.err" >&2; fail "produce to $WIDE_PARTITIONS partitions"; }
    else
        tail -3 "$RUN/logs/lg.err" >&2; fail "create $WIDE_PARTITIONS partitions"
    fi
    log "$TARGET round $ROUND: w6 $IDLE_CONNS idle connections + one producer"
    if with_load_stats w6_idle "$IDLE_RECORDS" run_lg_produce w6_idle lg-idle "$IDLE_RECORDS" 1 --idle-conns "$IDLE_CONNS"; then
        [[ "$(kv "$LAST_LINE" idle_conns)" == "$IDLE_CONNS" ]] || fail "only $(kv "$LAST_LINE" idle_conns) idle connections"
    fi

    log "$TARGET round $ROUND: stop"
    broker_stop
}

session_acks_all() {
    log "$TARGET round $ROUND: w2 acks=all, $ALL_RECORDS records (ProducerPerformance, loadgen)"
    run_pp w2_pp pp-all "$ALL_RECORDS" -1 all
    run_lg_produce w2_lg lg-all "$ALL_RECORDS" all
}

# Kafka with an fsync per append: only workload 2.
session_fsync() {
    log "$TARGET round $ROUND: start (fresh data dir, log.flush.interval.messages=1)"
    broker_start || { fail "broker did not start"; broker_stop; return; }
    session_acks_all
    log "$TARGET round $ROUND: stop"
    broker_stop
}

# ------------------------------------------------------------ main
{
    echo "MODE=$MODE"
    echo "ROUNDS=$ROUNDS"
    echo "DATE=$(date -u '+%Y-%m-%d %H:%M UTC')"
    machine_facts
    echo "FS=$(df -hT "$RUN" | awk 'NR == 2 {print $1 " " $2 ", " $3 " total, " $5 " free"}')"
    echo "KERNEL=$(uname -r)"
    echo "LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)"
    grep -E '^(KAFKA_VERSION|JAVA_VERSION)=' "$WORK_DIR/versions.env"
    echo "RUSTC=$(rustc -V 2>/dev/null | cut -d' ' -f2)"
    echo "LIBRDKAFKA=$(sed -n '/^name = "rdkafka-sys"/{n;s/.*+\([0-9.]*\)".*/\1/p}' "$REPO_DIR/Cargo.lock")"
    echo "RAFKA_COMMIT=$(python3 "$BENCH_DIR/report.py" head-commit "$REPO_DIR")"
    echo "KAFKA_JVM=$KAFKA_JVM"
    echo "THR_RECORDS=$THR_RECORDS ALL_RECORDS=$ALL_RECORDS RATE_SECS=$RATE_SECS RATE_MAX_RECORDS=$RATE_MAX_RECORDS"
    echo "P1000_RECORDS=$P1000_RECORDS IDLE_RECORDS=$IDLE_RECORDS IDLE_CONNS=$IDLE_CONNS PARTITIONS=$PARTITIONS RECORD_SIZE=$RECORD_SIZE"
} >"$RUN/machine.env"

for ((ROUND = 1; ROUND <= ROUNDS; ROUND++)); do
    TARGET=kafka; session_main
    TARGET=kafka-fsync; session_fsync
    TARGET=rafka; session_main
done
TARGET=""
echo "RATE_PP=$RATE_PP RATE_LG=$RATE_LG" >>"$RUN/machine.env"
echo "LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)" >>"$RUN/machine.env"
echo "TOTAL_S=$((SECONDS - BENCH_START))" >>"$RUN/machine.env"

log "report -> $OUT"
report_args=(--results "$RESULTS" --machine "$RUN/machine.env" --curves "$RUN/curves" --out "$OUT" --commands "$RUN/commands.txt")
[[ $MODE == full && "$OUT" == "$REPO_DIR/docs/perf" ]] && report_args+=(--splice "$REPO_DIR/docs/perf.md")
python3 "$BENCH_DIR/report.py" report "${report_args[@]}" || fail "report"
cat "$OUT/compare.md"
log "done in $((SECONDS - BENCH_START))s, $FAILS failure(s)"
if ((FAILS > 0)); then
    echo "0 passed, $FAILS failed"
    exit 1
fi
