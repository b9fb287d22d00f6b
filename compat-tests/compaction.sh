#!/usr/bin/env bash
# Log compaction with Kafka as the oracle (issue #16): the same input to Rafka and to an
# Apache Kafka 4.x broker, and both must end with the same compacted partition, which must
# also be what the model says. Builds nothing: it runs the binary and the jars it is given.
#
#   compat-tests/compaction.sh [--target rafka|kafka|both]
#
# With --target both (the default) the two brokers run side by side and Kafka is the
# oracle; with one target that broker is checked against the model alone. Per broker:
#   1. one single-node broker on free 127.0.0.1 ports, a temp data dir, the same cleaner
#      keys for both: log.cleaner.enable=true, log.cleaner.backoff.ms=200,
#      log.cleaner.min.compaction.lag.ms=0, log.cleaner.dedupe.buffer.size=16 MiB (Kafka:
#      one KRaft node as kafka-ref.sh writes it, -Xmx384m);
#   2. kafka-topics --create of two topics, 1 partition each, cleanup.policy=compact,
#      min.cleanable.dirty.ratio=0.01, min.compaction.lag.ms=0, 4096-byte segments
#      (Kafka 4.x refuses segment.bytes below 1 MiB: both get Kafka's test-only topic key
#      internal.segment.bytes=4096; a Rafka that refuses it gets the topic without it
#      and its broker default log.segment.bytes=4096):
#        keep  delete.retention.ms=86400000 (tombstones stay)
#        drop  delete.retention.ms=0 (a tombstone goes at the first cleaning after the
#              one that set its delete horizon, KIP-534)
#   3. keep: 3000 records (seed 16) over 100 keys, 8% tombstones, then 60 records with
#      values (so the last of the 3000 is in a closed segment), from ONE kcat -P with
#      batch.num.messages=1, linger.ms=0, acks=all: one record per batch, the same
#      batches on both brokers, so segments roll at the same offsets;
#   4. waits (bounded) until Kafka's partition is compacted: kcat -C reads it all
#      (offset, key, value; a tombstone reads NULL) and no key is there twice below the
#      active segment's base offset (the highest NNNN.log of <topic>-0 in the data dir);
#      then until Rafka reads exactly the same (offset, key, value) list, else the diff;
#   5. the model, on each broker: below the active segment's base exactly the last record
#      of each key survives at its offset (tombstones too), at and above it every record
#      is as produced; the two brokers' active segments start at the same offset;
#   6. Kafka's DumpLogSegments --deep-iteration --print-data-log reads every .log, .index
#      and .timeindex file of the partition, Rafka's too: no error, no invalid batch, no
#      index mismatch; its records (offset, key, payload, and whether the batch has a
#      KIP-534 deleteHorizonMs) must be the same for both brokers and the same as the
#      consumer read; below the active segment exactly the tombstones' batches have one;
#   7. drop: 1500 records (seed 17), 15% tombstones, 60 with values; once no key is
#      there twice below the active segment (every tombstone has had a cleaning, which
#      set its delete horizon), 80 more records with values (seed 18) roll at least one
#      more segment, whose cleaning removes every tombstone: the model has no tombstone
#      below the new active segment and the last record of every other key; Rafka's
#      list must equal Kafka's;
#   8. idem: an idempotent producer's 40 records (keys k000..k039), then a plain
#      producer's 200 over the same keys and 60 more: the model, and the first producer's
#      last batch (offset 39) kept as an empty batch (Kafka's RETAIN_EMPTY, so that the
#      producer's sequence survives), and no other empty batch; with both, every batch
#      header as DumpLogSegments prints it (but position, CreateTime, crc, the producer
#      id's and the horizon's values) is the same on both brokers;
#   9. cleaner-offset-checkpoint: each topic's dirty part starts at its active segment;
#  10. kill -9 of the broker (with both: of Rafka), started again on the same data: every
#      topic reads as before;
#  11. a record without a key is refused on a compacted topic (Kafka: INVALID_RECORD),
#      and the partition does not grow.
# Prints PASS and exits 0, or FAIL lines (with the diff, the model's first differences,
# the broker log's tail) and exits 1. Needs java, python3, kcat and the Kafka jars
# (compat-tests/setup.sh installs them). Loopback only; about a minute for both, 40 s for
# one target.
#
# Environment:
#   RAFKA=path          the rafka binary (default: target/release/rafka)
#   KAFKA_LIBS=dir      Kafka 4.x jars (default: compat-tests/.work/kafka-libs)
#   COMPACTION_TARGET=t rafka, kafka or both (default both; --target overrides it)
#   COMPACTION_WAIT=s   the longest wait for a broker to have compacted (default 60)
#   KEEP=1              keep the temp dir (configs, data dirs, logs, inputs, reads, dumps)
set -uo pipefail

KAFKA_LIBS_FROM_ENV="${KAFKA_LIBS:-}"
# shellcheck source-path=SCRIPTDIR source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
[[ -n "$KAFKA_LIBS_FROM_ENV" ]] && KAFKA_LIBS="$KAFKA_LIBS_FROM_ENV"
ORACLE_PY="$COMPAT_DIR/compaction/oracle.py"

TARGET="${COMPACTION_TARGET:-both}"
while (($#)); do
    case "$1" in
        -h|--help) awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"; exit 0 ;;
        --target) [[ $# -ge 2 ]] || { echo "compaction.sh: --target needs rafka, kafka or both" >&2; exit 1; }
                  TARGET="$2"; shift 2 ;;
        --target=*) TARGET="${1#--target=}"; shift ;;
        *) echo "compaction.sh: unknown argument $1 (see --help)" >&2; exit 1 ;;
    esac
done
case "$TARGET" in
    rafka) BROKERS=(rafka) ;;
    kafka) BROKERS=(kafka) ;;
    both) BROKERS=(kafka rafka) ;;
    *) echo "compaction.sh: --target $TARGET: not rafka, kafka or both" >&2; exit 1 ;;
esac
RAFKA="${RAFKA:-$REPO_DIR/target/release/rafka}"
WAIT="${COMPACTION_WAIT:-60}"
SEGMENT_BYTES=4096
START=$SECONDS

DIR="$(mktemp -d "/tmp/rafka-compaction-$TARGET.XXXXXX")"
declare -A PID=() PORT=() BOOT=() DATA=()
PROBLEMS=()

say() { printf '== %s\n' "$*"; }
elapsed() { echo "$((SECONDS - START))s"; }

cleanup() {
    local b
    for b in "${!PID[@]}"; do kill -KILL "${PID[$b]}" 2>/dev/null || true; done
    for b in "${!PID[@]}"; do wait "${PID[$b]}" 2>/dev/null || true; done
    if [[ "${KEEP:-0}" == 1 ]]; then echo "kept $DIR"; else rm -rf "$DIR"; fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# fail MESSAGE [FILE]: say why, show FILE and the brokers' log tails, exit 1.
fail() {
    local b
    echo "FAIL: $1"
    ((${#PROBLEMS[@]})) && printf '  (and before it: %s)\n' "${PROBLEMS[@]}"
    [[ -n "${2:-}" && -s "$2" ]] && { echo "---- $2"; tail -n 40 "$2"; }
    for b in "${!PID[@]}"; do echo "---- $b log, last 20 lines"; tail -n 20 "$DIR/$b.log"; done
    exit 1
}

# problem MESSAGE [FILE]: a failed check; the run goes on (later checks still say
# something) and ends with FAIL.
problem() {
    echo "PROBLEM: $1"
    [[ -n "${2:-}" && -s "$2" ]] && { echo "---- $2"; head -n 40 "$2"; }
    PROBLEMS+=("$1")
}

# ------------------------------------------------------------ preconditions
for b in "${BROKERS[@]}"; do
    [[ "$b" == kafka || -x "$RAFKA" ]] || fail "RAFKA=$RAFKA is not an executable (build it: cargo build --release)"
done
command -v java >/dev/null 2>&1 || fail "no java on PATH (compat-tests/setup.sh installs it)"
command -v kcat >/dev/null 2>&1 || fail "no kcat on PATH (compat-tests/setup.sh installs it)"
compgen -G "$KAFKA_LIBS/kafka-tools-*.jar" >/dev/null \
    || fail "no Kafka jars in $KAFKA_LIBS: run compat-tests/setup.sh first (or set KAFKA_LIBS)"

# ------------------------------------------------------------ configs and start
# the keys both brokers get: a prompt cleaner, topics only by CreateTopics
SHARED_PROPS="auto.create.topics.enable=false
num.partitions=1
log.cleaner.enable=true
log.cleaner.backoff.ms=200
log.cleaner.min.compaction.lag.ms=0
log.cleaner.dedupe.buffer.size=16777216
group.initial.rebalance.delay.ms=0"

for b in "${BROKERS[@]}"; do
    PORT[$b]="$(free_port)"
    DATA[$b]="$DIR/$b-data"
    mkdir -p "${DATA[$b]}"
    BOOT[$b]="127.0.0.1:${PORT[$b]}"
done
if [[ -n "${PORT[kafka]:-}" ]]; then
    KCPORT="$(free_port)"
    while [[ "$KCPORT" == "${PORT[kafka]}" || "$KCPORT" == "${PORT[rafka]:-}" ]]; do KCPORT="$(free_port)"; done
    cat >"$DIR/kafka.properties" <<EOF
# written by compat-tests/compaction.sh: kafka-ref.sh's single node, then the shared keys
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$KCPORT
listeners=PLAINTEXT://127.0.0.1:${PORT[kafka]},CONTROLLER://127.0.0.1:$KCPORT
advertised.listeners=PLAINTEXT://127.0.0.1:${PORT[kafka]}
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=${DATA[kafka]}
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
num.network.threads=2
num.io.threads=2
num.recovery.threads.per.data.dir=1
log.retention.check.interval.ms=300000
$SHARED_PROPS
EOF
    CLUSTER_ID="$(python3 -c 'import base64, uuid
while True:
    s = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
    if not s.startswith("-"):
        print(s)
        break')"
    kafka_tool 60 kafka.tools.StorageTool format --ignore-formatted -t "$CLUSTER_ID" \
        -c "$DIR/kafka.properties" >"$DIR/kafka-format.out" 2>&1 </dev/null \
        || fail "kafka-storage format failed" "$DIR/kafka-format.out"
fi
# launch BROKER: start it on its config and data dir (again, for the restart), log appended
launch() {
    if [[ "$1" == kafka ]]; then
        setsid java -Xms64m -Xmx384m -XX:MaxMetaspaceSize=256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 \
            -Djava.awt.headless=true -Dfile.encoding=UTF-8 \
            -Dlog4j2.configurationFile="$COMPAT_DIR/log4j2.properties" -Dcompat.log.level=INFO \
            -cp "$KAFKA_LIBS/*" kafka.Kafka "$DIR/kafka.properties" >>"$DIR/kafka.log" 2>&1 </dev/null &
    else
        setsid "$RAFKA" serve --config "$DIR/rafka.properties" >>"$DIR/rafka.log" 2>&1 </dev/null &
    fi
    PID[$1]=$!
}
[[ -n "${PORT[kafka]:-}" ]] && launch kafka
if [[ -n "${PORT[rafka]:-}" ]]; then
    TPORT="$(free_port)"
    while [[ "$TPORT" == "${PORT[rafka]}" || "$TPORT" == "${PORT[kafka]:-}" || "$TPORT" == "${KCPORT:-}" ]]; do TPORT="$(free_port)"; done
    cat >"$DIR/rafka.properties" <<EOF
# written by compat-tests/compaction.sh: Rafka's single node, then the shared keys
listeners=PLAINTEXT://127.0.0.1:${PORT[rafka]}
text.listener=127.0.0.1:$TPORT
log.dirs=${DATA[rafka]}
offsets.topic.num.partitions=1
# for a Rafka that refuses the topic key internal.segment.bytes (see create below);
# Kafka 4.x refuses log.segment.bytes below 1 MiB
log.segment.bytes=$SEGMENT_BYTES
$SHARED_PROPS
EOF
    launch rafka
fi
say "started ${BROKERS[*]} (data in $DIR)"

# alive BROKER: fails the run if it exited
alive() {
    kill -0 "${PID[$1]}" 2>/dev/null || fail "$1 (pid ${PID[$1]}) exited: $(tail -n 1 "$DIR/$1.log" | cut -c1-300)"
}
# ready BROKER: wait until it answers Metadata (90 s)
ready() {
    local b="$1" deadline=$((SECONDS + 90))
    until port_open "${PORT[$b]}" && timeout 5 kcat -L -b "${BOOT[$b]}" -m 3 2>/dev/null | grep -q "broker .* at 127.0.0.1:${PORT[$b]}"; do
        alive "$b"
        ((SECONDS < deadline)) || fail "$b does not answer Metadata on ${BOOT[$b]} after 90 s"
        sleep 0.3
    done
}
for b in "${BROKERS[@]}"; do
    ready "$b"
    say "$b answers on ${BOOT[$b]} ($(elapsed))"
done

# ------------------------------------------------------------ topics
# create BROKER TOPIC DELETE_RETENTION_MS: the same request to both brokers. Kafka 4.x
# (and its kafka-topics, before sending) refuses segment.bytes below 1 MiB; its test-only
# internal.segment.bytes sets smaller segments. A Rafka that refuses that key ("unknown
# topic config") gets the topic without it: its broker default log.segment.bytes is
# SEGMENT_BYTES (see rafka.properties).
create() {
    local b="$1" t="$2" out="$DIR/$1-create-$2.out"
    local -a args=(--bootstrap-server "${BOOT[$b]}" --create --topic "$t" --partitions 1
        --replication-factor 1 --config cleanup.policy=compact
        --config min.cleanable.dirty.ratio=0.01 --config min.compaction.lag.ms=0
        --config delete.retention.ms="$3")
    kafka_tool 60 org.apache.kafka.tools.TopicCommand "${args[@]}" \
        --config internal.segment.bytes="$SEGMENT_BYTES" >"$out" 2>&1 </dev/null && return 0
    [[ "$b" == rafka ]] && grep -q "unknown topic config 'internal.segment.bytes'" "$out" || return 1
    echo "rafka: internal.segment.bytes refused (unknown topic config): topics created without it, segments of its log.segment.bytes=$SEGMENT_BYTES" >"$DIR/rafka-no-internal-segment-bytes"
    kafka_tool 60 org.apache.kafka.tools.TopicCommand "${args[@]}" >"$out" 2>&1 </dev/null
}
for b in "${BROKERS[@]}"; do
    create "$b" keep 86400000 & cpid1=$!
    create "$b" drop 0 & cpid2=$!
    wait $cpid1 || fail "kafka-topics --create keep on $b failed" "$DIR/$b-create-keep.out"
    wait $cpid2 || fail "kafka-topics --create drop on $b failed" "$DIR/$b-create-drop.out"
    create "$b" idem 86400000 || fail "kafka-topics --create idem on $b failed" "$DIR/$b-create-idem.out"
done
say "topics keep and idem (delete.retention.ms=86400000) and drop (0) created ($(elapsed))"
[[ -f "$DIR/rafka-no-internal-segment-bytes" ]] && say "$(cat "$DIR/rafka-no-internal-segment-bytes")"

# ------------------------------------------------------------ helpers
python3 "$ORACLE_PY" gen 16 3000 100 8 60 v "$DIR/keep.in"
python3 "$ORACLE_PY" gen 17 1500 100 15 60 w "$DIR/drop-1.in"
python3 "$ORACLE_PY" gen 18 0 100 0 80 x "$DIR/drop-2.in"
python3 "$ORACLE_PY" gen-cycle 40 40 a "$DIR/idem-1.in"
python3 "$ORACLE_PY" gen-cycle 200 40 b "$DIR/idem-2.in"
python3 "$ORACLE_PY" gen 19 0 100 0 60 c "$DIR/idem-2.in.tail"
cat "$DIR/idem-2.in.tail" >>"$DIR/idem-2.in"

# produce BROKER TOPIC INPUT [KCAT_ARGS...]: one kcat, one record per batch; fails the
# run unless every record was acknowledged
produce() {
    local b="$1" t="$2" in="$3" out rc
    out="$DIR/$b-$t-$(basename "$in").produce"
    timeout -k 5 60 kcat -P -b "${BOOT[$b]}" -t "$t" -p 0 -K $'\t' -Z \
        -X batch.num.messages=1 -X linger.ms=0 -X acks=all -X enable.idempotence=false \
        -X message.timeout.ms=30000 "${@:4}" <"$in" >"$out" 2>&1
    rc=$?
    if ((rc != 0)) || grep -q 'Delivery failed\|ERROR' "$out"; then
        fail "kcat -P of $in to $t on $b: exit $rc" "$out"
    fi
}

# read_all BROKER TOPIC OUT: the whole partition, "offset<TAB>key<TAB>value" (NULL: null)
read_all() {
    timeout -k 5 30 kcat -C -b "${BOOT[$1]}" -t "$2" -p 0 -o beginning -e -q -Z \
        -f '%o\t%k\t%s\n' >"$3" 2>"$3.err"
}

# active_base BROKER TOPIC: the base offset of the partition's active segment (its
# highest NNNN.log)
active_base() {
    local f
    f="$(cd "${DATA[$1]}/$2-0" 2>/dev/null && ls -1 -- *.log 2>/dev/null | sort | tail -n 1)"
    [[ -n "$f" ]] || { echo -1; return; }
    echo $((10#${f%.log}))
}

# segments BROKER TOPIC: the partition's .log files, base offsets
segments() {
    (cd "${DATA[$1]}/$2-0" 2>/dev/null && ls -1 -- *.log 2>/dev/null | sort | sed 's/\.log$//; s/^0*\([0-9]\)/\1/' | paste -sd' ' -)
}

# wait_compacted BROKER TOPIC TOTAL SECS [--no-tombstones]: until every record up to
# TOTAL-1 reads and nothing is left to clean below the active segment (see oracle.py
# stable); leaves the read in $DIR/BROKER-TOPIC.read and the base in BASE.
wait_compacted() {
    local b="$1" t="$2" total="$3" deadline=$((SECONDS + $4)) last why
    while :; do
        alive "$b"
        BASE="$(active_base "$b" "$t")"
        if read_all "$b" "$t" "$DIR/$b-$t.read"; then
            last="$(tail -n 1 "$DIR/$b-$t.read" | cut -f1)"
            if [[ "$last" == "$((total - 1))" ]]; then
                why="$(python3 "$ORACLE_PY" stable "$DIR/$b-$t.read" "$BASE" "${@:5}")" && return 0
            else
                why="the last offset read is '$last', not $((total - 1))"
            fi
        else
            why="kcat -C failed: $(tail -n 1 "$DIR/$b-$t.read.err")"
        fi
        ((SECONDS < deadline)) || { WHY="$why (active segment at $BASE)"; return 1; }
        sleep 0.5
    done
}

# wait_equal TOPIC SECS: until Rafka reads what Kafka read ($DIR/kafka-TOPIC.read)
wait_equal() {
    local t="$1" deadline=$((SECONDS + $2))
    while :; do
        alive rafka
        read_all rafka "$t" "$DIR/rafka-$t.read" && cmp -s "$DIR/kafka-$t.read" "$DIR/rafka-$t.read" && return 0
        ((SECONDS < deadline)) || return 1
        sleep 0.5
    done
}

# show_diff TOPIC: Kafka's and Rafka's reads side by side, by offset (the first 20
# differences)
show_diff() {
    echo "---- $1: Kafka's read and Rafka's (Kafka's active segment at ${KBASE[$1]}, Rafka's at $(active_base rafka "$1"))"
    python3 "$ORACLE_PY" diff "$DIR/kafka-$1.read" "$DIR/rafka-$1.read"
}

# settle TOPIC TOTAL [--no-tombstones]: Kafka compacted, then Rafka equal to it (both), or
# the one broker compacted; sets KBASE[TOPIC] / RBASE[TOPIC]
declare -A KBASE=() RBASE=()
settle() {
    local t="$1" total="$2" t0=$SECONDS
    if [[ " ${BROKERS[*]} " == *" kafka "* ]]; then
        wait_compacted kafka "$t" "$total" "$WAIT" "${@:3}" \
            || fail "Kafka did not compact $t within ${WAIT}s: $WHY" "$DIR/kafka-$t.read.err"
        KBASE[$t]=$BASE
        say "kafka: $t compacted in $((SECONDS - t0))s: $(grep -c . "$DIR/kafka-$t.read") of $total records left, active segment at $BASE; segments: $(segments kafka "$t")"
    fi
    if [[ " ${BROKERS[*]} " == *" rafka "* ]]; then
        t0=$SECONDS
        if [[ "$TARGET" == both ]]; then
            if wait_equal "$t" "$WAIT"; then
                say "rafka: $t reads the same as Kafka's after $((SECONDS - t0))s"
            else
                problem "rafka: $t does not read what Kafka's does after ${WAIT}s"
                show_diff "$t"
            fi
            RBASE[$t]="$(active_base rafka "$t")"
        else
            if wait_compacted rafka "$t" "$total" "$WAIT" "${@:3}"; then
                say "rafka: $t compacted in $((SECONDS - t0))s"
            else
                problem "Rafka did not compact $t within ${WAIT}s: $WHY" "$DIR/rafka-$t.read.err"
            fi
            RBASE[$t]=$BASE
        fi
        say "rafka: $t: $(grep -c . "$DIR/rafka-$t.read") of $total records left, active segment at ${RBASE[$t]}; segments: $(segments rafka "$t")"
    fi
    if [[ "$TARGET" == both && "${KBASE[$t]}" != "${RBASE[$t]}" ]]; then
        problem "$t: the active segment starts at ${KBASE[$t]} on Kafka, ${RBASE[$t]} on Rafka (the segments rolled at different offsets)"
    fi
}

# model TOPIC BROKER BASE INPUTS... [--no-tombstones]: the model check of one read
model() {
    local t="$1" b="$2" base="$3" out
    shift 3
    if out="$(python3 "$ORACLE_PY" model "$@" --base "$base" --consumed "$DIR/$b-$t.read")"; then
        say "$b: $t: $out"
    else
        problem "$b: $t is not what the model says" 
        echo "$out"
    fi
}

# ------------------------------------------------------------ keep: tombstones stay
T0_MS="$(date +%s%3N)"
KEEP_TOTAL=$(grep -c '' "$DIR/keep.in")
declare -A PPID_OF=()
for b in "${BROKERS[@]}"; do produce "$b" keep "$DIR/keep.in" & PPID_OF[$b]=$!; done
for b in "${BROKERS[@]}"; do wait "${PPID_OF[$b]}" || fail "producing to keep on $b failed"; done
say "keep: $KEEP_TOTAL records produced to ${BROKERS[*]} ($(elapsed))"
settle keep "$KEEP_TOTAL"
for b in "${BROKERS[@]}"; do
    base="${KBASE[keep]:-}"; [[ "$b" == rafka ]] && base="${RBASE[keep]}"
    model keep "$b" "$base" "$DIR/keep.in"
done

# ------------------------------------------------------------ DumpLogSegments
# dump BROKER TOPIC BASE RETENTION_MS: every .log of the partition, and the .index and
# .timeindex of its closed segments, through Kafka's DumpLogSegments; the records in
# $DIR/BROKER-TOPIC.dump.records, the batch headers in $DIR/BROKER-TOPIC.dump.batches
dump() {
    local b="$1" t="$2" retention="$4" files out="$DIR/$1-$2.dump"
    # the active segment's indexes are left out: Kafka's own, preallocated and not yet
    # trimmed, read as "timestamp mismatch" (its last entry is still 0)
    local base="$3"
    files="$(cd "${DATA[$b]}/$t-0" && ls -1 -- *.log *.index *.timeindex 2>/dev/null | sort \
        | awk -v base="$base" '/\.log$/ || $0 + 0 < base' | sed "s|^|${DATA[$b]}/$t-0/|" | paste -sd, -)"
    kafka_tool 60 org.apache.kafka.tools.DumpLogSegments --deep-iteration --print-data-log \
        --files "$files" >"$out" 2>&1 </dev/null
    local rc=$?
    ((rc == 0)) || { problem "$b: DumpLogSegments of $t exited $rc" "$out"; return 1; }
    # not an error: a time index entry for an empty batch (a producer's last, kept by the
    # cleaner) reads as "timestamp mismatch ... log timestamp: -1", DumpLogSegments taking
    # the batch's largest timestamp from its records; Kafka's own files show it too
    awk '/^Found timestamp mismatch in/ { held = $0; next }
         held != "" { if ($0 !~ /^  Index timestamp: [0-9]+, log timestamp: -1$/) { print held; print } held = ""; next }
         { print }' "$out" >"$out.checked"
    if grep -Eiq 'exception|error|mismatch|corrupt|isvalid: false|not found|out of order' "$out.checked"; then
        problem "$b: DumpLogSegments of $t reports a problem"
        grep -Ei -m 10 -A 1 'exception|error|mismatch|corrupt|isvalid: false|not found|out of order' "$out.checked"
        return 1
    fi
    python3 "$ORACLE_PY" dump-records "$out" "$out.batches" >"$out.records" 2>"$out.bad" \
        || { problem "$b: DumpLogSegments of $t printed lines this script does not understand" "$out.bad"; return 1; }
    # the records are what the consumer read
    if ! diff <(cut -f1-3 "$out.records") "$DIR/$b-$t.read" >"$out.vs-read"; then
        problem "$b: DumpLogSegments' records of $t differ from what the consumer read" "$out.vs-read"
    fi
    # KIP-534: below the active segment every tombstone's batch, and no other, has a
    # deleteHorizonMs (all of them went through a cleaning); above, none has one
    local wrong
    wrong="$(awk -F'\t' -v base="$base" '
        ($1 < base && (($3 == "NULL") != ($4 == "horizon"))) || ($1 >= base && $4 == "horizon") { print; n++ }
        END { exit n > 0 }' "$out.records")" \
        || problem "$b: $t: batches with a delete horizon that should not have one, or the other way: $(head -n 5 <<<"$wrong" | paste -sd'|' -)"
    # a horizon is the time of the cleaning that set it plus delete.retention.ms: between
    # the first produce and now
    local now_ms
    now_ms="$(date +%s%3N)"
    wrong="$(awk -F'\t' -v lo="$((T0_MS + retention))" -v hi="$((now_ms + retention))" '
        $3 != "-" && ($3 < lo || $3 > hi) { print $1 " " $3; n++ } END { exit n > 0 }' "$out.batches")" \
        || problem "$b: $t: delete horizons not within [first produce, now] + delete.retention.ms=$retention: $(head -n 5 <<<"$wrong" | paste -sd'|' -)"
    say "$b: DumpLogSegments reads $t's $(grep -c '^Dumping ' "$out") files ($(segments "$b" "$t" | wc -w) segments): $(grep -c . "$out.batches") batches, $(grep -c . "$out.records") records, $(grep -c 'horizon$' "$out.records") with a delete horizon, no error"
}

# dump_all TOPIC RETENTION_MS: dump on each broker; with both, the records and the batch
# headers (but for what differs by nature, see oracle.py dump-records) must be the same
dump_all() {
    local t="$1" b base
    for b in "${BROKERS[@]}"; do
        base="${KBASE[$t]:-}"; [[ "$b" == rafka ]] && base="${RBASE[$t]}"
        dump "$b" "$t" "$base" "$2"
    done
    [[ "$TARGET" == both && -s "$DIR/kafka-$t.dump.records" && -s "$DIR/rafka-$t.dump.records" ]] || return 0
    if python3 "$ORACLE_PY" diff "$DIR/kafka-$t.dump.records" "$DIR/rafka-$t.dump.records" >"$DIR/$t.dump.diff"; then
        say "DumpLogSegments: the same records in both brokers' $t files (offset, key, payload, delete horizon or not)"
    else
        problem "DumpLogSegments: the records in Rafka's $t files differ from those in Kafka's" "$DIR/$t.dump.diff"
    fi
    if python3 "$ORACLE_PY" diff <(cut -f1,2 "$DIR/kafka-$t.dump.batches") <(cut -f1,2 "$DIR/rafka-$t.dump.batches") >"$DIR/$t.dump.batches.diff"; then
        say "DumpLogSegments: the same batch headers in both brokers' $t files (but position, CreateTime, crc, producer id and horizon values)"
    else
        problem "DumpLogSegments: the batch headers in Rafka's $t files differ from those in Kafka's" "$DIR/$t.dump.batches.diff"
    fi
}
dump_all keep 86400000

# ------------------------------------------------------------ drop: tombstones go
D1=$(grep -c '' "$DIR/drop-1.in"); D2=$(grep -c '' "$DIR/drop-2.in"); DROP_TOTAL=$((D1 + D2))
for b in "${BROKERS[@]}"; do produce "$b" drop "$DIR/drop-1.in" & PPID_OF[$b]=$!; done
for b in "${BROKERS[@]}"; do wait "${PPID_OF[$b]}" || fail "producing to drop on $b failed"; done
say "drop: $D1 records produced ($(elapsed))"
# each broker: once its first cleaning of everything below the active segment is done
# (every tombstone there has its delete horizon), the second part, then its cleaning
for b in "${BROKERS[@]}"; do
    t0=$SECONDS
    if wait_compacted "$b" drop "$D1" "$WAIT"; then
        say "$b: drop: the first $D1 compacted after $((SECONDS - t0))s (active segment at $BASE)"
    else
        problem "$b: drop: the first $D1 records not compacted within ${WAIT}s: $WHY"
    fi
    produce "$b" drop "$DIR/drop-2.in"
done
say "drop: $D2 more records produced to ${BROKERS[*]} ($(elapsed))"
settle drop "$DROP_TOTAL" --no-tombstones
for b in "${BROKERS[@]}"; do
    base="${KBASE[drop]:-}"; [[ "$b" == rafka ]] && base="${RBASE[drop]}"
    model drop "$b" "$base" "$DIR/drop-1.in" "$DIR/drop-2.in" --no-tombstones
done

# ------------------------------------------------------------ idem: a producer's last batch
# an idempotent producer's 40 records (keys k000..k039, offsets 0..39), then a plain
# producer's 200 (the same keys five times over) and 60 more: every record of the first
# is superseded, and its last batch (offset 39) stays as an empty batch, so that its
# producer's sequence survives (Kafka's RETAIN_EMPTY)
I1=$(grep -c '' "$DIR/idem-1.in"); IDEM_TOTAL=$((I1 + $(grep -c '' "$DIR/idem-2.in")))
for b in "${BROKERS[@]}"; do
    produce "$b" idem "$DIR/idem-1.in" -X enable.idempotence=true -X max.in.flight=5 & PPID_OF[$b]=$!
done
for b in "${BROKERS[@]}"; do wait "${PPID_OF[$b]}" || fail "producing to idem on $b failed"; done
for b in "${BROKERS[@]}"; do produce "$b" idem "$DIR/idem-2.in" & PPID_OF[$b]=$!; done
for b in "${BROKERS[@]}"; do wait "${PPID_OF[$b]}" || fail "producing to idem on $b failed"; done
say "idem: $I1 records from an idempotent producer, $((IDEM_TOTAL - I1)) from a plain one ($(elapsed))"
settle idem "$IDEM_TOTAL"
for b in "${BROKERS[@]}"; do
    base="${KBASE[idem]:-}"; [[ "$b" == rafka ]] && base="${RBASE[idem]}"
    model idem "$b" "$base" "$DIR/idem-1.in" "$DIR/idem-2.in"
done
dump_all idem 86400000
for b in "${BROKERS[@]}"; do
    [[ -s "$DIR/$b-idem.dump.batches" ]] || continue
    empty="$(grep -E 'count: 0 ' "$DIR/$b-idem.dump.batches" | cut -f1 | paste -sd, -)"
    if [[ "$empty" == $((I1 - 1)) ]] && grep -E "^$((I1 - 1))\s" "$DIR/$b-idem.dump.batches" | grep -q 'producerId: pid'; then
        say "$b: idem: the idempotent producer's last batch stays, empty, at offset $empty"
    else
        grep -E "^($((I1 - 1))|${empty//,/|})\s" "$DIR/$b-idem.dump.batches" >"$DIR/$b-idem.empty"
        problem "$b: idem: empty batches at offsets '${empty}', not just the idempotent producer's last one ($((I1 - 1)))" "$DIR/$b-idem.empty"
    fi
done

# ------------------------------------------------------------ cleaner-offset-checkpoint
# Kafka's file of where each compacted log's dirty part starts: the active segment's base
# once everything below it is cleaned (written after the swap: a few seconds allowed)
for b in "${BROKERS[@]}"; do
    want=""
    for t in drop idem keep; do
        base="${KBASE[$t]:-}"; [[ "$b" == rafka ]] && base="${RBASE[$t]}"
        want+="$t 0 $base"$'\n'
    done
    deadline=$((SECONDS + 5))
    until got="$(tail -n +3 "${DATA[$b]}/cleaner-offset-checkpoint" 2>/dev/null | sort)"; [[ "$got"$'\n' == "$want" ]]; do
        ((SECONDS < deadline)) || break
        sleep 0.5
    done
    if [[ "$got"$'\n' == "$want" ]]; then
        say "$b: cleaner-offset-checkpoint: $(paste -sd, <<<"$got")"
    else
        problem "$b: cleaner-offset-checkpoint has '$(paste -sd, <<<"$got")', not '$(paste -sd, <<<"${want%$'\n'}")'"
    fi
done

# ------------------------------------------------------------ kill -9 and start again
# the cleaned logs as the broker finds them after a crash (no clean shutdown: the
# recovery of segments with offset gaps and empty batches): every topic reads as before.
# With both, Rafka alone (Kafka's restart, about 17 s, only shows the check holds there)
RESTARTED=("${BROKERS[@]}")
[[ "$TARGET" == both ]] && RESTARTED=(rafka)
for b in "${RESTARTED[@]}"; do
    t0=$SECONDS
    kill -KILL "${PID[$b]}" 2>/dev/null
    wait "${PID[$b]}" 2>/dev/null
    launch "$b"
    ready "$b"
    same=()
    for t in keep drop idem; do
        if read_all "$b" "$t" "$DIR/$b-$t.restarted" && cmp -s "$DIR/$b-$t.read" "$DIR/$b-$t.restarted"; then
            same+=("$t")
        else
            python3 "$ORACLE_PY" diff "$DIR/$b-$t.read" "$DIR/$b-$t.restarted" >"$DIR/$b-$t.restarted.diff"
            problem "$b: after kill -9 and a restart $t does not read as before (left: before, right: after)" "$DIR/$b-$t.restarted.diff"
        fi
    done
    say "$b: kill -9, started again in $((SECONDS - t0))s: ${same[*]:-nothing} read as before"
done

# ------------------------------------------------------------ a record without a key
for b in "${BROKERS[@]}"; do
    printf 'no key\n' | timeout -k 5 30 kcat -P -b "${BOOT[$b]}" -t keep -p 0 \
        -X message.timeout.ms=10000 -X acks=all >"$DIR/$b-nokey.out" 2>&1
    read_all "$b" keep "$DIR/$b-keep.after"
    last="$(tail -n 1 "$DIR/$b-keep.after" | cut -f1)"
    if grep -q 'Delivery failed.*validate record\|INVALID_RECORD' "$DIR/$b-nokey.out" && [[ "$last" == "$((KEEP_TOTAL - 1))" ]]; then
        say "$b: a record without a key is refused on keep ($(grep -o 'Broker: [^"]*' "$DIR/$b-nokey.out" | head -n 1)); the last offset stays $last"
    else
        problem "$b: a record without a key on the compacted topic keep: not refused as INVALID_RECORD (last offset now $last)" "$DIR/$b-nokey.out"
    fi
done

if ((${#PROBLEMS[@]})); then
    echo "FAIL: ${#PROBLEMS[@]} check(s) failed ($TARGET, $(elapsed)):"
    printf '  - %s\n' "${PROBLEMS[@]}"
    for b in "${BROKERS[@]}"; do echo "---- $b log, last 10 lines"; tail -n 10 "$DIR/$b.log"; done
    exit 1
fi
echo "PASS ($TARGET, $(elapsed))"
