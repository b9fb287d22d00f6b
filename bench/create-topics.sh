#!/usr/bin/env bash
# Creating a 1000-partition topic: Rafka against Apache Kafka on this machine (issue #12,
# deliverable 8). About 2 minutes after the builds.
#
#   bench/create-topics.sh [--runs N] [--partitions P] [--rafka LABEL=BINARY]...
#
# Starts Apache Kafka (one KRaft node from the Maven jars, by compat-tests/kafka-ref.sh,
# with the same JVM flags and server.properties as bench/compare.sh: Kafka's defaults),
# then each Rafka binary (default: target/release/rafka, built with
# `cargo build --release --no-default-features --bin rafka` when missing), one broker at a
# time, each on a fresh data dir under one temp dir. On each it creates N topics of P
# partitions (default 5 x 1000, fresh names) with bench/create_topics.py, which times the
# CreateTopics round trip on an open connection (rtt) and the time until Metadata lists
# every partition with a leader (ready). Prints every run, the medians, and the ratios
# Rafka / Kafka. Give --rafka more than once to compare binaries (before/after) in one run.
set -uo pipefail
BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$BENCH_DIR/../compat-tests/lib/common.sh" # free_port, stop_pid, KAFKA_LIBS, REPO_DIR

RUNS=5 PARTITIONS=1000 RAFKAS=()
while (($#)); do
    case "$1" in
        --runs) RUNS="$2"; shift 2 ;;
        --partitions) PARTITIONS="$2"; shift 2 ;;
        --rafka) RAFKAS+=("$2"); shift 2 ;;
        -h|--help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "create-topics.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
((${#RAFKAS[@]})) || RAFKAS=("rafka=$REPO_DIR/target/release/rafka")

# The same as bench/compare.sh: kafka-server-start.sh's JVM flags, Kafka's default thread
# counts and internal topics (only the replication factors stay at 1: one node).
KAFKA_JVM="-Xmx1G -Xms1G -server -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent"
KAFKA_DEFAULT_PROPS="num.network.threads=3
num.io.threads=8
num.recovery.threads.per.data.dir=2
auto.create.topics.enable=true
offsets.topic.num.partitions=50
transaction.state.log.num.partitions=50
group.initial.rebalance.delay.ms=3000"
STEP_TIMEOUT=180 # seconds, any one creation or start-up

START=$SECONDS
log() { printf '[%4ds] %s\n' "$((SECONDS - START))" "$*" >&2; }

log "setup"
"$COMPAT_DIR/setup.sh" >/dev/null || { echo "compat-tests/setup.sh failed" >&2; exit 1; }
for spec in "${RAFKAS[@]}"; do
    bin="${spec#*=}"
    if [[ ! -x "$bin" && "$bin" == "$REPO_DIR/target/release/rafka" ]]; then
        log "cargo build --release --no-default-features --bin rafka"
        (cd "$REPO_DIR" && timeout -k 10 1800 cargo build --release --no-default-features --bin rafka) >&2 \
            || { echo "build failed" >&2; exit 1; }
    fi
    [[ -x "$bin" ]] || { echo "no Rafka binary at $bin" >&2; exit 1; }
done

RUN="$(mktemp -d /tmp/rafka-create-bench.XXXXXX)"
export KAFKA_REF_STATE="$RUN/kafka-ref.state"
RAFKA_PID=""
cleanup() {
    [[ -f "$KAFKA_REF_STATE" ]] && "$COMPAT_DIR/kafka-ref.sh" stop >/dev/null 2>&1
    [[ -n "$RAFKA_PID" ]] && stop_pid "$RAFKA_PID" 30
    rm -rf "$RUN"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
RESULTS="$RUN/results.tsv"
: >"$RESULTS"
FAILS=0

# runs LABEL BOOTSTRAP: N creations, one `label run rtt ready` line each into RESULTS
runs() {
    local label="$1" bootstrap="$2" i line
    for ((i = 1; i <= RUNS; i++)); do
        if line="$(timeout -k 5 "$STEP_TIMEOUT" python3 "$BENCH_DIR/create_topics.py" create \
            "$bootstrap" "wide-$i" "$PARTITIONS")"; then
            log "$label run $i: $line"
            printf '%s\t%s\t%s\t%s\n' "$label" "$i" \
                "$(sed -n 's/.*rtt_ms=\([^ ]*\).*/\1/p' <<<"$line")" \
                "$(sed -n 's/.*ready_ms=\([^ ]*\).*/\1/p' <<<"$line")" >>"$RESULTS"
        else
            log "FAIL: $label run $i"; FAILS=$((FAILS + 1))
        fi
    done
}

log "kafka: start"
PORT="$(free_port)"; CPORT="$(free_port)"
while [[ "$CPORT" == "$PORT" ]]; do CPORT="$(free_port)"; done
if KAFKA_REF_DIR="$RUN/kafka" KAFKA_REF_WAIT=0 KAFKA_REF_PORT="$PORT" KAFKA_REF_CONTROLLER_PORT="$CPORT" \
    KAFKA_REF_JVM_OPTS="$KAFKA_JVM" KAFKA_REF_PROPS="$KAFKA_DEFAULT_PROPS" \
    "$COMPAT_DIR/kafka-ref.sh" start >"$RUN/kafka-ref.out" 2>&1 \
    && timeout -k 5 "$STEP_TIMEOUT" python3 "$BENCH_DIR/create_topics.py" wait "127.0.0.1:$PORT" 170; then
    runs kafka "127.0.0.1:$PORT"
else
    cat "$RUN/kafka-ref.out" >&2; log "FAIL: kafka did not start"; FAILS=$((FAILS + 1))
fi
"$COMPAT_DIR/kafka-ref.sh" stop >/dev/null 2>&1

for spec in "${RAFKAS[@]}"; do
    label="${spec%%=*}" bin="${spec#*=}"
    # the previous broker's files reach the disk now, not during this one's runs
    timeout 120 sync
    log "$label: start $bin"
    PORT="$(free_port)"; CPORT="$(free_port)"
    while [[ "$CPORT" == "$PORT" ]]; do CPORT="$(free_port)"; done
    mkdir -p "$RUN/$label"
    "$bin" serve --listener "127.0.0.1:$PORT" --text-listener "127.0.0.1:$CPORT" \
        --data-dir "$RUN/$label/data" >"$RUN/$label/serve.log" 2>&1 &
    RAFKA_PID=$!
    if timeout -k 5 "$STEP_TIMEOUT" python3 "$BENCH_DIR/create_topics.py" wait "127.0.0.1:$PORT" 60; then
        runs "$label" "127.0.0.1:$PORT"
    else
        tail -20 "$RUN/$label/serve.log" >&2; log "FAIL: $label did not start"; FAILS=$((FAILS + 1))
    fi
    stop_pid "$RAFKA_PID" 60
    RAFKA_PID=""
    rm -rf "$RUN/$label"
done

python3 - "$RESULTS" "$PARTITIONS" "$RUNS" <<'PY'
import statistics, sys
rows = [l.split("\t") for l in open(sys.argv[1]).read().splitlines() if l]
labels = list(dict.fromkeys(r[0] for r in rows))
med = {}
print(f"\nCreating a {sys.argv[2]}-partition topic, medians of {sys.argv[3]} runs (ms)\n")
print("| broker | CreateTopics round trip | until every partition has a leader | every run (round trip) |")
print("|---|---:|---:|---|")
for label in labels:
    rtt = [float(r[2]) for r in rows if r[0] == label]
    ready = [float(r[3]) for r in rows if r[0] == label]
    med[label] = (statistics.median(rtt), statistics.median(ready))
    print(f"| {label} | {med[label][0]:.1f} | {med[label][1]:.1f} | {' '.join(f'{v:.0f}' for v in rtt)} |")
if "kafka" in med:
    for label in labels:
        if label != "kafka":
            k = med["kafka"]
            print(f"\n{label} / kafka: round trip {med[label][0] / k[0]:.2f}x, until led {med[label][1] / k[1]:.2f}x")
PY
log "done, load average $(cut -d' ' -f1-3 /proc/loadavg), $FAILS failure(s)"
((FAILS == 0))
