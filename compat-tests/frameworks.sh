#!/usr/bin/env bash
# Real Kafka frameworks on Rafka (issue #16, items 4-6), with Apache Kafka as the oracle:
# the same steps run against a Rafka broker and against an Apache Kafka broker, and each
# step must pass on both. Builds nothing: it runs the binary and the jars it is given.
#
#   compat-tests/frameworks.sh [--target rafka|kafka|both] [--only connect|mm2|mm2-source|registry]
#
# (--only takes one step or a comma-separated list; the default is connect,mm2,mm2-source.)
#
# Per target, one broker under test (rafka: `rafka serve` by lib/rafka-serve.sh; kafka:
# one KRaft node by kafka-ref.sh), then:
#   connect  Kafka Connect in distributed mode (ConnectDistributed, connect-runtime and
#            connect-file on the classpath, REST on a free 127.0.0.1 port, -Xmx384m):
#            - the worker creates its three internal topics (configs, offsets, status);
#              kafka-topics --describe lists them and kafka-configs --describe shows
#              cleanup.policy=compact on each;
#            - FileStreamSource (a 500-line file) -> topic fw-lines (1 partition) ->
#              FileStreamSink: the sink file must equal the source file byte for byte;
#            - SIGTERM the worker, append 300 lines to the source, start the worker
#              again: the sink file must again equal the source exactly (both
#              connectors resumed from what they stored: nothing twice, nothing lost).
#   mm2      MirrorMaker 2 (org.apache.kafka.connect.mirror.MirrorMaker, connect-mirror
#            jars, -Xmx384m) from a source Apache Kafka broker (a second kafka-ref.sh
#            node, started by the step) to the broker under test: 1000 keyed records on
#            fw-mm2 (3 partitions) at the source, a group reads 600 of them and commits;
#            src.fw-mm2 must appear on the destination with all 1000 records (same keys,
#            values and partitions) and the group's committed offsets must appear there,
#            translated (kafka-consumer-groups --describe on the destination: at most
#            the source's offset, rounded down to MirrorMaker's last offset sync); the
#            source topic's retention.ms must be on the mirrored topic, and a change of
#            it at the source must reach the destination within 30 s (MirrorSourceConnector
#            syncs topic configs every 2 s here, with IncrementalAlterConfigs); and
#            MirrorMaker must log no ERROR before it is stopped (it logs none with Kafka
#            on both sides).
#   mm2-source the same with the roles swapped: the broker under test is MirrorMaker's
#            source (topic, records, the group's commits, offset-syncs topic, ACL and
#            config reads), a second Kafka node the destination.
#   registry (only when asked for: --only ...,registry) Karapace, Aiven's schema registry
#            (Confluent's REST API), from a build by frameworks/karapace-build.sh in
#            compat-tests/.work/karapace (KARAPACE_HOME): it must create its compacted
#            _schemas topic (kafka-configs shows cleanup.policy=compact), register two
#            versions of an Avro schema (POST /subjects/S/versions: ids 1 and 2), serve
#            them by id and by subject/version; then SIGTERM, start again: once it has
#            replayed _schemas, the same four answers, byte for byte. Not a default step:
#            Karapace is not on PyPI and its build needs a source tree from GitHub
#            (see karapace-build.sh and docs/frameworks.md).
#
# Every wait is bounded (FRAMEWORKS_STEP_BUDGET seconds a step, default 150). Logs stay
# in compat-tests/.work/frameworks/TARGET/ (broker log, worker logs, each tool's output),
# wiped at the start of the next run of that target. Prints one line per step
# (PASS/FAIL, seconds, what was seen), then `TARGET: N passed, N failed` (with both:
# `frameworks: N passed, N failed` for the two at the end); exit status 0 iff
# every step passed on every target run. With --target both: rafka, then kafka, and a
# table of both; a step failing on kafka means the oracle (or this script) is broken.
#
# Environment:
#   RAFKA=path                the rafka binary (default: target/release/rafka)
#   KAFKA_LIBS=dir            Kafka 4.x jars with connect-file and connect-mirror
#                             (default compat-tests/.work/kafka-libs, from setup.sh)
#   FRAMEWORKS_STEP_BUDGET=s  time limit of one step (default 150)
#   KARAPACE_HOME=dir         Karapace build for the registry step (default
#                             compat-tests/.work/karapace, as karapace-build.sh writes it)
#   RUST_LOG=...              passed to rafka serve (e.g. debug)
#   FRAMEWORKS_LOG4J=file     a log4j2 config for the Connect and MirrorMaker workers
#                             instead of compat-tests/log4j2.properties (INFO), e.g. one
#                             with logger.nc.name=org.apache.kafka.clients.NetworkClient
#                             at DEBUG to log every request the workers send

# shellcheck disable=SC2317  # the wait_for predicates are called indirectly
set -uo pipefail

KAFKA_LIBS_FROM_ENV="${KAFKA_LIBS:-}"
# shellcheck source-path=SCRIPTDIR source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
[[ -n "$KAFKA_LIBS_FROM_ENV" ]] && KAFKA_LIBS="$KAFKA_LIBS_FROM_ENV"
export KAFKA_LIBS

ALL_STEPS=(connect mm2 mm2-source)
TARGET=both
ONLY=""
STEP=""   # internal: run one step against a broker that is already up
while (($#)); do
    case "$1" in
        -h|--help) awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"; exit 0 ;;
        --target) [[ $# -ge 2 ]] || { echo "frameworks.sh: --target needs rafka, kafka or both" >&2; exit 1; }
                  TARGET="$2"; shift 2 ;;
        --target=*) TARGET="${1#--target=}"; shift ;;
        --only) [[ $# -ge 2 ]] || { echo "frameworks.sh: --only needs connect, mm2, mm2-source or registry" >&2; exit 1; }
                ONLY="$2"; shift 2 ;;
        --only=*) ONLY="${1#--only=}"; shift ;;
        --step) STEP="$2"; shift 2 ;;
        *) echo "frameworks.sh: unknown argument $1 (see --help)" >&2; exit 1 ;;
    esac
done
case "$TARGET" in
    rafka|kafka|both) ;;
    *) echo "frameworks.sh: --target $TARGET: not rafka, kafka or both" >&2; exit 1 ;;
esac
STEPS=("${ALL_STEPS[@]}")
if [[ -n "$ONLY" ]]; then
    IFS=, read -r -a STEPS <<<"$ONLY"
    for s in "${STEPS[@]}"; do
        case "$s" in
            connect|mm2|mm2-source|registry) ;;
            *) echo "frameworks.sh: --only $s: not connect, mm2, mm2-source or registry" >&2; exit 1 ;;
        esac
    done
fi

RAFKA="${RAFKA:-$REPO_DIR/target/release/rafka}"
STEP_BUDGET="${FRAMEWORKS_STEP_BUDGET:-150}"
FW_WORK="$WORK_DIR/frameworks"
TOOL_TIMEOUT=40
# JVM flags of the long-running Connect / MirrorMaker workers: small heap (the machine's
# two cores are shared), logs at INFO through compat-tests/log4j2.properties
WORKER_JVM_OPTS=(-Xms64m -Xmx384m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Djava.awt.headless=true
    -Dfile.encoding=UTF-8 "-Dlog4j2.configurationFile=${FRAMEWORKS_LOG4J:-$COMPAT_DIR/log4j2.properties}"
    -Dcompat.log.level=INFO)

say() { printf '== %s\n' "$*"; }

# ------------------------------------------------------------ both: one run per target
if [[ "$TARGET" == both && -z "$STEP" ]]; then
    T0=$SECONDS
    rc=0
    only_args=()
    [[ -n "$ONLY" ]] && only_args=(--only "$ONLY")
    for t in rafka kafka; do
        bash "$0" --target "$t" "${only_args[@]}" 2>&1 | sed -u "s/^/[$t] /"
        rc_t=${PIPESTATUS[0]}
        declare "rc_$t=$rc_t"
        ((rc_t == 0)) || rc=1
    done
    echo "== both targets, $((SECONDS - T0))s in all"
    printf '%-10s | %-28s | %-28s\n' step rafka kafka
    for s in "${STEPS[@]}"; do
        r="$(awk -v s="$s" '$1 == s { print $2 " " $3 "s" }' "$FW_WORK/rafka/results" 2>/dev/null)"
        k="$(awk -v s="$s" '$1 == s { print $2 " " $3 "s" }' "$FW_WORK/kafka/results" 2>/dev/null)"
        printf '%-10s | %-28s | %-28s\n' "$s" "${r:-not run}" "${k:-not run}"
    done
    # shellcheck disable=SC2154
    ((rc_kafka == 0)) || echo "FAIL: a step failed against Apache Kafka: the oracle itself (or this script) is broken"
    # shellcheck disable=SC2154
    ((rc_rafka == 0)) || echo "FAIL: a step failed against Rafka"
    total_p="$(cat "$FW_WORK"/{rafka,kafka}/results 2>/dev/null | awk '$2 == "PASS"' | wc -l)"
    total_f="$(cat "$FW_WORK"/{rafka,kafka}/results 2>/dev/null | awk '$2 == "FAIL"' | wc -l)"
    ((rc == 0 || total_f > 0)) || total_f=1   # a target that failed before its steps
    echo "frameworks: $total_p passed, $total_f failed"
    exit "$rc"
fi

TDIR="$FW_WORK/$TARGET"
BROKER_STATE="$TDIR/broker.state"

# tool OUT CLASS ARGS...: one Kafka command-line tool (bounded), its output in OUT.
tool() {
    local out="$1"; shift
    kafka_tool "$TOOL_TIMEOUT" "$@" >"$out" 2>&1 </dev/null
}

# ------------------------------------------------------------ the broker under test
# broker_start: starts the target broker, sets BOOTSTRAP.
broker_start() {
    local out
    if [[ "$TARGET" == rafka ]]; then
        out="$(RAFKA_SERVE_STATE="$BROKER_STATE" RAFKA_BIN="$RAFKA" RAFKA_SERVE_DATA="$TDIR/rafka-data" \
            RAFKA_SERVE_LOG="$TDIR/broker.log" "$COMPAT_DIR/lib/rafka-serve.sh" start 2>"$TDIR/broker-start.err")" \
            || { echo "FAIL: rafka serve did not start: $(tail -n 1 "$TDIR/broker-start.err")"; return 1; }
    else
        out="$(KAFKA_REF_STATE="$BROKER_STATE" KAFKA_REF_DIR="$TDIR/kafka" \
            "$COMPAT_DIR/kafka-ref.sh" start 2>"$TDIR/broker-start.err")" \
            || { echo "FAIL: the Kafka broker did not start: $(tail -n 3 "$TDIR/broker-start.err")"; return 1; }
    fi
    BOOTSTRAP="$(tail -n 1 <<<"$out")"
}

broker_stop() {
    [[ -f "$BROKER_STATE" ]] || return 0
    if [[ "$TARGET" == rafka ]]; then
        RAFKA_SERVE_STATE="$BROKER_STATE" "$COMPAT_DIR/lib/rafka-serve.sh" stop >/dev/null 2>&1
    else
        KAFKA_REF_STATE="$BROKER_STATE" "$COMPAT_DIR/kafka-ref.sh" stop >/dev/null 2>&1
    fi
}

# ------------------------------------------------------------ helpers for the steps
# Each step runs as `frameworks.sh --target T --step NAME` in its own process (under
# timeout); the processes it starts are killed when it exits. It prints "OK: ..." or
# "FAIL: ..." as its last line.
declare -a STEP_PIDS=()
step_cleanup() {
    local p
    for p in "${STEP_PIDS[@]}"; do
        kill -TERM -- "-$p" 2>/dev/null || kill -TERM "$p" 2>/dev/null || true
    done
    for p in "${STEP_PIDS[@]}"; do
        for _ in $(seq 1 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.2; done
        kill -KILL -- "-$p" 2>/dev/null || kill -KILL "$p" 2>/dev/null || true
    done
}

# step_fail MESSAGE [FILE...]: say why, show the last lines of each FILE, exit 1.
step_fail() {
    local f
    echo "FAIL: $1"
    shift
    for f in "$@"; do
        [[ -s "$f" ]] || continue
        echo "---- $f (last 25 lines)"
        tail -n 25 "$f"
    done
    exit 1
}

# wait_for SECONDS WHAT COMMAND...: run COMMAND every second until it succeeds; returns 1
# after SECONDS.
wait_for() {
    local secs="$1"; shift
    local deadline=$((SECONDS + secs))
    until "$@"; do
        ((SECONDS < deadline)) || return 1
        sleep 1
    done
}

# start_jvm NAME CLASS ARGS...: a long-running JVM in its own process group, output in
# $SDIR/NAME.log (appended); sets JVM_PID.
start_jvm() {
    local name="$1"; shift
    echo "==== start at $(date -u +%H:%M:%S)" >>"$SDIR/$name.log"
    setsid java "${WORKER_JVM_OPTS[@]}" -cp "$KAFKA_LIBS/*" "$@" >>"$SDIR/$name.log" 2>&1 </dev/null &
    JVM_PID=$!
    STEP_PIDS+=("$JVM_PID")
}

# stop_jvm PID: SIGTERM to its process group, SIGKILL after 30 s; returns 1 if it had to
# be killed.
stop_jvm() {
    local pid="$1" i
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || return 0
    for ((i = 0; i < 300; i++)); do
        kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null; return 0; }
        sleep 0.1
    done
    kill -KILL -- "-$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null
    return 1
}

# ------------------------------------------------------------ step: Kafka Connect
CONNECT_LINES_1=500
CONNECT_LINES_2=300
step_connect() {
    local rest_port w src sink topic=fw-lines out t
    rest_port="$(free_port)"
    w="$SDIR/worker.properties"
    src="$SDIR/source.txt"
    sink="$SDIR/sink.txt"
    cat >"$w" <<PROPS
bootstrap.servers=$BOOTSTRAP
group.id=fw-connect
listeners=http://127.0.0.1:$rest_port
rest.advertised.host.name=127.0.0.1
rest.advertised.port=$rest_port
key.converter=org.apache.kafka.connect.storage.StringConverter
value.converter=org.apache.kafka.connect.storage.StringConverter
config.storage.topic=fw-connect-configs
offset.storage.topic=fw-connect-offsets
status.storage.topic=fw-connect-status
config.storage.replication.factor=1
offset.storage.replication.factor=1
status.storage.replication.factor=1
offset.flush.interval.ms=1000
scheduled.rebalance.max.delay.ms=0
plugin.discovery=only_scan
PROPS
    # the source file: 500 lines of varied length, ASCII only: FileStreamSourceTask
    # stores its position in characters and skips that many bytes on a restart, so a
    # multi-byte character would shift the resumed position (on Kafka as on Rafka)
    for ((i = 1; i <= CONNECT_LINES_1; i++)); do
        printf 'line %d\tpart one: cafe %s\n' "$i" "$(printf '%*s' $((i % 17)) '' | tr ' ' x)"
    done >"$src"
    : >"$sink"

    # the data topic, made beforehand: one partition keeps the lines in order
    tool "$SDIR/01-create-topic.out" org.apache.kafka.tools.TopicCommand --bootstrap-server "$BOOTSTRAP" \
        --create --topic "$topic" --partitions 1 --replication-factor 1 \
        || step_fail "kafka-topics --create $topic failed" "$SDIR/01-create-topic.out"

    t=$SECONDS
    start_jvm worker org.apache.kafka.connect.cli.ConnectDistributed "$w"
    local wpid=$JVM_PID
    rest_up() { kill -0 "$wpid" 2>/dev/null || return 2; curl -sf "http://127.0.0.1:$rest_port/connectors" >/dev/null 2>&1; }
    wait_for 60 rest_up \
        || step_fail "the Connect worker's REST API did not answer within 60 s (or the worker exited)" "$SDIR/worker.log"
    say "connect: worker up, REST on 127.0.0.1:$rest_port ($((SECONDS - t))s)"

    # its internal topics exist and are compacted
    local it desc cfg
    for it in fw-connect-configs fw-connect-offsets fw-connect-status; do
        tool "$SDIR/02-describe-$it.out" org.apache.kafka.tools.TopicCommand --bootstrap-server "$BOOTSTRAP" \
            --describe --topic "$it" \
            || step_fail "kafka-topics --describe $it failed" "$SDIR/02-describe-$it.out"
        desc="$(grep -m1 -o 'PartitionCount: *[0-9]*' "$SDIR/02-describe-$it.out" | grep -o '[0-9]*$')"
        tool "$SDIR/03-configs-$it.out" kafka.admin.ConfigCommand --bootstrap-server "$BOOTSTRAP" \
            --describe --entity-type topics --entity-name "$it" \
            || step_fail "kafka-configs --describe $it failed" "$SDIR/03-configs-$it.out"
        cfg="$(grep -o 'cleanup.policy=[a-z,]*' "$SDIR/03-configs-$it.out" | head -n 1)"
        [[ "$cfg" == cleanup.policy=compact ]] \
            || step_fail "internal topic $it: kafka-configs shows '${cfg:-no cleanup.policy}', not cleanup.policy=compact" \
                "$SDIR/03-configs-$it.out" "$SDIR/02-describe-$it.out"
        say "connect: $it exists ($desc partitions), $cfg"
        INTERNAL+="$it:$desc "
    done

    # the two file connectors
    curl -sf -X PUT -H 'Content-Type: application/json' "http://127.0.0.1:$rest_port/connectors/fw-source/config" \
        -d "{\"connector.class\":\"org.apache.kafka.connect.file.FileStreamSourceConnector\",\"tasks.max\":\"1\",\"file\":\"$src\",\"topic\":\"$topic\"}" \
        >"$SDIR/04-put-source.out" 2>&1 || step_fail "PUT /connectors/fw-source/config failed" "$SDIR/04-put-source.out" "$SDIR/worker.log"
    curl -sf -X PUT -H 'Content-Type: application/json' "http://127.0.0.1:$rest_port/connectors/fw-sink/config" \
        -d "{\"connector.class\":\"org.apache.kafka.connect.file.FileStreamSinkConnector\",\"tasks.max\":\"1\",\"file\":\"$sink\",\"topics\":\"$topic\"}" \
        >"$SDIR/04-put-sink.out" 2>&1 || step_fail "PUT /connectors/fw-sink/config failed" "$SDIR/04-put-sink.out" "$SDIR/worker.log"
    t=$SECONDS
    same() { cmp -s "$src" "$sink"; }
    wait_for 60 same || {
        connect_status "$rest_port" >"$SDIR/05-status.out"
        step_fail "the sink file has $(wc -l <"$sink") lines, not the source's $(wc -l <"$src") identical ones, 60 s after the connectors were made" \
            "$SDIR/05-status.out" "$SDIR/worker.log"
    }
    connect_status "$rest_port" >"$SDIR/05-status.out"
    grep -q 'fw-source RUNNING RUNNING' "$SDIR/05-status.out" && grep -q 'fw-sink RUNNING RUNNING' "$SDIR/05-status.out" \
        || step_fail "the connectors are not both RUNNING" "$SDIR/05-status.out"
    say "connect: sink file = source file ($CONNECT_LINES_1 lines, $(wc -c <"$src") bytes) $((SECONDS - t))s after the connectors were made"

    # stop (SIGTERM), append, start again: resume from the stored offsets
    t=$SECONDS
    # (a stop commits the source's offsets and the sink's group offsets)
    stop_jvm "$wpid" || step_fail "the Connect worker did not stop within 30 s of SIGTERM" "$SDIR/worker.log"
    say "connect: worker stopped (SIGTERM, $((SECONDS - t))s)"
    for ((i = CONNECT_LINES_1 + 1; i <= CONNECT_LINES_1 + CONNECT_LINES_2; i++)); do
        printf 'line %d\tafter the restart %s\n' "$i" "$(printf '%*s' $((i % 13)) '' | tr ' ' y)"
    done >>"$src"
    t=$SECONDS
    start_jvm worker org.apache.kafka.connect.cli.ConnectDistributed "$w"
    wpid=$JVM_PID
    wait_for 60 rest_up \
        || step_fail "the restarted Connect worker's REST API did not answer within 60 s" "$SDIR/worker.log"
    wait_for 60 same || {
        connect_status "$rest_port" >"$SDIR/06-status.out"
        local dups
        dups="$(sort "$sink" | uniq -d | wc -l)"
        step_fail "after the restart the sink file has $(wc -l <"$sink") lines ($dups twice), the source $(wc -l <"$src"): not identical 60 s after the restart" \
            "$SDIR/06-status.out" "$SDIR/worker.log"
    }
    say "connect: after the restart, sink file = source file ($((CONNECT_LINES_1 + CONNECT_LINES_2)) lines, $(wc -c <"$src") bytes), $((SECONDS - t))s"
    stop_jvm "$wpid" || true
    echo "OK: internal topics ${INTERNAL% } compacted; $CONNECT_LINES_1 lines copied exactly; +$CONNECT_LINES_2 after a restart, resumed exactly"
}

# connect_status PORT: one line per connector: name, connector state, task states
connect_status() {
    local c
    for c in $(curl -sf "http://127.0.0.1:$1/connectors" | jq -r '.[]' 2>/dev/null); do
        curl -sf "http://127.0.0.1:$1/connectors/$c/status" \
            | jq -r '[.name, .connector.state, (.tasks | map(.state) | join(","))] | join(" ")' 2>/dev/null
        curl -sf "http://127.0.0.1:$1/connectors/$c/status" | jq -r '.tasks[].trace // empty' 2>/dev/null | head -n 20
    done
}

# ------------------------------------------------------------ step: MirrorMaker 2
MM2_N=1000
MM2_READ=600
MM2_RETENTION_1=86400000
MM2_RETENTION_2=172800000
# step_mm2 [ROLE]: ROLE dst (the default, step mm2): a second Kafka node is MirrorMaker's
# source and the broker under test its destination; src (step mm2-source): the broker
# under test is the source and a second Kafka node the destination.
step_mm2() {
    local role="${1:-dst}" src_boot dst_boot peer out t topic=fw-mm2 group=fw-mm2-group
    local name=mm2
    [[ "$role" == src ]] && name=mm2-source
    t=$SECONDS
    out="$(KAFKA_REF_STATE="$SDIR/peer.state" KAFKA_REF_DIR="$SDIR/peer-kafka" \
        "$COMPAT_DIR/kafka-ref.sh" start 2>"$SDIR/peer-start.err")" \
        || step_fail "the second Kafka broker did not start" "$SDIR/peer-start.err"
    peer="$(tail -n 1 <<<"$out")"
    SOURCE_STATE="$SDIR/peer.state"
    if [[ "$role" == src ]]; then
        src_boot="$BOOTSTRAP" dst_boot="$peer"
        say "$name: the $TARGET broker is the source, a Kafka broker at $peer the destination ($((SECONDS - t))s)"
    else
        src_boot="$peer" dst_boot="$BOOTSTRAP"
        say "$name: a Kafka broker at $peer is the source, the $TARGET broker the destination ($((SECONDS - t))s)"
    fi

    # the source topic, 1000 keyed records, a group that read 600 of them
    tool "$SDIR/01-create.out" org.apache.kafka.tools.TopicCommand --bootstrap-server "$src_boot" \
        --create --topic "$topic" --partitions 3 --replication-factor 1 --config retention.ms=$MM2_RETENTION_1 \
        || step_fail "kafka-topics --create $topic on the source failed" "$SDIR/01-create.out"
    seq 1 "$MM2_N" | awk '{ printf "key-%d|value %d\n", $1 % 97, $1 }' >"$SDIR/produced.txt"
    timeout 60 kcat -P -b "$src_boot" -t "$topic" -K '|' -X acks=all -l "$SDIR/produced.txt" 2>"$SDIR/02-produce.err" \
        || step_fail "kcat -P to the source failed" "$SDIR/02-produce.err"
    tool "$SDIR/03-consume.out" org.apache.kafka.tools.consumer.ConsoleConsumer --bootstrap-server "$src_boot" \
        --topic "$topic" --group "$group" --from-beginning --max-messages "$MM2_READ" --timeout-ms 20000 \
        --consumer-property max.poll.records=1
    local read
    read="$(grep -c '^value ' "$SDIR/03-consume.out")"
    ((read == MM2_READ)) || step_fail "the source group read $read records, not $MM2_READ" "$SDIR/03-consume.out"
    tool "$SDIR/04-src-group.out" org.apache.kafka.tools.consumer.group.ConsumerGroupCommand --bootstrap-server "$src_boot" \
        --describe --group "$group" \
        || step_fail "kafka-consumer-groups --describe on the source failed" "$SDIR/04-src-group.out"
    # GROUP TOPIC PARTITION CURRENT-OFFSET ...: partition=offset
    awk -v t="$topic" '$2 == t { print $3 "=" $4 }' "$SDIR/04-src-group.out" | sort >"$SDIR/src-committed.txt"
    local committed_sum
    committed_sum="$(awk -F= '{ s += $2 } END { print s + 0 }' "$SDIR/src-committed.txt")"
    ((committed_sum == MM2_READ)) || step_fail "the source group committed $committed_sum in all, not $MM2_READ" "$SDIR/04-src-group.out"
    say "$name: $MM2_N keyed records on $topic (3 partitions) at the source; $group committed $(paste -sd' ' "$SDIR/src-committed.txt")"

    cat >"$SDIR/mm2.properties" <<PROPS
clusters=src, dst
src.bootstrap.servers=$src_boot
dst.bootstrap.servers=$dst_boot
src->dst.enabled=true
src->dst.topics=$topic
src->dst.groups=$group
dst->src.enabled=false
dst->src.emit.heartbeats.enabled=false
sync.group.offsets.enabled=true
sync.group.offsets.interval.seconds=1
emit.checkpoints.interval.seconds=1
emit.heartbeats.interval.seconds=1
refresh.topics.interval.seconds=5
refresh.groups.interval.seconds=5
sync.topic.configs.interval.seconds=2
replication.factor=1
checkpoints.topic.replication.factor=1
heartbeats.topic.replication.factor=1
offset-syncs.topic.replication.factor=1
offset.storage.replication.factor=1
status.storage.replication.factor=1
config.storage.replication.factor=1
tasks.max=1
PROPS
    t=$SECONDS
    start_jvm mm2 org.apache.kafka.connect.mirror.MirrorMaker "$SDIR/mm2.properties"
    local mpid=$JVM_PID
    say "$name: MirrorMaker started (src->dst)"

    # the mirrored topic with every record
    local dtopic="src.$topic"
    mirrored() {
        kill -0 "$mpid" 2>/dev/null || return 2
        timeout 20 kcat -C -b "$dst_boot" -t "$dtopic" -o beginning -e -q -f '%p|%k|%s\n' \
            >"$SDIR/05-mirrored.txt" 2>"$SDIR/05-mirrored.err" || return 1
        [[ "$(grep -c . "$SDIR/05-mirrored.txt")" -ge "$MM2_N" ]]
    }
    wait_for 90 mirrored || {
        kill -0 "$mpid" 2>/dev/null || step_fail "MirrorMaker exited" "$SDIR/mm2.log"
        tool "$SDIR/05-list.out" org.apache.kafka.tools.TopicCommand --bootstrap-server "$dst_boot" --list
        step_fail "$dtopic on the destination has $(grep -c . "$SDIR/05-mirrored.txt" 2>/dev/null) of $MM2_N records after 90 s (topics there: $(paste -sd' ' "$SDIR/05-list.out"))" \
            "$SDIR/05-mirrored.err" "$SDIR/mm2.log"
    }
    say "$name: $dtopic has $(grep -c . "$SDIR/05-mirrored.txt") records on the destination ($((SECONDS - t))s)"
    # same keys and values, each in the partition it had at the source
    timeout 30 kcat -C -b "$src_boot" -t "$topic" -o beginning -e -q -f '%p|%k|%s\n' >"$SDIR/06-source.txt" 2>"$SDIR/06-source.err" \
        || step_fail "kcat -C of the source topic failed" "$SDIR/06-source.err"
    if ! cmp -s <(sort "$SDIR/06-source.txt") <(sort "$SDIR/05-mirrored.txt"); then
        diff <(sort "$SDIR/06-source.txt") <(sort "$SDIR/05-mirrored.txt") >"$SDIR/06-diff.txt"
        step_fail "the mirrored records differ from the source's (partition|key|value; $(grep -c '^<' "$SDIR/06-diff.txt") only at the source, $(grep -c '^>' "$SDIR/06-diff.txt") only mirrored)" "$SDIR/06-diff.txt"
    fi

    # the group's offsets, translated, on the destination
    local dst_offsets
    group_synced() {
        kill -0 "$mpid" 2>/dev/null || return 2
        tool "$SDIR/07-dst-group.out" org.apache.kafka.tools.consumer.group.ConsumerGroupCommand \
            --bootstrap-server "$dst_boot" --describe --group "$group" || return 1
        awk -v t="$dtopic" '$2 == t && $4 ~ /^[0-9]+$/ { print $3 "=" $4 }' "$SDIR/07-dst-group.out" | sort >"$SDIR/dst-committed.txt"
        [[ "$(grep -c . "$SDIR/dst-committed.txt")" == 3 ]]
    }
    t=$SECONDS
    wait_for 60 group_synced \
        || step_fail "no committed offsets of $group for the 3 partitions of $dtopic on the destination 60 s after the records were there" \
            "$SDIR/07-dst-group.out" "$SDIR/mm2.log"
    dst_offsets="$(paste -sd' ' "$SDIR/dst-committed.txt")"
    # translated offsets: at most the source's committed offset of the same partition
    # (MirrorCheckpointTask rounds down to the last offset sync before it), more than 0
    # where the source's is (0 stays 0)
    local p o so bad=""
    while IFS='=' read -r p o; do
        so="$(awk -F= -v p="$p" '$1 == p { print $2 }' "$SDIR/src-committed.txt")"
        [[ -n "$so" ]] || { bad+=" partition $p: $o (no source offset)"; continue; }
        if ((so == 0)); then
            ((o == 0)) || bad+=" partition $p: $o (source 0)"
        else
            ((o > 0 && o <= so)) || bad+=" partition $p: $o (source $so)"
        fi
    done <"$SDIR/dst-committed.txt"
    [[ -z "$bad" ]] || step_fail "translated offsets out of range:$bad" "$SDIR/07-dst-group.out"
    say "$name: $group on the destination: $dst_offsets (source $(paste -sd' ' "$SDIR/src-committed.txt")), $((SECONDS - t))s"

    # topic configs: the one the topic was made with, then a change at the source,
    # synced by MirrorSourceConnector (IncrementalAlterConfigs on the destination) within
    # sync.topic.configs.interval.seconds (2)
    local retention problems=""
    dst_retention() {
        tool "$SDIR/$1" kafka.admin.ConfigCommand --bootstrap-server "$dst_boot" \
            --describe --entity-type topics --entity-name "$dtopic" || return 1
        retention="$(grep -o '^ *retention.ms=[0-9]*' "$SDIR/$1" | head -n 1 | grep -o '[0-9]*$')"
    }
    dst_retention 08-dst-configs.out
    if [[ "$retention" == "$MM2_RETENTION_1" ]]; then
        say "$name: $dtopic was made with the source's retention.ms=$MM2_RETENTION_1"
    else
        problems+="; $dtopic was made with retention.ms='$retention', not the source's $MM2_RETENTION_1"
    fi
    tool "$SDIR/09-src-alter.out" kafka.admin.ConfigCommand --bootstrap-server "$src_boot" \
        --alter --entity-type topics --entity-name "$topic" --add-config "retention.ms=$MM2_RETENTION_2" \
        || step_fail "kafka-configs --alter of $topic at the source failed" "$SDIR/09-src-alter.out"
    t=$SECONDS
    synced_config() { dst_retention 10-dst-configs.out && [[ "$retention" == "$MM2_RETENTION_2" ]]; }
    if wait_for 30 synced_config; then
        say "$name: retention.ms=$MM2_RETENTION_2 set at the source reached $dtopic in $((SECONDS - t))s"
    else
        problems+="; retention.ms=$MM2_RETENTION_2 set at the source did not reach $dtopic in 30 s (it has '$retention'; MirrorMaker says: $(grep -A1 'Could not alter configuration of topic' "$SDIR/mm2.log" | grep -v -e 'Could not alter' -e '^--$' | sort -u | head -n 1 | cut -c1-200))"
    fi
    # MirrorMaker's own complaints while it ran (none with Kafka on both sides; its
    # shutdown may log some, as closing clients fail calls in flight)
    local errors
    head -n "$(wc -l <"$SDIR/mm2.log")" "$SDIR/mm2.log" >"$SDIR/mm2-running.log"
    stop_jvm "$mpid" || true
    KAFKA_REF_STATE="$SDIR/peer.state" "$COMPAT_DIR/kafka-ref.sh" stop >/dev/null 2>&1
    errors="$(grep -E '^\[[^]]*\] ERROR ' "$SDIR/mm2-running.log" | sed -E 's/^\[[^]]*\] ERROR //' | sort | uniq -c | sed -E 's/^ +//' | head -n 3)"
    if [[ -n "$errors" ]]; then
        problems+="; MirrorMaker logged ERRORs: $(paste -sd'|' <<<"$errors" | cut -c1-300) (first cause: $(grep -A1 -m1 -E '^\[[^]]*\] ERROR ' "$SDIR/mm2-running.log" | tail -n 1 | cut -c1-200))"
    fi
    [[ -z "$problems" ]] || step_fail "${problems#; } (the records and group offsets were mirrored: see above)" "$SDIR/10-dst-configs.out"
    echo "OK: $dtopic has all $MM2_N records (same partitions, keys, values); $group's offsets translated: $dst_offsets (source $(paste -sd' ' "$SDIR/src-committed.txt")); topic config changes synced"
}

# ------------------------------------------------------------ step: schema registry
# Karapace (Aiven's schema registry, Confluent's REST API), built by
# frameworks/karapace-build.sh into $KARAPACE_HOME (src/, venv/): it keeps its schemas in
# the compacted topic _schemas and rebuilds its state from it at start.
KARAPACE_HOME="${KARAPACE_HOME:-$WORK_DIR/karapace}"
REG_SUBJECT=fw-user-value
REG_V1='{"type":"record","name":"User","namespace":"fw","fields":[{"name":"id","type":"long"},{"name":"name","type":"string"}]}'
REG_V2='{"type":"record","name":"User","namespace":"fw","fields":[{"name":"id","type":"long"},{"name":"name","type":"string"},{"name":"email","type":["null","string"],"default":null}]}'

# registry_start PORT: Karapace's registry on 127.0.0.1:PORT against BOOTSTRAP; sets JVM_PID
# (a process group, as start_jvm).
registry_start() {
    local port="$1"
    echo "==== start at $(date -u +%H:%M:%S)" >>"$SDIR/karapace.log"
    (
        cd "$KARAPACE_HOME/src" || exit 1
        export KARAPACE_BOOTSTRAP_URI="$BOOTSTRAP" KARAPACE_HOST=127.0.0.1 KARAPACE_PORT="$port" \
            KARAPACE_KARAPACE_REGISTRY=true KARAPACE_REGISTRY_HOST=127.0.0.1 KARAPACE_REGISTRY_PORT="$port" \
            KARAPACE_ADVERTISED_HOSTNAME=127.0.0.1 KARAPACE_ADVERTISED_PORT="$port" KARAPACE_LOG_LEVEL=INFO \
            KARAPACE_REPLICATION_FACTOR=1 PYTHONPATH=src PYTHONWARNINGS=ignore
        exec setsid "$KARAPACE_HOME/venv/bin/python" -m karapace
    ) >>"$SDIR/karapace.log" 2>&1 </dev/null &
    JVM_PID=$!
    STEP_PIDS+=("$JVM_PID")
}

# registry_ready PORT PID: the registry answers, has replayed _schemas and has a primary
registry_ready() {
    kill -0 "$2" 2>/dev/null || return 2
    curl -sf "http://127.0.0.1:$1/_health" 2>/dev/null | jq -e '.status.schema_registry_ready == true' >/dev/null 2>&1 \
        && curl -sf "http://127.0.0.1:$1/master_available" 2>/dev/null | jq -e '.master_available == true' >/dev/null 2>&1
}

# registry_read PORT OUT_PREFIX: GET /schemas/ids/{1,2} and /subjects/S/versions/{1,2}
# (+ the subject list), each body in OUT_PREFIX.*; a line per answer on stdout
registry_read() {
    local port="$1" out="$2" u
    for u in subjects schemas/ids/1 schemas/ids/2 "subjects/$REG_SUBJECT/versions/1" "subjects/$REG_SUBJECT/versions/2"; do
        curl -s -o "$out.$(tr '/' '_' <<<"$u")" -w "$u %{http_code}\n" "http://127.0.0.1:$port/$u"
    done
}

# same_schema JSON_FILE EXPECTED_SCHEMA: the file's .schema parses to EXPECTED (as JSON)
same_schema() {
    [[ "$(jq -cS '.schema | fromjson' "$1" 2>/dev/null)" == "$(jq -cS . <<<"$2")" ]]
}

step_registry() {
    [[ -f "$KARAPACE_HOME/.complete" && -x "$KARAPACE_HOME/venv/bin/python" ]] \
        || step_fail "no Karapace build in $KARAPACE_HOME: run compat-tests/frameworks/karapace-build.sh KARAPACE_SOURCE first (Karapace is not on PyPI; see docs/frameworks.md)"
    local port t rpid body id1 id2 cfg
    port="$(free_port)"
    t=$SECONDS
    registry_start "$port"
    rpid=$JVM_PID
    wait_for 60 registry_ready "$port" "$rpid" \
        || step_fail "Karapace did not become ready (replayed _schemas, primary elected) within 60 s (or exited)" "$SDIR/karapace.log"
    say "registry: Karapace ready on 127.0.0.1:$port ($((SECONDS - t))s)"

    tool "$SDIR/01-configs.out" kafka.admin.ConfigCommand --bootstrap-server "$BOOTSTRAP" \
        --describe --entity-type topics --entity-name _schemas \
        || step_fail "kafka-configs --describe _schemas failed" "$SDIR/01-configs.out"
    cfg="$(grep -o 'cleanup.policy=[a-z,]*' "$SDIR/01-configs.out" | head -n 1)"
    [[ "$cfg" == cleanup.policy=compact ]] \
        || step_fail "_schemas: kafka-configs shows '${cfg:-no cleanup.policy}', not cleanup.policy=compact" "$SDIR/01-configs.out"
    say "registry: _schemas exists, $cfg"

    # two versions of an Avro schema (the second adds an optional field: BACKWARD-compatible)
    body="$(jq -cn --arg s "$REG_V1" '{schema: $s}')"
    curl -s -X POST -H 'Content-Type: application/vnd.schemaregistry.v1+json' --data "$body" \
        "http://127.0.0.1:$port/subjects/$REG_SUBJECT/versions" >"$SDIR/02-register-v1.json"
    id1="$(jq -r '.id // empty' "$SDIR/02-register-v1.json")"
    [[ "$id1" == 1 ]] || step_fail "POST /subjects/$REG_SUBJECT/versions (v1) answered $(cat "$SDIR/02-register-v1.json"), not id 1" "$SDIR/karapace.log"
    body="$(jq -cn --arg s "$REG_V2" '{schema: $s}')"
    curl -s -X POST -H 'Content-Type: application/vnd.schemaregistry.v1+json' --data "$body" \
        "http://127.0.0.1:$port/subjects/$REG_SUBJECT/versions" >"$SDIR/02-register-v2.json"
    id2="$(jq -r '.id // empty' "$SDIR/02-register-v2.json")"
    [[ "$id2" == 2 ]] || step_fail "POST /subjects/$REG_SUBJECT/versions (v2) answered $(cat "$SDIR/02-register-v2.json"), not id 2" "$SDIR/karapace.log"
    say "registry: registered 2 versions of an Avro schema under $REG_SUBJECT (ids $id1, $id2)"

    registry_check() {  # PREFIX WHEN
        local p="$1"
        registry_read "$port" "$p" >"$p.codes"
        [[ "$(jq -c . "$p.subjects" 2>/dev/null)" == "[\"$REG_SUBJECT\"]" ]] \
            || step_fail "$2: GET /subjects answered $(cat "$p.subjects")" "$p.codes"
        same_schema "$p.schemas_ids_1" "$REG_V1" || step_fail "$2: GET /schemas/ids/1 answered $(cat "$p.schemas_ids_1")" "$p.codes"
        same_schema "$p.schemas_ids_2" "$REG_V2" || step_fail "$2: GET /schemas/ids/2 answered $(cat "$p.schemas_ids_2")" "$p.codes"
        same_schema "$p.subjects_${REG_SUBJECT}_versions_1" "$REG_V1" \
            && jq -e '.id == 1 and .version == 1' "$p.subjects_${REG_SUBJECT}_versions_1" >/dev/null \
            || step_fail "$2: GET /subjects/$REG_SUBJECT/versions/1 answered $(cat "$p.subjects_${REG_SUBJECT}_versions_1")" "$p.codes"
        same_schema "$p.subjects_${REG_SUBJECT}_versions_2" "$REG_V2" \
            && jq -e '.id == 2 and .version == 2' "$p.subjects_${REG_SUBJECT}_versions_2" >/dev/null \
            || step_fail "$2: GET /subjects/$REG_SUBJECT/versions/2 answered $(cat "$p.subjects_${REG_SUBJECT}_versions_2")" "$p.codes"
    }
    registry_check "$SDIR/03-read" "before the restart"
    say "registry: read back by id (1, 2) and by subject/version (1, 2)"

    # restart: the new process knows only what it replays from _schemas
    t=$SECONDS
    stop_jvm "$rpid" || step_fail "Karapace did not stop within 30 s of SIGTERM" "$SDIR/karapace.log"
    registry_start "$port"
    rpid=$JVM_PID
    wait_for 60 registry_ready "$port" "$rpid" \
        || step_fail "the restarted Karapace did not become ready within 60 s" "$SDIR/karapace.log"
    local replay
    replay="$(grep -o 'Schema replay completed in [0-9.]* seconds' "$SDIR/karapace.log" | tail -n 1 | grep -o '[0-9.]*' | head -n 1)"
    say "registry: restarted, ready in $((SECONDS - t))s (its replay of _schemas: ${replay:-?} s)"
    registry_check "$SDIR/04-read-after-restart" "after the restart"
    for f in schemas_ids_1 schemas_ids_2 "subjects_${REG_SUBJECT}_versions_1" "subjects_${REG_SUBJECT}_versions_2"; do
        cmp -s "$SDIR/03-read.$f" "$SDIR/04-read-after-restart.$f" \
            || step_fail "after the restart, ${f//_//} differs: $(cat "$SDIR/04-read-after-restart.$f") (before: $(cat "$SDIR/03-read.$f"))"
    done
    stop_jvm "$rpid" || true
    echo "OK: _schemas compacted; 2 Avro schema versions registered, read back by id and subject/version, the same after a restart (replay ${replay:-?} s)"
}

# ------------------------------------------------------------ one step (internal)
if [[ -n "$STEP" ]]; then
    SDIR="$TDIR/$STEP"
    BOOTSTRAP="${FW_BOOTSTRAP:?}"
    INTERNAL=""
    SOURCE_STATE=""
    on_exit() {
        step_cleanup
        [[ -n "$SOURCE_STATE" && -f "$SOURCE_STATE" ]] \
            && KAFKA_REF_STATE="$SOURCE_STATE" "$COMPAT_DIR/kafka-ref.sh" stop >/dev/null 2>&1
        return 0
    }
    trap on_exit EXIT
    trap 'echo "FAIL: step $STEP ran out of time (${STEP_BUDGET}s)"; exit 1' TERM INT
    case "$STEP" in
        mm2-source) step_mm2 src ;;
        *) "step_$STEP" ;;
    esac
    exit 0
fi

# ------------------------------------------------------------ one target
[[ "$TARGET" == kafka || -x "$RAFKA" ]] || { echo "FAIL: RAFKA=$RAFKA is not an executable (cargo build --release)"; exit 1; }
command -v java >/dev/null 2>&1 || { echo "FAIL: no java on PATH (compat-tests/setup.sh installs it)"; exit 1; }
for c in kcat curl jq; do
    command -v "$c" >/dev/null 2>&1 || { echo "FAIL: no $c on PATH"; exit 1; }
done
for j in connect-runtime connect-file connect-mirror; do
    compgen -G "$KAFKA_LIBS/$j-[0-9]*.jar" >/dev/null \
        || { echo "FAIL: no $j jar in $KAFKA_LIBS: run compat-tests/setup.sh (or set KAFKA_LIBS)"; exit 1; }
done

rm -rf "$TDIR"
mkdir -p "$TDIR"
: >"$TDIR/results"
trap 'broker_stop' EXIT
trap 'exit 1' INT TERM
T0=$SECONDS
broker_start || exit 1
say "$TARGET broker at $BOOTSTRAP ($((SECONDS - T0))s; log $TDIR/broker.log)"
passed=0 failed=0
for s in "${STEPS[@]}"; do
    mkdir -p "$TDIR/$s"
    t=$SECONDS
    FW_BOOTSTRAP="$BOOTSTRAP" timeout -k 20 "$STEP_BUDGET" bash "$0" --target "$TARGET" --step "$s" \
        >"$TDIR/$s/step.out" 2>&1 </dev/null
    rc=$?
    secs=$((SECONDS - t))
    grep '^== ' "$TDIR/$s/step.out"
    last="$(grep -E '^(OK|FAIL): ' "$TDIR/$s/step.out" | head -n 1)"
    if ((rc == 0)) && [[ "$last" == OK:* ]]; then
        passed=$((passed + 1))
        echo "$s PASS $secs ${last#OK: }" >>"$TDIR/results"
        echo "PASS $s ($TARGET, ${secs}s): ${last#OK: }"
    else
        failed=$((failed + 1))
        ((rc == 124 || rc == 137)) && [[ -z "$last" ]] && last="FAIL: step ran out of time (${STEP_BUDGET}s)"
        echo "$s FAIL $secs ${last#FAIL: }" >>"$TDIR/results"
        echo "FAIL $s ($TARGET, ${secs}s): ${last#FAIL: }"
        sed -n '/^---- /,$p' "$TDIR/$s/step.out" | head -n 80
        echo "(logs in $TDIR/$s/)"
    fi
    if [[ "$TARGET" == rafka ]] && ! kill -0 "$(sed -n 's/^PID=//p' "$BROKER_STATE")" 2>/dev/null; then
        echo "FAIL: rafka serve exited: $(tail -n 3 "$TDIR/broker.log")"
        failed=$((failed + 1))
        break
    fi
done
echo "== $TARGET: $((SECONDS - T0))s in all"
echo "$TARGET: $passed passed, $failed failed"
((failed == 0))
