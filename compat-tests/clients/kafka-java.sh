#!/usr/bin/env bash
# Scenario driver for the Apache Kafka 4.x command-line tools, run from the
# jars in compat-tests/.work/kafka-libs (java -cp, one JVM per tool call).
#   usage: kafka-java.sh SCENARIO      env: BOOTSTRAP TOPIC CASE_DIR
#   disk scenarios also need PARTITION_DIR (and RAFKA_BIN for kafka-written-dir).
# The console producer runs with Kafka's defaults (idempotence on, acks=all).
# shellcheck disable=SC2054  # the commas below are inside property values
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib/driver.sh"

OUT="$CASE_DIR/out"
ERR="$CASE_DIR/stderr"
T=org.apache.kafka.tools

# Formatter settings: CreateTime:T<TAB>Partition:P<TAB>Offset:O<TAB>h:v,h:v<TAB>key<TAB>value
CONSUMER_FMT=(--formatter-property print.timestamp=true --formatter-property print.partition=true
    --formatter-property print.offset=true --formatter-property print.headers=true
    --formatter-property print.key=true --formatter-property "key.separator=$(printf '\t')"
    --formatter-property headers.separator=, --formatter-property headers.key.separator=:
    --formatter-property headers.deserializer=org.apache.kafka.common.serialization.StringDeserializer)

# Producer reader settings matching compat.py's "java" input lines: key<TAB>value,
# and with WITH_HEADERS: h:v,h:v<TAB>key<TAB>value
PRODUCER_READER=(--reader-property parse.key=true --reader-property "key.separator=$(printf '\t')")
WITH_HEADERS=(--reader-property parse.headers=true --reader-property "headers.delimiter=$(printf '\t')"
    --reader-property headers.separator=, --reader-property headers.key.separator=:)

# consume N ARGS...: ConsoleConsumer for exactly N records (20 s idle timeout) into $OUT.
consume() {
    local n="$1"; shift
    kafka_tool 60 "$T.consumer.ConsoleConsumer" --bootstrap-server "$BOOTSTRAP" --topic "$TOPIC" \
        --max-messages "$n" --timeout-ms 20000 "${CONSUMER_FMT[@]}" "$@" >"$OUT" 2>"$ERR" \
        || fail "ConsoleConsumer exited $? ($(grep -v '^\s' "$ERR" | tail -n 2 | tr '\n' ' ' | cut -c1-300))"
    # it exits 0 after logging a fatal error: report that error rather than "0 records"
    ! grep -q "^\[[0-9:,]*\] ERROR" "$ERR" \
        || fail "ConsoleConsumer: $(grep -A1 -m1 "^\[[0-9:,]*\] ERROR" "$ERR" | tail -n 1 | cut -c1-300)"
}

# consume_all ARGS...: every record of every partition, read without a consumer group
# (groups have their own scenario, consumer-group-resume): GetOffsetShell gives each
# partition's end, then one ConsoleConsumer per partition reads exactly that many.
consume_all() {
    kafka_tool 60 "$T.GetOffsetShell" --bootstrap-server "$BOOTSTRAP" --topic "$TOPIC" --time -1 \
        >"$CASE_DIR/ends" 2>"$ERR" || fail "GetOffsetShell --time -1 exited $? ($(tail -n 1 "$ERR"))"
    : >"$CASE_DIR/all"
    local _topic p end
    while IFS=: read -r _topic p end; do
        [[ "$end" =~ ^[0-9]+$ ]] || fail "GetOffsetShell printed: $_topic:$p:$end"
        (( end > 0 )) || continue
        consume "$end" --partition "$p" --offset earliest "$@"
        cat "$OUT" >>"$CASE_DIR/all"
    done <"$CASE_DIR/ends"
    mv "$CASE_DIR/all" "$OUT"
}

# produce KIND ARGS...: generated lines of KIND into the ConsoleProducer.
produce() {
    local kind="$1"; shift
    gen "$kind" java >"$CASE_DIR/in" || fail "gen $kind"
    kafka_tool 120 "$T.ConsoleProducer" --bootstrap-server "$BOOTSTRAP" --topic "$TOPIC" \
        "${PRODUCER_READER[@]}" "$@" <"$CASE_DIR/in" >/dev/null 2>"$ERR.produce"
    local rc=$?
    # an ERROR line (and the exception under it) explains a failure best
    ! grep -q "^\[[0-9:,]*\] ERROR" "$ERR.produce" \
        || fail "ConsoleProducer: $(grep -A1 -m1 "^\[[0-9:,]*\] ERROR" "$ERR.produce" | tr '\n' ' ' | cut -c1-300)"
    [[ $rc == 0 ]] || fail "ConsoleProducer exited $rc ($(tail -n 2 "$ERR.produce" | tr '\n' ' '))"
}

# offset_for TIME: GetOffsetShell's answer for partition 0 ("" when there is none).
offset_for() {
    kafka_tool 60 "$T.GetOffsetShell" --bootstrap-server "$BOOTSTRAP" --topic "$TOPIC" \
        --partitions 0 --time "$1" >"$OUT" 2>"$ERR" || fail "GetOffsetShell --time $1 exited $? ($(tail -n 1 "$ERR"))"
    grep -v "^$TOPIC:0:[0-9]*$" "$OUT" | grep -q . && fail "GetOffsetShell printed unexpected lines: $(head -c 200 "$OUT")"
    sed -n "s/^$TOPIC:0:\([0-9]*\)$/\1/p" "$OUT"
}

# topics ARGS...: TopicCommand; a failure ends the scenario with the tool's error.
topics() {
    kafka_tool 60 "$T.TopicCommand" --bootstrap-server "$BOOTSTRAP" "$@" 2>"$ERR" && return 0
    local rc=$?
    fail "TopicCommand $1 exited $rc: $(grep -m1 -E 'ERROR|Error|Exception' "$ERR" | cut -c1-300)"
}

case "$1" in
metadata-brokers)
    fixture create-topic "$BOOTSTRAP" "$TOPIC" --partitions 2
    kafka_tool 60 "$T.BrokerApiVersionsCommand" --bootstrap-server "$BOOTSTRAP" >"$OUT" 2>"$ERR" \
        || fail "BrokerApiVersionsCommand exited $? ($(tail -n 1 "$ERR"))"
    brokers="$(grep -c '^[^ 	].* (id: ' "$OUT")"
    [[ "$brokers" == 1 ]] || fail "BrokerApiVersionsCommand listed $brokers brokers: $(grep '(id: ' "$OUT")"
    expect_grep "$OUT" "^$BOOTSTRAP \(id: [0-9]+ " "broker not reported as $BOOTSTRAP (id: N ...)"
    id="$(sed -n "s/^$BOOTSTRAP (id: \([0-9]*\) .*/\1/p" "$OUT")"
    expect_grep "$OUT" "Metadata\(3\): [0-9]+ to [0-9]+" "no Metadata API version range"
    topics --describe --topic "$TOPIC" >"$OUT"
    [[ "$(grep -c "Partition: [01]	Leader: $id	" "$OUT")" == 2 ]] \
        || fail "partitions not both led by broker $id: $(tr '\n' ' ' <"$OUT" | cut -c1-300)"
    echo "OK: broker id $id at $BOOTSTRAP (API versions listed) leads both partitions"
    ;;
topic-admin)
    topics --create --topic "$TOPIC" --partitions 3 --replication-factor 1 --config retention.ms=3600000 >"$OUT"
    expect_grep "$OUT" "Created topic $TOPIC\." "no 'Created topic' confirmation"
    topics --list >"$OUT"
    expect_grep "$OUT" "^$TOPIC$" "created topic not listed"
    topics --describe --topic "$TOPIC" >"$OUT"
    expect_grep "$OUT" "PartitionCount: 3	ReplicationFactor: 1	Configs: .*retention.ms=3600000" "describe header wrong"
    for p in 0 1 2; do expect_grep "$OUT" "Partition: $p	Leader: [0-9]+	" "partition $p has no leader"; done
    topics --delete --topic "$TOPIC" >"$OUT"
    for attempt in 1 2 3 4 5; do
        topics --list >"$OUT"
        grep -q "^$TOPIC$" "$OUT" || break
        [[ $attempt == 5 ]] && fail "deleted topic still listed"
        sleep 1
    done
    echo "OK: created, listed, described (3 partitions, retention.ms), deleted"
    ;;
roundtrip-10k)
    fixture create-topic "$BOOTSTRAP" "$TOPIC" --partitions 3
    produce roundtrip "${WITH_HEADERS[@]}"
    consume_all
    check roundtrip --format java --client java <"$OUT"
    ;;
compression-*)
    codec="${1#compression-}"
    fixture create-topic "$BOOTSTRAP" "$TOPIC"
    produce compression --compression-codec "$codec"
    consume 500 --partition 0 --offset earliest
    check compression --format java --client java <"$OUT"
    ;;
consume-from-beginning)
    fixture create-topic "$BOOTSTRAP" "$TOPIC"
    ts="$(fixture produce-seeded "$BOOTSTRAP" "$TOPIC" --prefix cf)"
    consume 10 --partition 0 --offset earliest
    check seeded --prefix cf --ts-base "$ts" --format java <"$OUT"
    ;;
consume-from-end)
    fixture create-topic "$BOOTSTRAP" "$TOPIC"
    fixture produce-seeded "$BOOTSTRAP" "$TOPIC" --prefix cf >/dev/null
    consume 2 --partition 0 --offset latest &
    pid=$!
    fixture produce-markers "$BOOTSTRAP" "$TOPIC" --stop-pid "$pid" --max-seconds 40
    wait "$pid" || exit 1
    check late --format java <"$OUT"
    ;;
consume-from-offset)
    fixture create-topic "$BOOTSTRAP" "$TOPIC"
    ts="$(fixture produce-seeded "$BOOTSTRAP" "$TOPIC" --prefix cf)"
    consume 5 --partition 0 --offset 5
    check seeded --prefix cf --first 5 --count 5 --ts-base "$ts" --format java <"$OUT"
    ;;
consume-from-timestamp)
    # The console consumer cannot start at a time: look the offset up with
    # GetOffsetShell --time, then consume from it.
    fixture create-topic "$BOOTSTRAP" "$TOPIC"
    ts="$(fixture produce-seeded "$BOOTSTRAP" "$TOPIC" --prefix cf)"
    off="$(offset_for $((ts + 5000)))"
    [[ "$off" == 5 ]] || fail "GetOffsetShell --time (record #5's timestamp) gave '$off', expected 5"
    consume 5 --partition 0 --offset "$off"
    check seeded --prefix cf --first 5 --count 5 --ts-base "$ts" --format java <"$OUT"
    ;;
list-offsets)
    fixture create-topic "$BOOTSTRAP" "$TOPIC"
    ts="$(fixture produce-seeded "$BOOTSTRAP" "$TOPIC" --prefix cf)"
    got=""
    for q in "-2 0 earliest" "-1 10 latest" "$((ts + 5000)) 5 time-of-#5" \
             "$((ts + 5500)) 6 time-between-#5-#6" "$((ts + 60000)) none time-after-last"; do
        read -r t want name <<<"$q"
        off="$(offset_for "$t")"
        [[ "${off:-none}" == "$want" ]] || fail "GetOffsetShell --time $t ($name) gave '${off:-none}', expected $want"
        got+="$name=${off:-none} "
    done
    echo "OK: $got"
    ;;
large-record-1mib)
    fixture create-topic "$BOOTSTRAP" "$TOPIC" --config max.message.bytes=2097152
    produce large --command-property max.request.size=2097152
    consume 1 --partition 0 --offset earliest --command-property fetch.max.bytes=4194304
    check large --format java --client java <"$OUT"
    ;;
record-too-large)
    fixture create-topic "$BOOTSTRAP" "$TOPIC" --config max.message.bytes=10000
    { head -c 20000 /dev/zero | tr '\0' x; echo; } >"$CASE_DIR/in"
    kafka_tool 60 "$T.ConsoleProducer" --bootstrap-server "$BOOTSTRAP" --topic "$TOPIC" \
        --command-property retries=0 <"$CASE_DIR/in" >"$OUT" 2>"$ERR.produce"
    expect_grep "$ERR.produce" "RecordTooLargeException" "no RecordTooLargeException reported by the producer"
    off="$(offset_for -1)"
    [[ "$off" == 0 ]] || fail "latest offset after the rejected record is '$off', expected 0"
    echo "OK: $(grep -m1 -o 'RecordTooLargeException.*' "$ERR.produce" | cut -c1-120); latest offset still 0"
    ;;
unknown-topic)
    echo "nobody home" >"$CASE_DIR/in"
    kafka_tool 60 "$T.ConsoleProducer" --bootstrap-server "$BOOTSTRAP" --topic "$TOPIC" \
        --command-property max.block.ms=4000 <"$CASE_DIR/in" >"$OUT" 2>"$ERR.produce"
    expect_grep "$ERR.produce" "$TOPIC=UNKNOWN_TOPIC_OR_PARTITION" "producer metadata did not report UNKNOWN_TOPIC_OR_PARTITION"
    expect_grep "$ERR.produce" "Error when sending message to topic $TOPIC" "send did not fail"
    topics --list >"$OUT"
    ! grep -q "^$TOPIC$" "$OUT" || fail "the missing topic got created"
    echo "OK: metadata reported $TOPIC=UNKNOWN_TOPIC_OR_PARTITION, send failed ($(grep -m1 -o 'TimeoutException: [^.]*' "$ERR.produce")); topic not created"
    ;;
offset-out-of-range)
    fixture create-topic "$BOOTSTRAP" "$TOPIC"
    fixture produce-seeded "$BOOTSTRAP" "$TOPIC" --prefix cf --count 5 >/dev/null
    consume 5 --partition 0 --offset 100 --command-property auto.offset.reset=earliest
    check seeded --prefix cf --count 5 --format java <"$OUT"
    ;;
consumer-group-resume)
    fixture create-topic "$BOOTSTRAP" "$TOPIC" --partitions 3
    fixture produce-seeded "$BOOTSTRAP" "$TOPIC" --prefix grp --count 30 --spread 3 >/dev/null
    g="$TOPIC-group"
    # max.poll.records=1: the offsets committed on close are exactly the records printed.
    consume 12 --group "$g" --from-beginning --command-property max.poll.records=1
    mv "$OUT" "$OUT.1"
    kafka_tool 60 "$T.consumer.group.ConsumerGroupCommand" --bootstrap-server "$BOOTSTRAP" --describe --group "$g" \
        >"$OUT.describe" 2>"$ERR" || fail "ConsumerGroupCommand --describe exited $? ($(tail -n 1 "$ERR"))"
    sums="$(awk -v t="$TOPIC" '$2 == t {c += $4; l += $6; n++} END {print n+0, c+0, l+0}' "$OUT.describe")"
    [[ "$sums" == "3 12 18" ]] || fail "ConsumerGroupCommand: partitions/committed/lag = '$sums', expected '3 12 18' ($(tr '\n' ' ' <"$OUT.describe" | tr -s ' ' | cut -c1-300))"
    consume 18 --group "$g" --from-beginning
    cat "$OUT.1" "$OUT" | check group --prefix grp --count 30 --format java
    ;;
idempotent-default-producer)
    fixture create-topic "$BOOTSTRAP" "$TOPIC"
    # INFO logging shows the producer's effective config and its ProducerId.
    KAFKA_TOOL_LOG_LEVEL=INFO produce idempotent
    expect_grep "$ERR.produce" "enable.idempotence = true" "the producer did not run with enable.idempotence = true"
    expect_grep "$ERR.produce" "	acks = (-1|all)$" "the producer did not run with acks=all"
    expect_grep "$ERR.produce" "ProducerId set to [0-9]+ with epoch [0-9]+" "the producer never got a ProducerId (InitProducerId)"
    pid="$(grep -m1 -o 'ProducerId set to [0-9]* with epoch [0-9]*' "$ERR.produce")"
    consume 100 --partition 0 --offset earliest
    check idempotent --format java --client java <"$OUT" >"$CASE_DIR/verdict" || fail "$(sed 's/^FAIL: //' "$CASE_DIR/verdict")"
    echo "OK: default console producer (idempotence on, acks=-1; $pid): $(sed 's/^OK: //' "$CASE_DIR/verdict")"
    ;;
dumplogsegments)
    : "${PARTITION_DIR:?}"
    log="$(ls "$PARTITION_DIR"/*.log 2>/dev/null | head -n 1)"
    [[ -n "$log" ]] || fail "no .log segment in $PARTITION_DIR ($(ls "$PARTITION_DIR" 2>&1 | tr '\n' ' '))"
    base="${log%.log}"
    for f in "$base.index" "$base.timeindex"; do [[ -f "$f" ]] || fail "missing $(basename "$f")"; done
    nseg="$(ls "$PARTITION_DIR"/*.log | wc -l)"
    [[ "$nseg" == 1 ]] || fail "expected 1 segment, found $nseg"
    kafka_tool 120 "$T.DumpLogSegments" --deep-iteration --print-data-log \
        --files "$log,$base.index,$base.timeindex" >"$OUT" 2>"$ERR" || fail "DumpLogSegments exited $? ($(tail -n 2 "$ERR" | tr '\n' ' '))"
    [[ ! -s "$ERR" ]] || fail "DumpLogSegments wrote to stderr: $(head -c 300 "$ERR")"
    entries="$(grep -c '^offset: [0-9]* position: [0-9]*$' "$OUT")"
    (( entries >= 3 )) || fail "the offset index has $entries entries, expected several"
    check dls <"$OUT" >"$CASE_DIR/dls.verdict" || fail "$(sed 's/^FAIL: //' "$CASE_DIR/dls.verdict")"
    kafka_tool 60 "$T.DumpLogSegments" --index-sanity-check --files "$base.index,$base.timeindex" >"$OUT" 2>"$ERR" \
        || fail "DumpLogSegments --index-sanity-check exited $?"
    [[ "$(grep -c 'passed sanity check' "$OUT")" == 2 ]] || fail "index sanity check: $(tr '\n' ' ' <"$OUT" | cut -c1-300)"
    # The broker's producer state snapshot (Kafka's .snapshot format) of the topic the
    # idempotent console producer wrote, when that scenario ran: 100 records, so the last
    # sequence is 99.
    snap_note=""
    snap="$(ls "${SNAPSHOT_DIR:-/nonexistent}"/*.snapshot 2>/dev/null | tail -n 1)"
    if [[ -n "$snap" ]]; then
        kafka_tool 60 "$T.DumpLogSegments" --files "$snap" >"$OUT" 2>"$ERR" \
            || fail "DumpLogSegments on $(basename "$snap") exited $? ($(tail -n 2 "$ERR" | tr '\n' ' '))"
        expect_grep "$OUT" "producerId: [0-9]+ producerEpoch: 0 .*lastSequence: 99" \
            "DumpLogSegments did not show the idempotent producer in $(basename "$snap")"
        snap_note="; producer snapshot $(basename "$snap") decoded ($(grep -oE 'producerId: [0-9]+' "$OUT" | head -n 1))"
    fi
    echo "OK: $(sed 's/^OK: //' "$CASE_DIR/dls.verdict"); $entries offset-index entries verified; both indexes pass the sanity check$snap_note"
    ;;
kafka-written-dir)
    : "${PARTITION_DIR:?}" "${RAFKA_BIN:?}"
    [[ -x "$RAFKA_BIN" ]] || fail "no rafka binary at $RAFKA_BIN (build failed?)"
    timeout -k 5 60 "$RAFKA_BIN" log dump "$PARTITION_DIR" >"$OUT" 2>"$ERR" \
        || fail "rafka log dump exited $? ($(tail -n 2 "$ERR" | tr '\n' ' ' | cut -c1-300))"
    check rafka-dump <"$OUT"
    ;;
*)
    fail "scenario $1 not implemented by the kafka-java driver"
    ;;
esac
