#!/usr/bin/env bash
# A three-node cluster on loopback, checked with Apache Kafka's own tools (issues #14
# and #15), run against Rafka and against Apache Kafka itself (three KRaft processes),
# the oracle: with --target both (the default) the two runs' summaries are compared.
# Builds nothing: it runs the binary and the jars it is given.
#
#   compat-tests/cluster.sh [--target rafka|kafka|both]
#
# What it does per target, in about 3 minutes for both (every wait is bounded;
# CLUSTER_BUDGET seconds in all):
#   1. writes three node configs (process.roles=broker,controller, node.id 1..3,
#      one static quorum, the same keys for both targets plus what only one of them
#      takes) on free 127.0.0.1 ports in a temp dir;
#   2. rafka: starts three `rafka serve --config nodeN.properties`; kafka: formats
#      each node's log dir (kafka.tools.StorageTool format, one cluster id) and starts
#      three `kafka.Kafka nodeN.properties` JVMs (-Xmx512m); logs in the temp dir,
#      all killed on exit;
#   3. waits until kafka-metadata-quorum answers and kafka-broker-api-versions
#      lists the three brokers;
#   4. checks: kafka-topics --create (6 partitions, replication factor 3) and
#      --describe (6 partitions, 3 replicas each, leaders on all three nodes);
#      kafka-leader-election --election-type preferred --all-topic-partitions;
#      kafka-configs --alter/--describe of log.cleaner.threads on broker 1;
#      kafka-metadata-quorum describe --status (LeaderId in 1..3);
#   5. replication (#15): kafka-topics --create of `repl` (3 partitions, replication
#      factor 3, min.insync.replicas=2), --describe until every ISR has 3 nodes (15 s);
#      Kafka's VerifiableProducer sends 3000 records with acks=-1 (values 1.0..1.2999,
#      round robin over the partitions): all must be acknowledged;
#   6. kill -9 a node that leads partitions (not the quorum leader when another
#      one leads partitions) and waits up to 20 s until every partition of the first
#      topic is led by one of the two others;
#   7. with that node down: waits up to 30 s until no ISR of `repl` has it, and
#      kafka-topics --describe --under-replicated-partitions lists the 3 partitions;
#      VerifiableProducer sends 1000 more with acks=-1 (values 2.0..2.999): all must be
#      acknowledged (2 in sync >= min.insync.replicas); three ConsoleConsumers (one a
#      partition, --offset earliest, no group, 8 s --timeout-ms) read `repl`: the
#      values read must be exactly the acknowledged ones (none lost, none twice);
#   8. restarts the killed node (same config and data dir; Kafka: no new format) and
#      waits (60 s, kafka 90 s) until --under-replicated-partitions is empty and every
#      ISR of `repl` has 3 nodes again;
#   9. kafka-reassign-partitions --execute moves `repl`-0 to its first two replicas,
#      --verify until "is completed" (30 s), then --describe shows those two;
#  10. clients ride through a failover (#15): kafka-topics --create of `ride` (3
#      partitions, replication factor 3, min.insync.replicas=2), ISRs of 3 (15 s); a
#      ConsoleConsumer in group ride-riders (--from-beginning, 15 s --timeout-ms) and
#      three producers, each 1000 unique values at 50 a second with acks=all,
#      idempotence, retries and a 60 s delivery timeout: Kafka's VerifiableProducer
#      (values 3.N), kcat -P (k.N; -v -v counts its delivery reports) and
#      confluent-kafka from the suite's venv (p.N; delivery callbacks); 4 s after the
#      Java producer's first acknowledgement, kill -9 of the leader of ride-0 (it stays
#      down). No delivery error may reach any producer, all 3000 must be acknowledged,
#      ride-0 must have a new leader (20 s after the kill), kcat -C -e from the
#      beginning must read every acknowledged value exactly once, and the group
#      consumer must end at its timeout with no other error, having read them all;
#  11. decodes node 1's __cluster_metadata-0 with Kafka's DumpLogSegments
#      --cluster-metadata-decoder: it must decode, with a TopicRecord for the topic,
#      RegisterBrokerRecords of brokers 1, 2 and 3, and the UserScramCredentialRecord
#      of user carol (given a SCRAM-SHA-512 credential with kafka-configs after the
#      broker configs, and described back);
#  12. writes a summary (key=value: what the tools answered, as properties that
#      must hold on both, e.g. "leaders on 3 nodes", not which node leads what).
#      With --target both: runs rafka, then kafka, prints the two summaries side by
#      side and fails if an asserted key differs (keys under info. are shown, not
#      compared; list-valued ones are shown as set differences).
# A failed check of steps 5 and 7-10 is a PROBLEM: the run goes on (so the later
# steps and the summary still say something) and ends with FAIL; the other steps
# stop the run at their first failure.
# Prints PASS and exits 0, or prints "FAIL: why" with the failing tool's output and
# the node logs and exits 1. Needs java, python3 (for free ports), and what
# compat-tests/setup.sh installs (run.sh calls it): the Kafka jars, kcat and the venv
# compat-tests/.work/venv with confluent-kafka (it fails at once, saying so, without
# them); loopback only.
#
# Environment:
#   RAFKA=path          the rafka binary (default: target/release/rafka)
#   KAFKA_LIBS=dir      Kafka 4.x jars (default: compat-tests/.work/kafka-libs, as
#                       written by compat-tests/setup.sh, which run.sh calls)
#   CLUSTER_TARGET=t    rafka, kafka or both (default both; --target overrides it)
#   CLUSTER_BUDGET=s    the whole run's time limit (default 360; with both, rafka
#                       gets 2/5 of it and kafka what is left)
#   CLUSTER_SUMMARY=f   write the summary to f (the default is DIR/summary)
#   KEEP=1              keep the temp dir (configs, data, node logs, each tool's
#                       output as N-step.out) after the run
#   CLUSTER_CONFIGS_ONLY=1  write and print the three configs, start nothing
set -uo pipefail

KAFKA_LIBS_FROM_ENV="${KAFKA_LIBS:-}"
# shellcheck source-path=SCRIPTDIR source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
[[ -n "$KAFKA_LIBS_FROM_ENV" ]] && KAFKA_LIBS="$KAFKA_LIBS_FROM_ENV"

TARGET="${CLUSTER_TARGET:-both}"
while (($#)); do
    case "$1" in
        -h|--help) awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"; exit 0 ;;
        --target) [[ $# -ge 2 ]] || { echo "cluster.sh: --target needs rafka, kafka or both" >&2; exit 1; }
                  TARGET="$2"; shift 2 ;;
        --target=*) TARGET="${1#--target=}"; shift ;;
        *) echo "cluster.sh: unknown argument $1 (see --help)" >&2; exit 1 ;;
    esac
done
case "$TARGET" in
    rafka|kafka|both) ;;
    *) echo "cluster.sh: --target $TARGET: not rafka, kafka or both" >&2; exit 1 ;;
esac

RAFKA="${RAFKA:-$REPO_DIR/target/release/rafka}"
BUDGET="${CLUSTER_BUDGET:-360}"

# ------------------------------------------------------------ both: run each, compare
# sum_get FILE KEY: the value of KEY in a summary file; returns 1 if it has none.
sum_get() {
    awk -v k="$2" 'index($0, k "=") == 1 { print substr($0, length(k) + 2); f = 1; exit } END { exit !f }' "$1" 2>/dev/null
}

# compare_summaries RAFKA_FILE KAFKA_FILE: print them side by side; return 1 if an
# asserted key (not under info.) differs or is missing on one side.
compare_summaries() {
    local rf="$1" kf="$2" key rv kv mark bad=0 only_r only_k
    local -a keys
    mapfile -t keys < <(cat "$rf" "$kf" 2>/dev/null | sed -n 's/=.*//p' | awk '!seen[$0]++')
    printf '%-42s | %-30s | %-30s |\n' "summary key" "rafka" "kafka"
    printf '%s\n' "-------------------------------------------+--------------------------------+--------------------------------+------"
    for key in "${keys[@]}"; do
        rv="$(sum_get "$rf" "$key")" || rv="(missing)"
        kv="$(sum_get "$kf" "$key")" || kv="(missing)"
        if [[ "$key" == *.list ]]; then
            # a set: show its size here, its differences below
            only_r="$(comm -23 <(tr ',' '\n' <<<"$rv" | sort -u) <(tr ',' '\n' <<<"$kv" | sort -u) | paste -sd, -)"
            only_k="$(comm -13 <(tr ',' '\n' <<<"$rv" | sort -u) <(tr ',' '\n' <<<"$kv" | sort -u) | paste -sd, -)"
            [[ -z "$only_r$only_k" ]] && mark=same || mark=info
            printf '%-42s | %-30s | %-30s | %s\n' "$key" "$(tr ',' '\n' <<<"$rv" | grep -c .) items" "$(tr ',' '\n' <<<"$kv" | grep -c .) items" "$mark"
            [[ -n "$only_r" ]] && printf '    only rafka: %s\n' "$only_r"
            [[ -n "$only_k" ]] && printf '    only kafka: %s\n' "$only_k"
            continue
        fi
        if [[ "$rv" == "$kv" ]]; then
            mark=same
        elif [[ "$key" == info.* ]]; then
            mark=info
        else
            mark=DIFF; bad=1
        fi
        if ((${#rv} > 30 || ${#kv} > 30)) && [[ "$mark" != same ]]; then
            printf '%-42s | %-30s | %-30s | %s\n' "$key" "(below)" "(below)" "$mark"
            printf '    rafka: %s\n    kafka: %s\n' "$rv" "$kv"
        else
            printf '%-42s | %-30.30s | %-30.30s | %s\n' "$key" "$rv" "$kv" "$mark"
        fi
    done
    return $bad
}

if [[ "$TARGET" == both ]]; then
    T0=$SECONDS
    SUMDIR="$(mktemp -d /tmp/rafka-cluster-both.XXXXXX)"
    trap 'rm -rf "$SUMDIR"' EXIT
    export RAFKA KAFKA_LIBS
    CLUSTER_BUDGET=$((BUDGET * 2 / 5)) CLUSTER_SUMMARY="$SUMDIR/rafka" \
        bash "$0" --target rafka 2>&1 | sed -u 's/^/[rafka] /'
    rc_rafka=${PIPESTATUS[0]}
    left_k=$((BUDGET - (SECONDS - T0)))
    ((left_k < 30)) && left_k=30
    CLUSTER_BUDGET=$left_k CLUSTER_SUMMARY="$SUMDIR/kafka" \
        bash "$0" --target kafka 2>&1 | sed -u 's/^/[kafka] /'
    rc_kafka=${PIPESTATUS[0]}
    echo "== side by side (rafka exit $rc_rafka, kafka exit $rc_kafka, $((SECONDS - T0))s in all)"
    compare_summaries "$SUMDIR/rafka" "$SUMDIR/kafka"
    rc_cmp=$?
    ((rc_kafka == 0)) || { echo "FAIL: the Kafka run failed: the oracle itself (or this script) is broken"; exit 1; }
    ((rc_rafka == 0)) || { echo "FAIL: the Rafka run failed"; exit 1; }
    ((rc_cmp == 0)) || { echo "FAIL: Rafka's answers differ from Kafka's (DIFF above)"; exit 1; }
    echo "PASS (both, $((SECONDS - T0))s)"
    exit 0
fi
TOOL_TIMEOUT=40          # seconds, at most, for one Kafka tool
START_TIMEOUT=60         # seconds for the three nodes to form a cluster
[[ "$TARGET" == kafka ]] && START_TIMEOUT=90   # three JVMs on a small machine
FAILOVER_TIMEOUT=20      # seconds for new leaders after the kill
NODES=(1 2 3)
TOPIC=cluster-check
START=$SECONDS

DIR="$(mktemp -d "/tmp/rafka-cluster-$TARGET.XXXXXX")"
declare -A PID=() KPORT=() CPORT=() TPORT=()
SUMMARY="${CLUSTER_SUMMARY:-$DIR/summary}"
: >"$SUMMARY"

say() { printf '== %s\n' "$*"; }

# sum KEY VALUE: one line of this run's summary (see compare_summaries).
sum() { printf '%s=%s\n' "$1" "$2" >>"$SUMMARY"; }

# PROBLEMS: checks that failed without stopping the run (the replication steps: the
# later ones still say something); the run ends with FAIL when there is one.
PROBLEMS=()
STARTED=0
dump_logs() {
    local n
    ((STARTED)) || return 0
    for n in "${NODES[@]}"; do
        echo "---- node $n log ($DIR/node$n.log), last 60 lines"
        tail -n 60 "$DIR/node$n.log" 2>/dev/null || echo "(no log)"
    done
}

# fail MESSAGE [OUTPUT_FILE]: say why, show the tool's output and the node logs, exit 1.
fail() {
    echo "FAIL: $1"
    ((${#PROBLEMS[@]})) && printf '  (and before it: %s)\n' "${PROBLEMS[@]}"
    if [[ -n "${2:-}" && -s "$2" ]]; then
        echo "---- output"
        tail -n 40 "$2"
    fi
    dump_logs
    exit 1
}

cleanup() {
    local n
    for n in "${!PID[@]}"; do
        kill -KILL "${PID[$n]}" 2>/dev/null || true
    done
    for n in "${!PID[@]}"; do
        wait "${PID[$n]}" 2>/dev/null || true
    done
    if [[ "${KEEP:-0}" == 1 ]]; then
        echo "kept $DIR"
    else
        rm -rf "$DIR"
    fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# left: seconds left of the budget (at least 0).
left() {
    local l=$((BUDGET - (SECONDS - START)))
    ((l > 0)) && echo "$l" || echo 0
}

# deadline_in SECS: SECONDS + SECS, or the end of the budget if that comes first.
deadline_in() {
    local d=$((SECONDS + $1)) end=$((START + BUDGET))
    ((d < end)) && echo "$d" || echo "$end"
}

# tool OUT CLASS ARGS...: one Kafka tool, its stdout and stderr in OUT; bounded by
# TOOL_TIMEOUT and by what is left of the budget. Returns the tool's exit status
# (124 or 137 on timeout).
tool() {
    local out="$1" secs
    shift
    secs="$(left)"
    ((secs > TOOL_TIMEOUT)) && secs=$TOOL_TIMEOUT
    if ((secs < 1)); then
        echo "time budget of ${BUDGET}s used up" >"$out"
        return 124
    fi
    kafka_tool "$secs" "$@" >"$out" 2>&1 </dev/null
}

topics() { tool "$1" org.apache.kafka.tools.TopicCommand --bootstrap-server "$BOOTSTRAP" --command-config "$DIR/admin.properties" "${@:2}"; }
quorum() { tool "$1" org.apache.kafka.tools.MetadataQuorumCommand --bootstrap-server "$BOOTSTRAP" --command-config "$DIR/admin.properties" "${@:2}"; }
configs() { tool "$1" kafka.admin.ConfigCommand --bootstrap-server "$BOOTSTRAP" --command-config "$DIR/admin.properties" "${@:2}"; }
api_versions() { tool "$1" org.apache.kafka.tools.BrokerApiVersionsCommand --bootstrap-server "$BOOTSTRAP" --command-config "$DIR/admin.properties"; }
# --admin.config: the name every Kafka 4.x has (4.1 added --command-config)
election() { tool "$1" org.apache.kafka.tools.LeaderElectionCommand --bootstrap-server "$BOOTSTRAP" --admin.config "$DIR/admin.properties" "${@:2}"; }

reassign() { tool "$1" org.apache.kafka.tools.reassign.ReassignPartitionsCommand --bootstrap-server "$BOOTSTRAP" --command-config "$DIR/admin.properties" "${@:2}"; }
# producer OUT ARGS...: Kafka's VerifiableProducer (one JSON line per send: acked or not)
producer() { tool "$1" org.apache.kafka.tools.VerifiableProducer --bootstrap-server "$BOOTSTRAP" --command-config "$DIR/producer.properties" "${@:2}"; }

# problem MESSAGE [OUTPUT_FILE]: say why, show the tool's output, go on.
problem() {
    echo "PROBLEM: $1"
    if [[ -n "${2:-}" && -s "$2" ]]; then
        echo "---- output ($2)"
        tail -n 20 "$2"
    fi
    PROBLEMS+=("$1")
}

# all_alive: fails (with the node's last log line) if a node exited.
all_alive() {
    local n
    for n in "${!PID[@]}"; do
        kill -0 "${PID[$n]}" 2>/dev/null \
            || fail "node $n ($TARGET, pid ${PID[$n]}) exited: $(tail -n 1 "$DIR/node$n.log" | cut -c1-300)"
    done
}

# ------------------------------------------------------------ preconditions
[[ "$TARGET" == kafka || -x "$RAFKA" ]] || fail "RAFKA=$RAFKA is not an executable (build it: cargo build --release)"
command -v java >/dev/null 2>&1 || fail "no java on PATH (compat-tests/setup.sh installs it)"
compgen -G "$KAFKA_LIBS/kafka-tools-*.jar" >/dev/null \
    || fail "no Kafka jars in $KAFKA_LIBS: run compat-tests/setup.sh first (or set KAFKA_LIBS)"
# the clients of the ride-through step (10): kcat and the suite's venv, as run.sh uses them
command -v kcat >/dev/null 2>&1 || fail "no kcat on PATH: run compat-tests/setup.sh first (it installs Debian's kcat)"
"$VENV_PY" -c 'import confluent_kafka' 2>/dev/null \
    || fail "no confluent-kafka in $VENV_PY: run compat-tests/setup.sh first (it creates compat-tests/.work/venv)"

# ------------------------------------------------------------ ports and configs
# nine distinct free ports: Kafka, controller and text listener of each node
declare -A TAKEN=()
# pick_port: sets PORT to a free port not picked before.
pick_port() {
    local i
    for ((i = 0; i < 50; i++)); do
        PORT="$(free_port)" || continue
        [[ "$PORT" =~ ^[0-9]+$ && -z "${TAKEN[$PORT]:-}" ]] && { TAKEN[$PORT]=1; return 0; }
    done
    fail "could not get free ports from the OS (python3 needed)"
}
for n in "${NODES[@]}"; do
    pick_port; KPORT[$n]=$PORT
    pick_port; CPORT[$n]=$PORT
    pick_port; TPORT[$n]=$PORT
done

VOTERS=""
BOOTSTRAP=""
for n in "${NODES[@]}"; do
    VOTERS+="${VOTERS:+,}$n@127.0.0.1:${CPORT[$n]}"
    BOOTSTRAP+="${BOOTSTRAP:+,}127.0.0.1:${KPORT[$n]}"
done

write_config() {  # NODE
    local n="$1"
    cat >"$DIR/node$n.properties" <<EOF
# written by compat-tests/cluster.sh --target $TARGET: the same keys for both
# targets, then the ones only one of them takes
process.roles=broker,controller
node.id=$n
controller.quorum.voters=$VOTERS
listeners=PLAINTEXT://127.0.0.1:${KPORT[$n]},CONTROLLER://127.0.0.1:${CPORT[$n]}
advertised.listeners=PLAINTEXT://127.0.0.1:${KPORT[$n]},CONTROLLER://127.0.0.1:${CPORT[$n]}
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
log.dirs=$DIR/data$n
auto.create.topics.enable=false
group.initial.rebalance.delay.ms=0
broker.session.timeout.ms=6000
broker.heartbeat.interval.ms=1000
EOF
    if [[ "$TARGET" == rafka ]]; then
        echo "text.listener=127.0.0.1:${TPORT[$n]}" >>"$DIR/node$n.properties"
    else
        # Kafka wants the controller listener's protocol spelled out; the rest keeps
        # three JVMs light on a small machine (Kafka's defaults for the internal
        # topics' replication are 3 already, as here)
        cat >>"$DIR/node$n.properties" <<EOF
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
offsets.topic.replication.factor=3
transaction.state.log.replication.factor=3
num.network.threads=2
num.io.threads=2
num.recovery.threads.per.data.dir=1
log.retention.check.interval.ms=300000
EOF
    fi
}
for n in "${NODES[@]}"; do write_config "$n"; done
# short client timeouts, so a tool against a dead or silent broker gives up well
# inside its own time limit
cat >"$DIR/admin.properties" <<EOF
request.timeout.ms=10000
default.api.timeout.ms=20000
EOF
# bounded sends: a record not acknowledged within 30 s counts as not acknowledged
# (the producer retries until then; idempotence is on by default with acks=all);
# round robin, so that every partition gets records (the default sticky partitioner
# put all of a few thousand small records on one)
cat >"$DIR/producer.properties" <<EOF
request.timeout.ms=10000
delivery.timeout.ms=30000
linger.ms=5
partitioner.class=org.apache.kafka.clients.producer.RoundRobinPartitioner
EOF
cat >"$DIR/consumer.properties" <<EOF
request.timeout.ms=10000
default.api.timeout.ms=20000
EOF
say "configs in $DIR (voters $VOTERS; Kafka listeners $BOOTSTRAP)"

if [[ "${CLUSTER_CONFIGS_ONLY:-0}" == 1 ]]; then
    # for testing this script: stop after writing the configs
    for n in "${NODES[@]}"; do echo "---- node$n.properties"; cat "$DIR/node$n.properties"; done
    exit 0
fi

# ------------------------------------------------------------ start
if [[ "$TARGET" == kafka ]]; then
    # one cluster id for the three, like Kafka's Uuid.randomUuid (never a leading
    # "-", which the format tool would take for an option)
    CLUSTER_ID="$(python3 -c 'import base64, uuid
while True:
    s = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
    if not s.startswith("-"):
        print(s)
        break')" || fail "python3 could not make a cluster id"
    declare -A FPID=()
    for n in "${NODES[@]}"; do
        mkdir -p "$DIR/data$n"
        kafka_tool "$(( $(left) < TOOL_TIMEOUT ? $(left) + 1 : TOOL_TIMEOUT ))" kafka.tools.StorageTool format \
            -t "$CLUSTER_ID" -c "$DIR/node$n.properties" >"$DIR/0-format$n.out" 2>&1 </dev/null &
        FPID[$n]=$!
    done
    for n in "${NODES[@]}"; do
        wait "${FPID[$n]}" || fail "kafka-storage format of node $n failed" "$DIR/0-format$n.out"
    done
    say "formatted the three log dirs (cluster id $CLUSTER_ID, $((SECONDS - START))s)"
fi

for n in "${NODES[@]}"; do
    mkdir -p "$DIR/data$n"
    if [[ "$TARGET" == rafka ]]; then
        "$RAFKA" serve --config "$DIR/node$n.properties" >"$DIR/node$n.log" 2>&1 </dev/null &
    else
        # bounded memory: three of these on one small machine
        java -Xms64m -Xmx512m -XX:MaxMetaspaceSize=256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 \
            -Djava.awt.headless=true -Dfile.encoding=UTF-8 \
            -Dlog4j2.configurationFile="$COMPAT_DIR/log4j2.properties" -Dcompat.log.level=INFO \
            -cp "$KAFKA_LIBS/*" kafka.Kafka "$DIR/node$n.properties" >"$DIR/node$n.log" 2>&1 </dev/null &
    fi
    PID[$n]=$!
done
STARTED=1
say "started nodes 1, 2, 3 (pids ${PID[1]} ${PID[2]} ${PID[3]})"

deadline=$(deadline_in "$START_TIMEOUT")
for n in "${NODES[@]}"; do
    until port_open "${KPORT[$n]}"; do
        all_alive
        ((SECONDS < deadline)) || fail "node $n does not listen on 127.0.0.1:${KPORT[$n]} after $((SECONDS - START))s"
        sleep 0.2
    done
done
say "all three listen ($((SECONDS - START))s)"

OUT="$DIR/1-quorum-ready.out"   # each step's tool output: $DIR/N-step.out (KEEP=1 keeps them)
while :; do
    all_alive
    if quorum "$OUT" describe --status && grep -Eq '^LeaderId:[[:space:]]+[1-3]$' "$OUT"; then
        break
    fi
    ((SECONDS < deadline)) || fail "kafka-metadata-quorum describe --status gave no LeaderId in 1..3 within $((SECONDS - START))s of the start" "$OUT"
    sleep 1
done
say "the quorum has a leader: $(grep -E '^LeaderId:' "$OUT" | tr -s ' \t' ' ') ($((SECONDS - START))s)"

# the three brokers registered and unfenced: Metadata lists them
OUT="$DIR/2-api-versions.out"
while :; do
    all_alive
    if api_versions "$OUT"; then
        ids="$(grep -Eo '\(id: [0-9]+' "$OUT" | grep -Eo '[0-9]+' | sort -u | tr '\n' ' ')"
        [[ "$ids" == "1 2 3 " ]] && break
    fi
    ((SECONDS < deadline)) || fail "kafka-broker-api-versions does not list brokers 1, 2 and 3 within $((SECONDS - START))s of the start (it lists: ${ids:-none})" "$OUT"
    sleep 1
done
say "brokers 1, 2, 3 registered ($((SECONDS - START))s)"
sum brokers "$(tr ' ' ',' <<<"${ids% }")"
sum info.seconds_to_ready "$((SECONDS - START))"
# the API keys the first broker listed advertises (the tool says UNSUPPORTED for
# the others it knows), and their version ranges
sum info.apis.list "$(awk '/^[^[:space:]]/ { n++ } n == 1 && /^\t[A-Za-z]+\([0-9]+\):/ && !/UNSUPPORTED/ { sub(/^\t/, ""); sub(/:.*/, ""); print }' "$OUT" | paste -sd, -)"
sum info.api_versions.list "$(awk '/^[^[:space:]]/ { n++ } n == 1 && /^\t[A-Za-z]+\([0-9]+\):/ && !/UNSUPPORTED/ { sub(/^\t/, ""); sub(/ \[usable.*/, ""); gsub(/ /, ""); print }' "$OUT" | paste -sd, -)"

# ------------------------------------------------------------ topics
OUT="$DIR/3-create.out"
topics "$OUT" --create --topic "$TOPIC" --partitions 6 --replication-factor 3 \
    || fail "kafka-topics --create --partitions 6 --replication-factor 3 failed (exit $?)" "$OUT"
grep -q "Created topic $TOPIC" "$OUT" || fail "kafka-topics --create did not say 'Created topic $TOPIC'" "$OUT"
sum create.says "$(grep -m1 "Created topic" "$OUT")"

# check_describe OUT: 6 partition lines, 3 distinct replicas each, and the
# leaders; sets LEADERS (partition -> leader, "p:l p:l ...") and LEADER_IDS (sorted,
# distinct). Returns 1 with WHY set when the output is not that.
check_describe() {
    local out="$1" line p l r i count=0 n
    LEADERS=""; LEADER_IDS=""; WHY=""; ISR_SIZES=""; ISRS=""; FIRST_LEADS=yes
    local -A seen=()
    while IFS= read -r line; do
        [[ "$line" =~ Partition:[[:space:]]*([0-9]+) ]] || continue
        p="${BASH_REMATCH[1]}"
        [[ "$line" =~ Leader:[[:space:]]*([^[:space:]]+) ]] || { WHY="no Leader in: $line"; return 1; }
        l="${BASH_REMATCH[1]}"
        [[ "$line" =~ Replicas:[[:space:]]*([0-9,]+) ]] || { WHY="no Replicas in: $line"; return 1; }
        r="${BASH_REMATCH[1]}"
        n="$(tr ',' '\n' <<<"$r" | sort -u | grep -c .)"
        ((n == 3)) || { WHY="partition $p has replicas $r, not 3 distinct nodes"; return 1; }
        [[ "$l" == "${r%%,*}" ]] || FIRST_LEADS=no
        i=""
        [[ "$line" =~ Isr:[[:space:]]*([0-9,]+) ]] && i="${BASH_REMATCH[1]}"
        ISRS+="${ISRS:+ }$i"
        ISR_SIZES+="$(tr ',' '\n' <<<"$i" | grep -c .)"
        LEADERS+="${LEADERS:+ }$p:$l"
        seen[$l]=1
        count=$((count + 1))
    done <"$out"
    ((count == 6)) || { WHY="$count partitions described, not 6"; return 1; }
    LEADER_IDS="$(printf '%s\n' "${!seen[@]}" | sort | tr '\n' ' ')"
    LEADER_IDS="${LEADER_IDS% }"
    return 0
}

OUT="$DIR/4-describe.out"
topics "$OUT" --describe --topic "$TOPIC" || fail "kafka-topics --describe failed (exit $?)" "$OUT"
check_describe "$OUT" || fail "kafka-topics --describe: $WHY" "$OUT"
[[ "$LEADER_IDS" == "1 2 3" ]] || fail "leaders are on nodes '$LEADER_IDS', not spread over 1, 2 and 3 ($LEADERS)" "$OUT"
say "topic $TOPIC: 6 partitions, 3 replicas each, leaders (partition:leader) $LEADERS"
sum topic.partitions 6
sum topic.distinct_replicas_per_partition 3
sum topic.isr_sizes "$ISR_SIZES"
sum topic.leaders_on_nodes "$LEADER_IDS"
sum topic.leader_is_first_replica "$FIRST_LEADS"
# Kafka's placement is its own: which node leads which partition is not compared
sum info.topic.leaders "$LEADERS"
sum info.topic.header "$(head -n 1 "$OUT" | sed -E 's/TopicId:[[:space:]]*[^[:space:]]+/TopicId: */' | tr -s ' \t' ' ')"

# ------------------------------------------------------------ preferred leader election
OUT="$DIR/5-election.out"
election "$OUT" --election-type preferred --all-topic-partitions
rc=$?
if [[ $rc != 0 ]] && ! grep -q "Valid replica already elected" "$OUT"; then
    fail "kafka-leader-election --election-type preferred --all-topic-partitions failed (exit $rc)" "$OUT"
fi
grep -q "Error completing leader election" "$OUT" \
    && fail "kafka-leader-election reported an error" "$OUT"
said="$(grep -Em1 'Successfully completed|Valid replica already elected' "$OUT" | cut -c1-100)"
say "preferred leader election: ${said:-exit 0, nothing to elect (Kafka 4.3 prints nothing then)}"
# no election needed: Kafka 4.3's controller leaves such partitions out of its
# answer to an all-partitions election (the tool prints nothing); listing them as
# ELECTION_NOT_NEEDED ("Valid replica already elected") says the same
if grep -q "Successfully completed" "$OUT"; then
    sum election.outcome "elected some"
else
    sum election.outcome "no election needed"
fi
sum info.election.says "$(grep -v 'has been deprecated' "$OUT" | sed -E 's/partitions .*/partitions .../' | head -n 1)"

# ------------------------------------------------------------ broker configs
OUT="$DIR/6-configs-alter.out"
configs "$OUT" --entity-type brokers --entity-name 1 --alter --add-config log.cleaner.threads=2 \
    || fail "kafka-configs --alter --add-config log.cleaner.threads=2 on broker 1 failed (exit $?)" "$OUT"
OUT="$DIR/7-configs-describe.out"
configs "$OUT" --entity-type brokers --entity-name 1 --describe \
    || fail "kafka-configs --describe of broker 1 failed (exit $?)" "$OUT"
grep -q "log.cleaner.threads=2" "$OUT" || fail "kafka-configs --describe of broker 1 does not show log.cleaner.threads=2" "$OUT"
say "broker 1 has log.cleaner.threads=2"
sum configs.broker1_dynamic "$(grep -Eo '^ *[a-z.]+=[^ ]+' "$OUT" | tr -d ' ' | paste -sd, -)"
sum info.configs.broker1_describe "$(grep -v '^Dynamic configs' "$OUT" | sed 's/^ *//' | paste -sd'|' -)"

# ------------------------------------------------------------ SCRAM credentials
# committed by the controller as a UserScramCredentialRecord (decoded by Kafka's tool in
# the metadata log step below) and described by every broker from its own image
OUT="$DIR/7b-scram-alter.out"
configs "$OUT" --entity-type users --entity-name carol --alter \
    --add-config 'SCRAM-SHA-512=[iterations=8192,password=carol-secret]' \
    || fail "kafka-configs --alter --add-config SCRAM-SHA-512 for user carol failed (exit $?)" "$OUT"
OUT="$DIR/7c-scram-describe.out"
configs "$OUT" --entity-type users --entity-name carol --describe \
    || fail "kafka-configs --describe of user carol failed (exit $?)" "$OUT"
grep -q "SCRAM credential configs for user-principal 'carol' are SCRAM-SHA-512=iterations=8192" "$OUT" \
    || fail "kafka-configs --describe of user carol does not show SCRAM-SHA-512=iterations=8192" "$OUT"
say "user carol has a SCRAM-SHA-512 credential"
sum configs.scram_carol "$(grep -o 'SCRAM-SHA-512=iterations=[0-9]*' "$OUT")"

# ------------------------------------------------------------ quorum
OUT="$DIR/8-quorum.out"
quorum "$OUT" describe --status || fail "kafka-metadata-quorum describe --status failed (exit $?)" "$OUT"
QLEADER="$(sed -nE 's/^LeaderId:[[:space:]]+([0-9]+)$/\1/p' "$OUT")"
[[ "$QLEADER" =~ ^[1-3]$ ]] || fail "kafka-metadata-quorum describe --status: LeaderId is '${QLEADER}', not one of 1..3" "$OUT"
say "quorum leader (active controller): node $QLEADER"
sum quorum.leader_in_1_3 yes
sum quorum.voters "$(sed -n 's/^CurrentVoters:[[:space:]]*//p' "$OUT" | grep -Eo '"id": *[0-9]+' | grep -Eo '[0-9]+' | paste -sd, -)"
sum quorum.observers "$(sed -n 's/^CurrentObservers:[[:space:]]*//p' "$OUT")"
for k in LeaderEpoch HighWatermark MaxFollowerLag MaxFollowerLagTimeMs; do
    sum "info.quorum.$k" "$(sed -nE "s/^$k:[[:space:]]+//p" "$OUT")"
done

# ------------------------------------------------------------ a replicated topic
RTOPIC=repl
N_BEFORE=3000            # records produced with acks=all before the kill
N_DOWN=1000              # and while a node is down
ISR_SHRINK_TIMEOUT=30    # seconds after the failover for the dead node to leave every ISR
REGROW_TIMEOUT=60        # seconds after the restart for the ISRs to have 3 nodes again
[[ "$TARGET" == kafka ]] && REGROW_TIMEOUT=90   # a JVM to start on a small machine
REASSIGN_TIMEOUT=30      # seconds for kafka-reassign-partitions --verify to say completed

# describe_repl OUT: reads kafka-topics --describe of $RTOPIC; sets REPL_COUNT
# (partition lines), REPL_ISRS and REPL_REPLICAS ("p:ids p:ids ..." in partition
# order), REPL_ISR_SIZES ("3 3 3") and REPL_ALL_ISR3 (yes when every ISR has 3 nodes).
describe_repl() {
    local line p r i n
    REPL_COUNT=0; REPL_ISRS=""; REPL_REPLICAS=""; REPL_ISR_SIZES=""; REPL_ALL_ISR3=yes
    while IFS= read -r line; do
        [[ "$line" =~ Partition:[[:space:]]*([0-9]+) ]] || continue
        p="${BASH_REMATCH[1]}"
        r=""; [[ "$line" =~ Replicas:[[:space:]]*([0-9,]+) ]] && r="${BASH_REMATCH[1]}"
        i=""; [[ "$line" =~ Isr:[[:space:]]*([0-9,]+) ]] && i="${BASH_REMATCH[1]}"
        REPL_ISRS+="${REPL_ISRS:+ }$p:$i"
        REPL_REPLICAS+="${REPL_REPLICAS:+ }$p:$r"
        n="$(tr ',' '\n' <<<"$i" | sort -u | grep -c .)"
        REPL_ISR_SIZES+="${REPL_ISR_SIZES:+ }$n"
        ((n == 3)) || REPL_ALL_ISR3=no
        REPL_COUNT=$((REPL_COUNT + 1))
    done < <(sed -nE 's/.*Partition:[[:space:]]*([0-9]+).*/\1 &/p' "$1" | sort -n -k1,1 | cut -d' ' -f2-)
    ((REPL_COUNT > 0)) || REPL_ALL_ISR3=no
}

# acked_values OUT: the values VerifiableProducer printed as acknowledged, one a line.
acked_values() {
    grep '"name":"producer_send_success"' "$1" | grep -o '"value":"[^"]*"' | cut -d'"' -f4
}

# Creates TOPIC (3 partitions, replication factor 3, min.insync.replicas=2; the tool's
# output in CREATE_OUT) and waits up to 15 s until --describe (in DESCRIBE_OUT, left in
# OUT, parsed into REPL_*) shows 3 partitions with an ISR of 3 nodes each.
create_replicated() {
    local topic=$1 create_out=$2 describe_out=$3 deadline
    topics "$create_out" --create --topic "$topic" --partitions 3 --replication-factor 3 --config min.insync.replicas=2 \
        || fail "kafka-topics --create --topic $topic --partitions 3 --replication-factor 3 --config min.insync.replicas=2 failed (exit $?)" "$create_out"
    grep -q "Created topic $topic" "$create_out" || fail "kafka-topics --create did not say 'Created topic $topic'" "$create_out"
    OUT="$describe_out"
    deadline=$(deadline_in 15)
    while :; do
        all_alive
        if topics "$OUT" --describe --topic "$topic"; then
            describe_repl "$OUT"
            [[ "$REPL_COUNT" == 3 && "$REPL_ALL_ISR3" == yes ]] && break
        fi
        ((SECONDS < deadline)) || { problem "kafka-topics --describe --topic $topic: not 3 partitions with an ISR of 3 nodes each (ISRs $REPL_ISRS)" "$OUT"; break; }
        sleep 1
    done
}

create_replicated "$RTOPIC" "$DIR/9-repl-create.out" "$DIR/10-repl-describe.out"
say "topic $RTOPIC: $REPL_COUNT partitions, ISRs (partition:isr) $REPL_ISRS"
sum repl.partitions "$REPL_COUNT"
sum repl.isr_sizes "$REPL_ISR_SIZES"
sum repl.min_insync_config "$(grep -m1 -Eo 'min\.insync\.replicas=[0-9]+' "$OUT" || echo none)"
sum info.repl.replicas "$REPL_REPLICAS"

OUT="$DIR/11-repl-produce.out"
t0=$SECONDS
producer "$OUT" --topic "$RTOPIC" --max-messages "$N_BEFORE" --acks -1 --value-prefix 1
rc=$?
ACKED_BEFORE="$(acked_values "$OUT" | grep -c .)"
((rc == 0)) || problem "VerifiableProducer --acks -1 of $N_BEFORE records to $RTOPIC exited with $rc" "$OUT"
((ACKED_BEFORE == N_BEFORE)) || problem "VerifiableProducer --acks -1: $ACKED_BEFORE of $N_BEFORE records acknowledged" "$OUT"
say "$ACKED_BEFORE of $N_BEFORE records to $RTOPIC acknowledged with acks=all ($((SECONDS - t0))s with the JVM's start)"
sum repl.acked_before "$ACKED_BEFORE"
sum repl.send_errors_before "$(grep -c '"name":"producer_send_error"' "$OUT")"
sum info.repl.produce_before_seconds "$((SECONDS - t0))"

# ------------------------------------------------------------ kill a partition leader
VICTIM=""
for n in "${NODES[@]}"; do
    [[ " $LEADER_IDS " == *" $n "* && "$n" != "$QLEADER" ]] && { VICTIM=$n; break; }
done
[[ -n "$VICTIM" ]] || VICTIM="${LEADER_IDS%% *}"
kill -KILL "${PID[$VICTIM]}" 2>/dev/null
wait "${PID[$VICTIM]}" 2>/dev/null
unset "PID[$VICTIM]"
BOOTSTRAP=""
for n in "${NODES[@]}"; do
    [[ "$n" == "$VICTIM" ]] || BOOTSTRAP+="${BOOTSTRAP:+,}127.0.0.1:${KPORT[$n]}"
done
KILLED=$SECONDS
say "kill -9 node $VICTIM; waiting up to ${FAILOVER_TIMEOUT}s for new leaders (asking $BOOTSTRAP)"

OUT="$DIR/12-describe-after-kill.out"
TOOL_TIMEOUT=15   # one describe may not outlast the wait by much
deadline=$(deadline_in "$FAILOVER_TIMEOUT")
while :; do
    all_alive
    why=""
    if ! topics "$OUT" --describe --topic "$TOPIC"; then
        why="kafka-topics --describe failed"
    elif ! check_describe "$OUT"; then
        why="$WHY"
    else
        for pl in $LEADERS; do
            l="${pl#*:}"
            if [[ "$l" == "$VICTIM" ]]; then why="partition ${pl%%:*} is still led by node $VICTIM"; break; fi
            if [[ ! "$l" =~ ^[1-3]$ ]]; then why="partition ${pl%%:*} has no leader ($l)"; break; fi
        done
    fi
    [[ -z "$why" ]] && break
    ((SECONDS < deadline)) || fail "still $((SECONDS - KILLED))s after kill -9 of node $VICTIM: $why" "$OUT"
    sleep 1
done
say "new leaders (partition:leader) $LEADERS ($((SECONDS - START))s in all)"
sum failover.leaders_exclude_victim yes
sum failover.leaders_on_nodes "$(wc -w <<<"$LEADER_IDS") survivors"
victim_in_isr=no
for i in $ISRS; do [[ ",$i," == *",$VICTIM,"* ]] && victim_in_isr=yes; done
sum failover.victim_in_some_isr "$victim_in_isr"
sum failover.isr_sizes "$ISR_SIZES"
sum info.failover.seconds "$((SECONDS - KILLED))"

# ------------------------------------------------------------ the replicated topic, a node down
# the dead node leaves every ISR (KRaft: when it is fenced), the partitions are
# under-replicated, acks=all still succeeds (2 in sync, min.insync.replicas=2)
OUT="$DIR/13-repl-isr-shrunk.out"
deadline=$(deadline_in "$ISR_SHRINK_TIMEOUT")
isr_shrunk=no
while :; do
    all_alive
    if topics "$OUT" --describe --topic "$RTOPIC"; then
        describe_repl "$OUT"
        isr_shrunk=yes
        [[ "$REPL_COUNT" == 3 ]] || isr_shrunk=no
        for pi in $REPL_ISRS; do
            [[ ",${pi#*:}," == *",$VICTIM,"* ]] && isr_shrunk=no
        done
        [[ "$isr_shrunk" == yes ]] && break
    fi
    ((SECONDS < deadline)) || { problem "$((SECONDS - KILLED))s after kill -9 of node $VICTIM, an ISR of $RTOPIC still has it (partition:isr $REPL_ISRS)" "$OUT"; break; }
    sleep 1
done
say "ISRs of $RTOPIC without node $VICTIM: $isr_shrunk (partition:isr $REPL_ISRS, $((SECONDS - KILLED))s after the kill)"
sum repl.isr_shrunk "$isr_shrunk"
sum repl.isr_sizes_while_down "$REPL_ISR_SIZES"
sum info.repl.isr_shrunk_seconds_after_kill "$((SECONDS - KILLED))"

OUT="$DIR/14-repl-urp.out"
topics "$OUT" --describe --under-replicated-partitions --topic "$RTOPIC" \
    || problem "kafka-topics --describe --under-replicated-partitions --topic $RTOPIC failed" "$OUT"
urp="$(grep -cE 'Partition:[[:space:]]*[0-9]' "$OUT")"
((urp == 3)) || problem "kafka-topics --under-replicated-partitions lists $urp partitions of $RTOPIC with node $VICTIM down, not 3" "$OUT"
say "under-replicated partitions of $RTOPIC with node $VICTIM down: $urp"
sum repl.under_replicated_while_down "$urp"

OUT="$DIR/15-repl-produce-down.out"
t0=$SECONDS
producer "$OUT" --topic "$RTOPIC" --max-messages "$N_DOWN" --acks -1 --value-prefix 2
rc=$?
ACKED_DOWN="$(acked_values "$OUT" | grep -c .)"
((rc == 0)) || problem "VerifiableProducer --acks -1 of $N_DOWN records with node $VICTIM down exited with $rc" "$OUT"
((ACKED_DOWN == N_DOWN)) || problem "VerifiableProducer --acks -1 with node $VICTIM down: $ACKED_DOWN of $N_DOWN records acknowledged" "$OUT"
say "$ACKED_DOWN of $N_DOWN records acknowledged with acks=all and node $VICTIM down ($((SECONDS - t0))s)"
sum repl.acked_while_down "$ACKED_DOWN"
sum repl.send_errors_while_down "$(grep -c '"name":"producer_send_error"' "$OUT")"
sum info.repl.send_errors_while_down_say "$(grep -o '"exception":"[^"]*"' "$OUT" | sort | uniq -c | head -n 3 | tr -s ' \n' ' ')"

# every partition read from the beginning, from the leaders left: no consumer group
# (with a node down a group's __consumer_offsets, replication factor 3, may not be
# creatable), three ConsoleConsumers in parallel, each ending after 8 s with nothing new
t0=$SECONDS
CPID=()
for p in 0 1 2; do
    tool "$DIR/16-repl-consume-p$p.out" org.apache.kafka.tools.consumer.ConsoleConsumer --bootstrap-server "$BOOTSTRAP" \
        --command-config "$DIR/consumer.properties" --topic "$RTOPIC" --partition "$p" --offset earliest --timeout-ms 8000 &
    CPID[p]=$!
done
for p in 0 1 2; do
    wait "${CPID[$p]}" || true   # ConsoleConsumer exits 0 or 1 at its --timeout-ms: the count says
done
cat "$DIR"/16-repl-consume-p{0,1,2}.out | grep -E '^[12]\.[0-9]+$' | sort >"$DIR/16-repl-consumed.values"
{ acked_values "$DIR/11-repl-produce.out"; acked_values "$DIR/15-repl-produce-down.out"; } | sort >"$DIR/16-repl-acked.values"
consumed="$(grep -c . "$DIR/16-repl-consumed.values")"
dups="$(uniq -d "$DIR/16-repl-consumed.values" | grep -c .)"
lost="$(comm -23 <(sort -u "$DIR/16-repl-acked.values") <(sort -u "$DIR/16-repl-consumed.values") | grep -c .)"
unacked="$(comm -13 <(sort -u "$DIR/16-repl-acked.values") <(sort -u "$DIR/16-repl-consumed.values") | grep -c .)"
acked_total=$((ACKED_BEFORE + ACKED_DOWN))
((consumed == acked_total && dups == 0 && lost == 0)) \
    || problem "read $consumed records of $RTOPIC ($dups duplicated, $lost acknowledged ones missing, $unacked never acknowledged), $acked_total acknowledged" "$DIR/16-repl-consume-p0.out"
say "read $consumed records of $RTOPIC with node $VICTIM down ($dups duplicated, $lost acknowledged missing; $((SECONDS - t0))s)"
sum repl.consumed "$consumed"
sum repl.consumed_duplicates "$dups"
sum repl.acked_not_consumed "$lost"
sum repl.consumed_not_acked "$unacked"
per_partition="$(for p in 0 1 2; do grep -cE '^[12]\.[0-9]+$' "$DIR/16-repl-consume-p$p.out"; done | paste -sd' ' -)"
sum repl.partitions_with_records "$(tr ' ' '\n' <<<"$per_partition" | grep -cv '^0$')"
sum info.repl.consumed_per_partition "$per_partition"

# ------------------------------------------------------------ restart the dead node
# the same config and data dir (Kafka: the same kafka.Kafka nodeN.properties, no new
# format); it catches up and every ISR has 3 nodes again
start_node() {  # NODE: starts it, appending to its log; sets PID[NODE]
    local n="$1"
    echo "---- restarted by cluster.sh" >>"$DIR/node$n.log"
    if [[ "$TARGET" == rafka ]]; then
        "$RAFKA" serve --config "$DIR/node$n.properties" >>"$DIR/node$n.log" 2>&1 </dev/null &
    else
        java -Xms64m -Xmx512m -XX:MaxMetaspaceSize=256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 \
            -Djava.awt.headless=true -Dfile.encoding=UTF-8 \
            -Dlog4j2.configurationFile="$COMPAT_DIR/log4j2.properties" -Dcompat.log.level=INFO \
            -cp "$KAFKA_LIBS/*" kafka.Kafka "$DIR/node$n.properties" >>"$DIR/node$n.log" 2>&1 </dev/null &
    fi
    PID[$n]=$!
}
start_node "$VICTIM"
RESTARTED=$SECONDS
say "restarted node $VICTIM (pid ${PID[$VICTIM]}); waiting up to ${REGROW_TIMEOUT}s for ISRs of 3"
BOOTSTRAP=""
for n in "${NODES[@]}"; do
    BOOTSTRAP+="${BOOTSTRAP:+,}127.0.0.1:${KPORT[$n]}"
done
deadline=$(deadline_in "$REGROW_TIMEOUT")
OUT="$DIR/17-repl-urp-after-restart.out"
isr_regrown=no
while :; do
    all_alive
    if topics "$OUT" --describe --under-replicated-partitions --topic "$RTOPIC" \
        && ! grep -qE 'Partition:[[:space:]]*[0-9]' "$OUT"; then
        OUT="$DIR/18-repl-describe-after-restart.out"
        if topics "$OUT" --describe --topic "$RTOPIC"; then
            describe_repl "$OUT"
            [[ "$REPL_COUNT" == 3 && "$REPL_ALL_ISR3" == yes ]] && { isr_regrown=yes; break; }
        fi
        OUT="$DIR/17-repl-urp-after-restart.out"
    fi
    ((SECONDS < deadline)) || { problem "$((SECONDS - RESTARTED))s after node $VICTIM's restart, $RTOPIC is still under-replicated" "$OUT"; break; }
    sleep 1
done
say "ISRs of $RTOPIC with 3 nodes again: $isr_regrown ($((SECONDS - RESTARTED))s after the restart)"
sum repl.isr_regrown "$isr_regrown"
sum info.repl.isr_regrown_seconds_after_restart "$((SECONDS - RESTARTED))"

# ------------------------------------------------------------ reassignment
# partition 0 of repl moves to its first two replicas (the third is dropped)
OUT="$DIR/18-repl-describe-after-restart.out"
[[ -s "$OUT" ]] || topics "$OUT" --describe --topic "$RTOPIC"
describe_repl "$OUT"
p0_replicas="$(tr ' ' '\n' <<<"$REPL_REPLICAS" | sed -n 's/^0://p')"
p0_new="$(cut -d, -f1-2 <<<"$p0_replicas")"
[[ "$p0_new" =~ ^[1-3],[1-3]$ ]] || fail "no replicas of $RTOPIC-0 to reassign ('$p0_replicas')" "$OUT"
printf '{"version":1,"partitions":[{"topic":"%s","partition":0,"replicas":[%s]}]}\n' "$RTOPIC" "$p0_new" >"$DIR/reassign.json"
OUT="$DIR/19-reassign-execute.out"
reassign "$OUT" --execute --reassignment-json-file "$DIR/reassign.json"
rc=$?
reassign_execute=no
if ((rc == 0)) && grep -q "Successfully started partition reassignment" "$OUT"; then
    reassign_execute=yes
else
    problem "kafka-reassign-partitions --execute ($RTOPIC-0: $p0_replicas -> $p0_new) failed (exit $rc)" "$OUT"
fi
say "kafka-reassign-partitions --execute $RTOPIC-0 $p0_replicas -> $p0_new: $reassign_execute"
sum reassign.execute "$reassign_execute"
sum info.reassign.execute_says "$(grep -Ev '^\s*$|^\{|Current partition replica|Save this' "$OUT" | head -n 2 | paste -sd'|' -)"

OUT="$DIR/20-reassign-verify.out"
reassign_verify=no
if [[ "$reassign_execute" == yes ]]; then
    deadline=$(deadline_in "$REASSIGN_TIMEOUT")
    while :; do
        all_alive
        reassign "$OUT" --verify --reassignment-json-file "$DIR/reassign.json"
        rc=$?
        if ((rc == 0)) && grep -q "Reassignment of partition $RTOPIC-0 is completed" "$OUT"; then
            reassign_verify=yes
            break
        fi
        ((SECONDS < deadline)) || { problem "kafka-reassign-partitions --verify: no 'Reassignment of partition $RTOPIC-0 is completed' within ${REASSIGN_TIMEOUT}s (exit $rc)" "$OUT"; break; }
        sleep 1
    done
fi
say "kafka-reassign-partitions --verify: completed $reassign_verify"
sum reassign.verify_completed "$reassign_verify"
sum info.reassign.verify_says "$(grep -Ev '^\s*$' "$OUT" 2>/dev/null | head -n 4 | paste -sd'|' -)"

OUT="$DIR/21-reassign-describe.out"
topics "$OUT" --describe --topic "$RTOPIC" || problem "kafka-topics --describe --topic $RTOPIC after the reassignment failed" "$OUT"
describe_repl "$OUT"
p0_after="$(tr ' ' '\n' <<<"$REPL_REPLICAS" | sed -n 's/^0://p')"
p0_isr_after="$(tr ' ' '\n' <<<"$REPL_ISRS" | sed -n 's/^0://p')"
[[ "$p0_after" == "$p0_new" ]] || problem "after the reassignment $RTOPIC-0 has replicas '$p0_after', not $p0_new" "$OUT"
say "$RTOPIC-0 after the reassignment: replicas $p0_after, isr $p0_isr_after"
sum reassign.p0_replica_count "$(tr ',' '\n' <<<"$p0_after" | grep -c .)"
sum reassign.p0_replicas_as_asked "$([[ "$p0_after" == "$p0_new" ]] && echo yes || echo no)"
sum reassign.p0_isr_count "$(tr ',' '\n' <<<"$p0_isr_after" | grep -c .)"
sum info.reassign.p0 "$p0_replicas -> $p0_after"

# ------------------------------------------------------------ clients ride through a failover
# three producers (Kafka's VerifiableProducer, kcat, confluent-kafka in Python) write to
# `ride` at a modest rate with acks=all, idempotence and generous delivery timeouts, and
# a ConsoleConsumer in a group reads it, while the leader of ride-0 is killed -9: no
# error may reach an application (retries only), every acknowledged value must be in
# the topic exactly once, and the group consumer must have read every one of them
RIDE=ride
RIDE_RATE=50             # records a second, each producer
RIDE_SECONDS=20          # how long each producer writes
RIDE_N=$((RIDE_RATE * RIDE_SECONDS))
RIDE_KILL_AFTER=4        # seconds after the Java producer's first acknowledgement
RIDE_TIMEOUT=100         # seconds, at most, for a producer or the group consumer

create_replicated "$RIDE" "$DIR/22-ride-create.out" "$DIR/22-ride-describe.out"
RIDE_VICTIM="$(sed -nE 's/.*Partition:[[:space:]]*0[[:space:]].*Leader:[[:space:]]*([1-3])([^0-9].*)?$/\1/p' "$OUT" | head -n 1)"
[[ "$RIDE_VICTIM" =~ ^[1-3]$ && -n "${PID[$RIDE_VICTIM]:-}" ]] || fail "no live leader of $RIDE-0 to kill ('$RIDE_VICTIM')" "$OUT"
sum ride.isr_sizes "$REPL_ISR_SIZES"

# generous: the producers retry through the failover (Kafka fences the dead broker
# after broker.session.timeout.ms=6000, then moves its leaderships)
# (VerifiableProducer sets retries=0 unless told otherwise)
cat >"$DIR/ride-producer.properties" <<EOF
retries=2147483647
request.timeout.ms=15000
delivery.timeout.ms=60000
linger.ms=5
enable.idempotence=true
partitioner.class=org.apache.kafka.clients.producer.RoundRobinPartitioner
EOF
cat >"$DIR/ride_producer.py" <<'EOF'
# confluent-kafka producer for cluster.sh: RATE unique values PREFIX.1.. a second for
# N values, acks=all, idempotence; the delivered values to OUT; prints the counts.
import sys, time
from confluent_kafka import Producer
bootstrap, topic, prefix, n, rate, out = sys.argv[1:7]
n, rate = int(n), float(rate)
delivered, failed, fatal = [], [], []
def on_delivery(err, msg):
    if err is None:
        delivered.append(msg.value().decode())
    else:
        failed.append("%s: %s" % (msg.value().decode(), err))
def on_error(err):
    if err.fatal():
        fatal.append(str(err))
p = Producer({"bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": True,
              "delivery.timeout.ms": 60000, "request.timeout.ms": 15000, "linger.ms": 5,
              "error_cb": on_error})
start = time.monotonic()
for i in range(1, n + 1):
    while True:
        try:
            p.produce(topic, value=("%s.%d" % (prefix, i)).encode(), on_delivery=on_delivery)
            break
        except BufferError:
            p.poll(0.1)
    wait = start + i / rate - time.monotonic()
    p.poll(wait if wait > 0 else 0)
left = p.flush(90)
with open(out, "w") as f:
    f.writelines(v + "\n" for v in delivered)
for e in (failed + fatal)[:5]:
    print("error: %s" % e, file=sys.stderr)
print("sent=%d delivered=%d failed=%d fatal=%d undelivered=%d" % (n, len(delivered), len(failed), len(fatal), left))
EOF
# kcat's input: RIDE_RATE values k.1.. a second (in tenths), RIDE_SECONDS long
ride_kcat_input() {
    local s per=$((RIDE_RATE / 10))
    for ((s = 0; s < RIDE_SECONDS * 10; s++)); do
        seq -f 'k.%.0f' $((s * per + 1)) $(((s + 1) * per))
        sleep 0.1
    done
}

# the group consumer first (it joins, then reads from the beginning), then the producers
t0=$SECONDS
TOOL_TIMEOUT=$RIDE_TIMEOUT
tool "$DIR/22-ride-group-consumer.out" org.apache.kafka.tools.consumer.ConsoleConsumer --bootstrap-server "$BOOTSTRAP" \
    --command-config "$DIR/consumer.properties" --topic "$RIDE" --group ride-riders --from-beginning --timeout-ms 15000 &
RIDE_CPID=$!
tool "$DIR/22-ride-java.out" org.apache.kafka.tools.VerifiableProducer --bootstrap-server "$BOOTSTRAP" \
    --command-config "$DIR/ride-producer.properties" --topic "$RIDE" --acks -1 \
    --max-messages "$RIDE_N" --throughput "$RIDE_RATE" --value-prefix 3 &
RIDE_JPID=$!
ride_kcat_input | tee "$DIR/22-ride-kcat.sent" | timeout -k 5 "$RIDE_TIMEOUT" kcat -P -b "$BOOTSTRAP" -t "$RIDE" -v -v \
    -X acks=all -X enable.idempotence=true -X message.timeout.ms=60000 -X request.timeout.ms=15000 \
    -X linger.ms=5 >/dev/null 2>"$DIR/22-ride-kcat.err" &
RIDE_KPID=$!
timeout -k 5 "$RIDE_TIMEOUT" "$VENV_PY" "$DIR/ride_producer.py" "$BOOTSTRAP" "$RIDE" p "$RIDE_N" "$RIDE_RATE" \
    "$DIR/22-ride-python.delivered" >"$DIR/22-ride-python.out" 2>&1 </dev/null &
RIDE_PPID=$!

# the kill: a few seconds after the Java producer's first acknowledgement (its JVM
# starts last), so that all three are writing
deadline=$(deadline_in 30)
until grep -q '"name":"producer_send_success"' "$DIR/22-ride-java.out" 2>/dev/null || ((SECONDS >= deadline)); do
    sleep 0.5
done
sleep "$RIDE_KILL_AFTER"
ride_victim_was_qleader=no
[[ "$RIDE_VICTIM" == "$QLEADER" ]] && ride_victim_was_qleader=yes
kill -KILL "${PID[$RIDE_VICTIM]}" 2>/dev/null
wait "${PID[$RIDE_VICTIM]}" 2>/dev/null
unset "PID[$RIDE_VICTIM]"
RIDE_KILLED=$SECONDS
say "$RIDE: producers and a group consumer running; kill -9 node $RIDE_VICTIM (leader of $RIDE-0) $((SECONDS - t0))s in"
BOOTSTRAP=""
for n in "${NODES[@]}"; do
    [[ -n "${PID[$n]:-}" ]] && BOOTSTRAP+="${BOOTSTRAP:+,}127.0.0.1:${KPORT[$n]}"
done

wait "$RIDE_JPID"; rc_java=$?
wait "$RIDE_KPID"; rc_kcat=$?
wait "$RIDE_PPID"; rc_python=$?
say "$RIDE: producers done $((SECONDS - t0))s in (exit java $rc_java, kcat $rc_kcat, python $rc_python)"
all_alive

# Java: an error event per record not acknowledged
acked_values "$DIR/22-ride-java.out" >"$DIR/22-ride-java.delivered"
java_acked="$(grep -c . "$DIR/22-ride-java.delivered")"
java_errors="$(grep -c '"name":"producer_send_error"' "$DIR/22-ride-java.out")"
((rc_java == 0 && java_errors == 0 && java_acked == RIDE_N)) \
    || problem "$RIDE: VerifiableProducer exited $rc_java, $java_acked of $RIDE_N acknowledged, $java_errors send errors" "$DIR/22-ride-java.out"
# kcat: "Delivery failed" per record (verbosity 1), "Message delivered" per record
# (-v -v); a "% ERROR: Local: Broker transport failure" is librdkafka telling of the
# dead connection (its error callback, not fatal, nothing lost): counted under info.
kcat_sent="$(grep -c '^k\.' "$DIR/22-ride-kcat.sent")"
kcat_acked="$(grep -c 'Message delivered' "$DIR/22-ride-kcat.err")"
kcat_errors="$(grep -c 'Delivery failed\|FATAL' "$DIR/22-ride-kcat.err")"
((rc_kcat == 0 && kcat_errors == 0 && kcat_acked == RIDE_N && kcat_sent == RIDE_N)) \
    || problem "$RIDE: kcat exited $rc_kcat, sent $kcat_sent of $RIDE_N, $kcat_acked delivered, $kcat_errors errors" "$DIR/22-ride-kcat.err"
# kcat says which records failed only by count: with none failed, all it sent is delivered
grep '^k\.' "$DIR/22-ride-kcat.sent" >"$DIR/22-ride-kcat.delivered"
((kcat_errors == 0)) || : >"$DIR/22-ride-kcat.delivered"
# Python: the delivery callbacks' counts
py_line="$(grep -m1 '^sent=' "$DIR/22-ride-python.out")"
py_acked=0
[[ -f "$DIR/22-ride-python.delivered" ]] && py_acked="$(grep -c . "$DIR/22-ride-python.delivered")"
py_errors="$(sed -nE 's/.*failed=([0-9]+) fatal=([0-9]+) undelivered=([0-9]+).*/\1 \2 \3/p' <<<"$py_line" | awk '{ print $1 + $2 + $3 }')"
[[ -n "$py_errors" ]] || py_errors="no counts"
if ((rc_python != 0)) || [[ "$py_errors" != 0 || "$py_acked" != "$RIDE_N" ]]; then
    problem "$RIDE: the confluent-kafka producer exited $rc_python ($py_line; $py_acked delivered)" "$DIR/22-ride-python.out"
fi
say "$RIDE: acknowledged java $java_acked, kcat $kcat_acked, python $py_acked of $RIDE_N each; errors java $java_errors, kcat $kcat_errors, python $py_errors"
sum ride.java_errors "$java_errors"
sum ride.kcat_errors "$kcat_errors"
sum ride.python_errors "$py_errors"
sum ride.java_exit "$rc_java"
sum ride.kcat_exit "$rc_kcat"
sum ride.python_exit "$rc_python"
sum ride.all_acknowledged "$( ((java_acked == RIDE_N && kcat_acked == RIDE_N && py_acked == RIDE_N)) && echo yes || echo no)"
sum info.ride.acknowledged "java $java_acked kcat $kcat_acked python $py_acked of $RIDE_N each"
sum info.ride.victim_was_quorum_leader "$ride_victim_was_qleader"
sum info.ride.java_errors_say "$(grep -o '"exception":"[^"]*"' "$DIR/22-ride-java.out" | sort | uniq -c | head -n 3 | tr -s ' \n' ' ')"
sum info.ride.kcat_error_callbacks "$(grep -c '^% ERROR' "$DIR/22-ride-kcat.err")"
sum info.ride.kcat_stderr "$(grep -v 'Message delivered\|Enable message offset\|input buffer max size\|^%[0-9]|' "$DIR/22-ride-kcat.err" | sort | uniq -c | head -n 3 | cut -c1-140 | paste -sd'|' -)"

# the new leader of ride-0, then every partition read from the beginning (kcat, to the end)
OUT="$DIR/23-ride-describe-after.out"
TOOL_TIMEOUT=15
deadline=$(deadline_in $((RIDE_KILLED + FAILOVER_TIMEOUT - SECONDS)))
ride_moved=no
while :; do
    ride_p0_leader=""
    topics "$OUT" --describe --topic "$RIDE" \
        && ride_p0_leader="$(sed -nE 's/.*Partition:[[:space:]]*0[[:space:]].*Leader:[[:space:]]*(-?[0-9]+).*/\1/p' "$OUT" | head -n 1)"
    [[ "$ride_p0_leader" =~ ^[1-3]$ && "$ride_p0_leader" != "$RIDE_VICTIM" ]] && { ride_moved=yes; break; }
    ((SECONDS < deadline)) || { problem "$RIDE-0 is led by '$ride_p0_leader' $((SECONDS - RIDE_KILLED))s after kill -9 of node $RIDE_VICTIM" "$OUT"; break; }
    sleep 1
done
sum ride.p0_leader_moved "$ride_moved"
timeout -k 5 30 kcat -C -b "$BOOTSTRAP" -t "$RIDE" -o beginning -e -q -f '%s\n' >"$DIR/23-ride-consumed.out" 2>"$DIR/23-ride-consume.err"
rc=$?
((rc == 0)) || problem "kcat -C -e of $RIDE from the beginning exited $rc" "$DIR/23-ride-consume.err"
grep -E '^[3kp]\.[0-9]+$' "$DIR/23-ride-consumed.out" | sort >"$DIR/23-ride-consumed.values"
sort "$DIR"/22-ride-{java,kcat,python}.delivered >"$DIR/23-ride-delivered.values"
ride_consumed="$(grep -c . "$DIR/23-ride-consumed.values")"
ride_dups="$(uniq -d "$DIR/23-ride-consumed.values" | grep -c .)"
ride_lost="$(comm -23 <(sort -u "$DIR/23-ride-delivered.values") <(sort -u "$DIR/23-ride-consumed.values") | grep -c .)"
ride_extra="$(comm -13 <(sort -u "$DIR/23-ride-delivered.values") <(sort -u "$DIR/23-ride-consumed.values") | grep -c .)"
ride_delivered="$(grep -c . "$DIR/23-ride-delivered.values")"
((ride_dups == 0 && ride_lost == 0 && ride_delivered > 0)) \
    || problem "$RIDE: read $ride_consumed records ($ride_dups duplicated, $ride_lost delivered ones missing, $ride_extra not reported delivered), $ride_delivered delivered" "$DIR/23-ride-consume.err"
say "$RIDE: read $ride_consumed records ($ride_dups duplicated, $ride_lost of $ride_delivered delivered missing)"
sum ride.all_delivered_consumed "$( ((ride_lost == 0 && ride_delivered > 0)) && echo yes || echo no)"
sum ride.duplicates "$ride_dups"
sum ride.consumed_not_delivered "$ride_extra"
sum info.ride.consumed "$ride_consumed of $ride_delivered delivered"

# the group consumer: exits at its --timeout-ms (15 s without a record) with the
# TimeoutException it logs then, and no other error; it read every delivered value
wait "$RIDE_CPID"; rc_group=$?
OUT="$DIR/22-ride-group-consumer.out"
grep -E '^[3kp]\.[0-9]+$' "$OUT" | sort >"$DIR/23-ride-group.values"
group_read="$(grep -c . "$DIR/23-ride-group.values")"
group_lost="$(comm -23 <(sort -u "$DIR/23-ride-delivered.values") <(sort -u "$DIR/23-ride-group.values") | grep -c .)"
group_dups="$(uniq -d "$DIR/23-ride-group.values" | grep -c .)"
# (the one at the timeout: "ERROR Error processing message, terminating consumer
# process:", then "org.apache.kafka.common.errors.TimeoutException" on the next line)
group_errors="$(awk '/ ERROR / { if (e != "") n++; e = $0; next } e != "" { if ($0 !~ /TimeoutException/) n++; e = "" } END { print n + (e != "") }' "$OUT")"
((rc_group != 124 && rc_group != 137 && group_errors == 0 && group_lost == 0)) \
    || problem "$RIDE: the group ConsoleConsumer exited $rc_group with $group_errors errors, $group_lost delivered values unread" "$OUT"
say "$RIDE: the group consumer read $group_read records ($group_lost delivered unread, $group_dups twice; exit $rc_group, $((SECONDS - t0))s in all)"
sum ride.group_consumer_errors "$group_errors"
sum ride.group_consumer_missing "$group_lost"
sum info.ride.group_consumer "read $group_read, $group_dups twice, exit $rc_group"
# the Java client names a group coordinator node 2147483647 - its id: was it the victim?
grep -q "Connection to node $((2147483647 - RIDE_VICTIM)) " "$OUT" && ride_coord=yes || ride_coord=no
sum info.ride.victim_was_group_coordinator "$ride_coord"
sum info.ride.seconds "$((SECONDS - t0))"

# ------------------------------------------------------------ node 1's metadata log
# Kafka's own decoder must read what node 1 wrote (node 1 may be the killed one, or
# still running: reading its files is fine either way)
OUT="$DIR/24-metadata-dump.out"
SEGMENT="$(find "$DIR/data1/__cluster_metadata-0" -name '*.log' 2>/dev/null | sort | head -n 1)"
[[ -n "$SEGMENT" ]] || fail "node 1 has no __cluster_metadata-0/*.log in $DIR/data1"
TOOL_TIMEOUT=30
tool "$OUT" org.apache.kafka.tools.DumpLogSegments --cluster-metadata-decoder --files "$SEGMENT" \
    || fail "DumpLogSegments --cluster-metadata-decoder of $SEGMENT failed (exit $?)" "$OUT"
grep -Eq 'Exception|Error|isvalid: false' "$OUT" && fail "DumpLogSegments of $SEGMENT reports an error" "$OUT"
grep -q "\"type\":\"TOPIC_RECORD\".*\"name\":\"$TOPIC\"" "$OUT" \
    || fail "node 1's metadata log has no TopicRecord for $TOPIC" "$OUT"
registered="$(grep -o '"type":"REGISTER_BROKER_RECORD".*' "$OUT" | grep -Eo '"brokerId":[0-9]+' | grep -Eo '[0-9]+' | sort -u | paste -sd, -)"
[[ "$registered" == 1,2,3 ]] || fail "node 1's metadata log has RegisterBrokerRecords of brokers '$registered', not 1,2,3" "$OUT"
grep -q '"type":"USER_SCRAM_CREDENTIAL_RECORD".*"name":"carol"' "$OUT" \
    || fail "node 1's metadata log has no UserScramCredentialRecord for carol" "$OUT"
say "node 1's metadata log ($(basename "$SEGMENT")) decodes: TopicRecord $TOPIC, RegisterBrokerRecords of 1,2,3, carol's UserScramCredentialRecord"
sum metadata.decodes yes
sum metadata.scram_record yes
sum metadata.topic_record yes
sum metadata.register_broker_records "$registered"
sum info.metadata.record_types.list "$(grep -o '"type":"[A-Z_]*"' "$OUT" | cut -d'"' -f4 | sort -u | paste -sd, -)"
sum info.metadata.control_records.list "$(grep -Eo '(LeaderChange|KRaftVoters|KRaftVersion|SnapshotHeader|SnapshotFooter):?' "$OUT" | tr -d ':' | sort -u | paste -sd, -)"
sum info.metadata.record_counts "$(grep -o '"type":"[A-Z_]*"' "$OUT" | cut -d'"' -f4 | sort | uniq -c | awk '{ printf "%s%s=%s", (NR > 1 ? " " : ""), $2, $1 }')"
sum info.metadata.register_broker_version "$(grep -o '"type":"REGISTER_BROKER_RECORD","version":[0-9]*' "$OUT" | head -n 1 | grep -Eo '[0-9]+$')"
sum info.metadata.register_broker_rack "$(grep -o '"type":"REGISTER_BROKER_RECORD".*' "$OUT" | head -n 1 | grep -Eo '"rack":(null|"[^"]*")' | cut -d: -f2)"
sum info.metadata.register_broker_features "$(grep -o '"type":"REGISTER_BROKER_RECORD".*' "$OUT" | head -n 1 | grep -o '"features":\[[^]]*\]' | grep -o '"name"' | grep -c .) features"
sum info.metadata.partition_directories "$(grep -o '"type":"PARTITION_RECORD".*' "$OUT" | head -n 1 | grep -q '"directories":\[\]' && echo empty || echo set)"
sum info.metadata.metadata_version "$(grep -o '"name":"metadata.version","featureLevel":[0-9]*' "$OUT" | head -n 1 | grep -Eo '[0-9]+$' || echo none)"
sum info.metadata.first_leader_change_granting "$(grep -m1 -o 'LeaderChange: .*' "$OUT" | grep -o '"grantingVoters":\[[^]]*\]' | cut -d: -f2-)"

if [[ -z "${CLUSTER_SUMMARY:-}" ]]; then   # with both, the caller prints it
    echo "---- summary ($TARGET)"
    cat "$SUMMARY"
fi
if ((${#PROBLEMS[@]})); then
    echo "FAIL: ${#PROBLEMS[@]} check(s) failed:"
    printf '  - %s\n' "${PROBLEMS[@]}"
    dump_logs
    exit 1
fi
echo "PASS ($((SECONDS - START))s)"
