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

# cg ARGS...: ConsumerGroupCommand (kafka-consumer-groups.sh) on stdout, its stderr in $ERR.cg.
cg() {
    kafka_tool 60 "$T.consumer.group.ConsumerGroupCommand" --bootstrap-server "$BOOTSTRAP" "$@" 2>"$ERR.cg"
}

# consumer_bg SECONDS OUTFILE ARGS...: a ConsoleConsumer in the background (its pid in
# $BG_PID, a `timeout` that passes SIGTERM on, so the consumer closes cleanly: commit
# and LeaveGroup); stderr in OUTFILE.err.
consumer_bg() {
    local secs="$1" out="$2"; shift 2
    timeout -k 5 "$secs" java "${KAFKA_TOOL_JVM_OPTS[@]}" -Dcompat.log.level=WARN -cp "$KAFKA_LIBS/*" \
        "$T.consumer.ConsoleConsumer" --bootstrap-server "$BOOTSTRAP" --topic "$TOPIC" \
        "${CONSUMER_FMT[@]}" "$@" >"$out" 2>"$out.err" </dev/null &
    BG_PID=$!
}

# has_lines FILE N: FILE has at least N lines.
has_lines() { [[ "$(wc -l <"$1")" -ge "$2" ]]; }

# describe_offsets GROUP: "P:CURRENT:END:LAG " per partition of $TOPIC (sorted), from
# ConsumerGroupCommand --describe.
describe_offsets() {
    cg --describe --group "$1" >"$OUT.describe" || fail "ConsumerGroupCommand --describe exited $? ($(tail -n 1 "$ERR.cg"))"
    awk -v t="$TOPIC" '$2 == t {print $3 ":" $4 ":" $5 ":" $6}' "$OUT.describe" | sort -n | tr '\n' ' '
}

# member_partitions GROUP CLIENT_ID: the partitions of $TOPIC the member with that
# client.id owns ("0,1"), from ConsumerGroupCommand --describe --members --verbose.
member_partitions() {
    cg --describe --group "$1" --members --verbose >"$OUT.members" || return 0
    awk -v c="$2" -v t="$TOPIC" '$4 == c {for (i = 5; i <= NF; i++) if (index($i, t ":") == 1) print substr($i, length(t) + 2)}' \
        "$OUT.members" | head -n 1
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
consumer-group-restart)
    # consumer-group-resume with a broker restart between the two instances
    fixture create-topic "$BOOTSTRAP" "$TOPIC" --partitions 3
    fixture produce-seeded "$BOOTSTRAP" "$TOPIC" --prefix grp --count 30 --spread 3 >/dev/null
    g="$TOPIC-group"
    consume 12 --group "$g" --from-beginning --command-property max.poll.records=1
    mv "$OUT" "$OUT.1"
    restart_broker
    # lost commits would show as duplicates: this instance would start over at offset 0
    consume 18 --group "$g" --from-beginning
    cat "$OUT.1" "$OUT" | check group --prefix grp --count 30 --format java >"$CASE_DIR/verdict" \
        || fail "$(sed 's/^FAIL: //' "$CASE_DIR/verdict")"
    echo "OK: 12 records before the broker restart, the other 18 after it from the committed offsets; $(sed 's/^OK: //' "$CASE_DIR/verdict")"
    ;;
consumer-group-handover|consumer-group-handover-kip848)
    # (the -kip848 case: both consumers with group.protocol=consumer, KIP-848's protocol,
    # their assignment made by the broker's assignor)
    kip=(); [[ "$1" == *-kip848 ]] && kip=(--command-property group.protocol=consumer)
    # Two console consumers (client.id member-a / member-b) split 4 partitions 2+2,
    # seen with ConsumerGroupCommand --describe --members. A reads all of its share;
    # B reads 5 records of its share and leaves cleanly (--max-messages 5 with
    # max.poll.records=1: it commits exactly what it printed). A then owns all 4
    # partitions and reads on from B's committed offsets, then phase 2.
    fixture create-topic "$BOOTSTRAP" "$TOPIC" --partitions 4
    g="$TOPIC-group"
    consumer_bg 100 "$OUT.a" --group "$g" --from-beginning --max-messages 75 --timeout-ms 60000 \
        --command-property client.id=member-a "${kip[@]}"
    apid=$BG_PID
    consumer_bg 80 "$OUT.b" --group "$g" --from-beginning --max-messages 5 --timeout-ms 60000 \
        --command-property client.id=member-b --command-property max.poll.records=1 "${kip[@]}"
    bpid=$BG_PID
    trap 'kill $apid $bpid 2>/dev/null' EXIT
    split() {
        if ! kill -0 "$apid" 2>/dev/null || ! kill -0 "$bpid" 2>/dev/null; then
            fail "a member exited before the split: $(grep -hv '^\s' "$OUT.a.err" "$OUT.b.err" | tail -n 1 | cut -c1-300)"
        fi
        a_parts="$(member_partitions "$g" member-a)"; b_parts="$(member_partitions "$g" member-b)"
        [[ "$a_parts" =~ ^[0-3],[0-3]$ && "$b_parts" =~ ^[0-3],[0-3]$ \
            && "$(tr ',' '\n' <<<"$a_parts,$b_parts" | sort -n | tr '\n' ' ')" == "0 1 2 3 " ]]
    }
    wait_until 45 split || fail "no 2+2 split: $(tr -s ' \n' ' ' <"$OUT.members" | cut -c1-300)"
    fixture produce-handover "$BOOTSTRAP" "$TOPIC" --phase 1 --partitions "$a_parts"
    wait_until 30 has_lines "$OUT.a" 20 || fail "A read $(wc -l <"$OUT.a") of the 20 records of its partitions"
    fixture produce-handover "$BOOTSTRAP" "$TOPIC" --phase 1 --partitions "$b_parts"
    wait "$bpid" || fail "member B exited $? ($(grep -v '^\s' "$OUT.b.err" | tail -n 2 | tr '\n' ' ' | cut -c1-300))"
    [[ "$(wc -l <"$OUT.b")" == 5 ]] || fail "B read $(wc -l <"$OUT.b") records, expected 5"
    all4() { [[ "$(member_partitions "$g" member-a)" == "0,1,2,3" ]]; }
    wait_until 30 all4 || fail "after B left, A does not own all 4 partitions: $(tr -s ' \n' ' ' <"$OUT.members" | cut -c1-300)"
    fixture produce-handover "$BOOTSTRAP" "$TOPIC" --phase 2 --partitions 0,1,2,3
    wait "$apid" || fail "member A exited $? with $(wc -l <"$OUT.a") of 75 records ($(grep -v '^\s' "$OUT.a.err" | tail -n 2 | tr '\n' ' ' | cut -c1-300))"
    trap - EXIT
    [[ "$(wc -l <"$OUT.a")" == 75 ]] || fail "A read $(wc -l <"$OUT.a") records, expected 75"
    # B first: on each partition, what A read after the handover follows what B read
    cat "$OUT.b" "$OUT.a" | check handover --format java >"$CASE_DIR/verdict" || fail "$(sed 's/^FAIL: //' "$CASE_DIR/verdict")"
    echo "OK: split 2+2 (A $a_parts, B $b_parts); B read 5 and left; A took all 4 and read 75: $(sed 's/^OK: //' "$CASE_DIR/verdict")"
    ;;
consumer-groups-admin)
    # kafka-consumer-groups.sh (ConsumerGroupCommand) --list, --describe, --reset-offsets,
    # --delete, checked against what console consumers of the group read.
    fixture create-topic "$BOOTSTRAP" "$TOPIC" --partitions 3
    fixture produce-seeded "$BOOTSTRAP" "$TOPIC" --prefix grp --count 30 --spread 3 >/dev/null
    g="$TOPIC-group"
    # 1. a member reads 12 records and leaves; max.poll.records=1: it commits what it printed
    consume 12 --group "$g" --from-beginning --command-property max.poll.records=1
    mv "$OUT" "$OUT.1"
    # 2. --list names the group
    cg --list >"$OUT.list" || fail "--list exited $? ($(tail -n 1 "$ERR.cg"))"
    grep -qx -- "$g" "$OUT.list" || fail "--list does not name $g: $(tr '\n' ' ' <"$OUT.list" | cut -c1-300)"
    # 3. --describe: per partition the offset after the last record the consumer printed
    #    (0 where it printed none), log end 10, lag = end - current
    want=""
    for p in 0 1 2; do
        last="$(awk -F'\t' -v p="Partition:$p" '$2 == p {split($3, o, ":"); n = o[2]} END {print n == "" ? -1 : n}' "$OUT.1")"
        want+="$p:$((last + 1)):10:$((10 - last - 1)) "
    done
    got="$(describe_offsets "$g")"
    [[ "$got" == "$want" ]] || fail "--describe partition:current:end:lag '$got', expected '$want' from what the consumer read"
    grep -q "has no active members" "$ERR.cg" || fail "--describe did not report an empty group ($(tail -n 1 "$ERR.cg"))"
    # 4. --reset-offsets --to-earliest --execute
    cg --reset-offsets --to-earliest --execute --group "$g" --topic "$TOPIC" >"$OUT.reset" \
        || fail "--reset-offsets exited $? ($(tail -n 1 "$ERR.cg"))"
    reset="$(awk -v t="$TOPIC" '$2 == t {print $3 ":" $4}' "$OUT.reset" | sort -n | tr '\n' ' ')"
    [[ "$reset" == "0:0 1:0 2:0 " ]] || fail "--reset-offsets printed partition:new-offset '$reset', expected 0 for all 3"
    got="$(describe_offsets "$g")"
    [[ "$got" == "0:0:10:10 1:0:10:10 2:0:10:10 " ]] || fail "--describe after the reset: '$got', expected offset 0, lag 10 on all 3"
    # 5. a member with auto.offset.reset=latest reads all 30 records: only the reset
    #    committed offsets can make it start at 0
    consumer_bg 90 "$OUT.2" --group "$g" --timeout-ms 60000 --command-property auto.offset.reset=latest
    cpid=$BG_PID
    trap 'kill $cpid 2>/dev/null' EXIT
    wait_until 40 has_lines "$OUT.2" 30 || fail "the member after the reset read $(wc -l <"$OUT.2") of 30 records"
    check group --prefix grp --count 30 --format java <"$OUT.2" >"$CASE_DIR/verdict" \
        || fail "after the reset: $(sed 's/^FAIL: //' "$CASE_DIR/verdict")"
    # 6. while it is a member: --describe --members shows it with all 3 partitions, and
    #    --delete is refused (NON_EMPTY_GROUP)
    owned="$(member_partitions "$g" console-consumer)"
    [[ "$owned" == "0,1,2" ]] || fail "--describe --members: the active member owns '$owned', expected 0,1,2 ($(tr -s ' \n' ' ' <"$OUT.members" | cut -c1-300))"
    cg --delete --group "$g" >"$OUT.delete" 2>&1
    grep -q "GroupNotEmptyException" "$OUT.delete" || fail "--delete of an active group: $(tr '\n' ' ' <"$OUT.delete" | cut -c1-300)"
    # 7. SIGTERM: the member closes cleanly, committing 10 on each partition
    kill -TERM "$cpid"
    wait "$cpid"
    trap - EXIT
    got="$(describe_offsets "$g")"
    [[ "$got" == "0:10:10:0 1:10:10:0 2:10:10:0 " ]] || fail "--describe after the member closed: '$got', expected offset 10, lag 0 on all 3"
    # 8. --delete; then --list no longer names it and --describe does not find it
    cg --delete --group "$g" >"$OUT.delete" || fail "--delete exited $? ($(tail -n 1 "$ERR.cg"))"
    grep -q "Deletion of requested consumer groups ('$g') was successful" "$OUT.delete" \
        || fail "--delete: $(tr '\n' ' ' <"$OUT.delete" "$ERR.cg" | cut -c1-300)"
    cg --list >"$OUT.list" || fail "--list exited $? ($(tail -n 1 "$ERR.cg"))"
    ! grep -qx -- "$g" "$OUT.list" || fail "--list still names the deleted group"
    cg --describe --group "$g" >"$OUT.describe"
    grep -qE "GroupIdNotFoundException|does not exist" "$OUT.describe" "$ERR.cg" \
        || fail "--describe of the deleted group: $(cat "$OUT.describe" "$ERR.cg" | tr '\n' ' ' | cut -c1-300)"
    echo "OK: --list, --describe (offsets/lag agree with the consumer: ${want% }), --reset-offsets --to-earliest (next member read all 30), --delete refused while active, accepted after; group gone from --list and --describe"
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
cluster-metadata-decoder)
    # Kafka's own decoder of KRaft metadata records (MetadataRecordSerde) reads the
    # __cluster_metadata-0 segment `rafka log write-metadata` wrote: every record decodes,
    # none is skipped, and the fields are the ones written (src/metadata/sample.rs).
    : "${METADATA_DIR:?}"
    log="$(ls "$METADATA_DIR"/*.log 2>/dev/null | head -n 1)"
    [[ -n "$log" ]] || fail "no .log segment in $METADATA_DIR ($(ls "$METADATA_DIR" 2>&1 | tr '\n' ' '))"
    kafka_tool 120 "$T.DumpLogSegments" --cluster-metadata-decoder --files "$log" >"$OUT" 2>"$ERR" \
        || fail "DumpLogSegments --cluster-metadata-decoder exited $? ($(tail -n 2 "$ERR" | tr '\n' ' ' | cut -c1-300))"
    if grep -m1 -E 'Error at|skipping|Exception' "$OUT" >"$CASE_DIR/bad" || grep -q . "$ERR"; then
        fail "a record did not decode: $(cat "$CASE_DIR/bad" "$ERR" | head -c 300)"
    fi
    records="$(grep -c ' payload: {"type":"' "$OUT")"
    [[ "$records" == 19 ]] || fail "expected 19 decoded metadata records, found $records"
    batches="$(grep -cE '^baseOffset: .* partitionLeaderEpoch: 3 isTransactional: false isControl: false ' "$OUT")"
    [[ "$batches" == 6 ]] || fail "expected 6 batches with partition leader epoch 3, found $batches"
    P='payload: \{"type":"'
    expect_grep "$OUT" "$P"'FEATURE_LEVEL_RECORD","version":0,"data":\{"name":"metadata.version","featureLevel":25\}' \
        "no metadata.version FeatureLevelRecord"
    for b in 1 2 3; do
        expect_grep "$OUT" "$P"'REGISTER_BROKER_RECORD","version":3,"data":\{"brokerId":'$b',.*"brokerEpoch":1'$b',"endPoints":\[\{"name":"PLAINTEXT","host":"127.0.0.1","port":909'$((b + 1))',"securityProtocol":0\}\].*"rack":"rack-'$b'","fenced":true' \
            "broker $b's RegisterBrokerRecord not decoded as written"
        expect_grep "$OUT" "$P"'UNFENCE_BROKER_RECORD","version":0,"data":\{"id":'$b',"epoch":1'$b'\}' \
            "broker $b's UnfenceBrokerRecord not decoded as written"
    done
    expect_grep "$OUT" "$P"'TOPIC_RECORD","version":0,"data":\{"name":"orders","topicId":"Wm08Ho8rTXqeAbLD1OX2Bw"\}' \
        "no TopicRecord for orders"
    for p in '0,"topicId":"Wm08Ho8rTXqeAbLD1OX2Bw","replicas":\[1,2,3\],"isr":\[1,2,3\]' \
             '1,"topicId":"Wm08Ho8rTXqeAbLD1OX2Bw","replicas":\[2,3,1\],"isr":\[2,3,1\]' \
             '2,"topicId":"Wm08Ho8rTXqeAbLD1OX2Bw","replicas":\[3,1,2\],"isr":\[3,1,2\],"removingReplicas":\[\],"addingReplicas":\[\],"leader":3,"leaderEpoch":0,"partitionEpoch":0'; do
        expect_grep "$OUT" "$P"'PARTITION_RECORD","version":2,"data":\{"partitionId":'"$p" "a PartitionRecord not decoded as written"
    done
    expect_grep "$OUT" "$P"'CONFIG_RECORD","version":0,"data":\{"resourceType":2,"resourceName":"orders","name":"retention.ms","value":"86400000"\}' \
        "no topic ConfigRecord"
    expect_grep "$OUT" "$P"'CONFIG_RECORD","version":0,"data":\{"resourceType":4,"resourceName":"1","name":"log.cleaner.threads","value":"2"\}' \
        "no broker ConfigRecord"
    expect_grep "$OUT" "$P"'FENCE_BROKER_RECORD","version":0,"data":\{"id":3,"epoch":13\}' "no FenceBrokerRecord"
    expect_grep "$OUT" "$P"'PARTITION_CHANGE_RECORD","version":2,"data":\{"partitionId":2,"topicId":"Wm08Ho8rTXqeAbLD1OX2Bw","isr":\[1,2\],"leader":1\}' \
        "no PartitionChangeRecord"
    expect_grep "$OUT" "$P"'BROKER_REGISTRATION_CHANGE_RECORD","version":2,"data":\{"brokerId":2,"brokerEpoch":12,"inControlledShutdown":1\}' \
        "no BrokerRegistrationChangeRecord"
    expect_grep "$OUT" "$P"'PRODUCER_IDS_RECORD","version":0,"data":\{"brokerId":1,"brokerEpoch":11,"nextProducerId":1000\}' \
        "no ProducerIdsRecord"
    expect_grep "$OUT" "$P"'NO_OP_RECORD","version":0,"data":\{\}' "no NoOpRecord"
    digest="$(grep -oE 'image digest [0-9a-f]{8}' "${WRITE_LOG:-/dev/null}" | head -n 1)"
    echo "OK: $records KRaft records in $batches batches (partition leader epoch 3) decoded by --cluster-metadata-decoder as written, none skipped: 3 brokers, topic orders (3 partitions x 3 replicas), 2 configs, a fence, a partition change, a producer id block; rafka read it back: ${digest:-no digest printed}"
    ;;
quorum-metadata-decoder)
    # The metadata log and snapshot a one-voter openraft quorum wrote (`rafka log
    # write-quorum`): Kafka decodes Raft's control records (KRaftVoters, LeaderChange), the
    # 19 sample records one per batch, and the .checkpoint (SnapshotHeader, KRaftVoters,
    # the image's records, SnapshotFooter), with no error and nothing skipped.
    : "${METADATA_DIR:?}"
    log="$(ls "$METADATA_DIR"/*.log 2>/dev/null | head -n 1)"
    snap="$(ls "$METADATA_DIR"/*.checkpoint 2>/dev/null | tail -n 1)"
    [[ -n "$log" && -n "$snap" ]] || fail "no .log segment or no .checkpoint in $METADATA_DIR ($(ls "$METADATA_DIR" 2>&1 | tr '\n' ' '))"
    kafka_tool 120 "$T.DumpLogSegments" --cluster-metadata-decoder --files "$log" >"$OUT" 2>"$ERR" \
        || fail "DumpLogSegments --cluster-metadata-decoder on the log exited $? ($(tail -n 2 "$ERR" | tr '\n' ' ' | cut -c1-300))"
    kafka_tool 120 "$T.DumpLogSegments" --cluster-metadata-decoder --files "$snap" >"$CASE_DIR/snap" 2>>"$ERR" \
        || fail "DumpLogSegments --cluster-metadata-decoder on the snapshot exited $? ($(tail -n 2 "$ERR" | tr '\n' ' ' | cut -c1-300))"
    if grep -m1 -E 'Error at|skipping|Exception' "$OUT" "$CASE_DIR/snap" >"$CASE_DIR/bad" || grep -q . "$ERR"; then
        fail "a record did not decode: $(cat "$CASE_DIR/bad" "$ERR" | head -c 300)"
    fi
    expect_grep "$OUT" 'KRaftVoters \{"version":0,"voters":\[\{"voterId":1,' "no KRaftVoters control record in the log"
    expect_grep "$OUT" 'LeaderChange: \{"version":0,"leaderId":1,' "no LeaderChange control record naming leader 1"
    records="$(grep -c ' payload: {"type":"' "$OUT")"
    [[ "$records" == 19 ]] || fail "expected the 19 sample records in the log, found $records"
    expect_grep "$OUT" 'payload: \{"type":"TOPIC_RECORD","version":0,"data":\{"name":"orders"' "no TopicRecord for orders in the log"
    expect_grep "$CASE_DIR/snap" '^Snapshot end offset: [0-9]+, epoch: [0-9]+' "no snapshot end offset and epoch"
    expect_grep "$CASE_DIR/snap" 'SnapshotHeader \{"version":0,' "no SnapshotHeader"
    expect_grep "$CASE_DIR/snap" 'SnapshotFooter \{"version":0' "no SnapshotFooter"
    expect_grep "$CASE_DIR/snap" 'KRaftVoters \{"version":0,"voters":\[\{"voterId":1,' "no KRaftVoters in the snapshot"
    snap_records="$(grep -c ' payload: {"type":"' "$CASE_DIR/snap")"
    (( snap_records > 0 )) || fail "no metadata record in the snapshot"
    expect_grep "${WRITE_LOG:-/dev/null}" 'image digest d8effc65' "the quorum's image is not the sample's (digest d8effc65)"
    echo "OK: the quorum's log decoded (KRaftVoters, LeaderChange by leader 1, all 19 records, none skipped) and its snapshot $(basename "$snap") too (header, voters, $snap_records records, footer); image digest d8effc65 as the sample's"
    ;;
offsets-decoder)
    # Every non-empty segment of the target's __consumer_offsets, decoded by Kafka's own
    # record schemas; the consumer-group-resume scenario's group must be among them.
    : "${OFFSETS_DATA_DIR:?}"
    segs=()
    for f in "$OFFSETS_DATA_DIR"/__consumer_offsets-*/*.log; do [[ -s "$f" ]] && segs+=("$f"); done
    (( ${#segs[@]} > 0 )) || fail "no non-empty __consumer_offsets segment under $OFFSETS_DATA_DIR"
    kafka_tool 120 "$T.DumpLogSegments" --offsets-decoder --files "$(IFS=,; echo "${segs[*]}")" >"$OUT" 2>"$ERR" \
        || fail "DumpLogSegments --offsets-decoder exited $? ($(tail -n 2 "$ERR" | tr '\n' ' ' | cut -c1-300))"
    if grep -m1 -E 'Error at offset|skipping|Exception' "$OUT" >"$CASE_DIR/bad" || grep -q . "$ERR"; then
        fail "a record did not decode: $(cat "$CASE_DIR/bad" "$ERR" | head -c 300)"
    fi
    g="consumer-group-resume-kafka-java-group"
    expect_grep "$OUT" "key: \{\"type\":\"[01]\",\"data\":\{\"group\":\"$g\",\"topic\":\"consumer-group-resume-kafka-java\",\"partition\":0\}\} payload: \{\"version\":\"[0-9]+\",\"data\":\{\"offset\":[0-9]+" \
        "no offset commit of $g decoded"
    expect_grep "$OUT" "key: \{\"type\":\"2\",\"data\":\{\"group\":\"$g\"\}\} payload: \{\"version\":\"[0-9]+\",\"data\":\{\"protocolType\":\"consumer\"" \
        "no group metadata of $g decoded"
    commits="$(grep -cE 'key: \{"type":"[01]"' "$OUT")"
    groups="$(grep -cE 'key: \{"type":"2"' "$OUT")"
    echo "OK: ${#segs[@]} segments decoded: $commits offset commits, $groups group metadata records, none skipped; $g found"
    ;;
kafka-written-metadata)
    # `rafka log dump-metadata` decodes the reference broker's own __cluster_metadata-0
    # (Kafka's KRaft records at the versions it writes; types Rafka does not model, such
    # as RegisterControllerRecord, are kept as bytes) and applies it to an image with no
    # record skipped.
    : "${METADATA_DIR:?}" "${RAFKA_BIN:?}" "${KWD_TOPIC:?}"
    [[ -x "$RAFKA_BIN" ]] || fail "no rafka binary at $RAFKA_BIN (build failed?)"
    timeout -k 5 60 "$RAFKA_BIN" log dump-metadata "$METADATA_DIR" >"$OUT" 2>"$ERR" \
        || fail "rafka log dump-metadata exited $? ($(tail -n 2 "$ERR" | tr '\n' ' ' | cut -c1-300))"
    [[ ! -s "$ERR" ]] || fail "rafka log dump-metadata warned: $(head -c 300 "$ERR")"
    expect_grep "$OUT" '^[0-9]+[[:blank:]]FeatureLevelRecord v0[[:blank:]].*name: "metadata.version", feature_level: [0-9]+' \
        "no metadata.version FeatureLevelRecord decoded"
    expect_grep "$OUT" '^[0-9]+[[:blank:]]RegisterBrokerRecord v[0-9]+[[:blank:]].*broker_id: 1, .*name: "PLAINTEXT", host: "127.0.0.1"' \
        "no RegisterBrokerRecord of broker 1 with its PLAINTEXT endpoint decoded"
    tid="$(grep -m1 -oE "TopicRecord \{ name: \"$KWD_TOPIC\", topic_id: [0-9a-f-]+" "$OUT" | sed 's/.*topic_id: //')"
    [[ -n "$tid" ]] || fail "no TopicRecord of $KWD_TOPIC decoded"
    expect_grep "$OUT" "^[0-9]+[[:blank:]]PartitionRecord v[0-9]+[[:blank:]].*partition_id: 0, topic_id: $tid, replicas: \[1\]" \
        "no PartitionRecord of $KWD_TOPIC-0 decoded"
    expect_grep "$OUT" '^image: [0-9]+ records \(0 skipped\), .*[1-9][0-9]* topics' "the image skipped records or has no topic"
    n="$(grep -cE '^[0-9]+[[:blank:]]' "$OUT")"
    types="$(grep -E '^[0-9]+[[:blank:]]' "$OUT" | cut -f2 | sort | uniq -c | awk '{printf "%s%s %s x%s", sep, $2, $3, $1; sep=", "}')"
    echo "OK: all $n records of the reference broker's __cluster_metadata-0 decoded ($types) and applied, none skipped; $(grep -oE 'digest [0-9a-f]+' "$OUT")"
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
