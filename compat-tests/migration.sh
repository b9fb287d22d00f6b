#!/usr/bin/env bash
# Migration from Apache Kafka 4.x to Rafka (issue #21), Apache Kafka as the oracle: a
# stopped Kafka node's log.dirs handed to Rafka must read back as Kafka read it. Clients
# are confluent-kafka (migration/mig.py) and Kafka's own command-line tools.
#
#   compat-tests/migration.sh [--only STEP[,STEP...]] [--cluster]
#
# Steps:
#   single   a reference Kafka (kafka-ref.sh: one KRaft combined node, node.id 1, fixed
#            ports, offsets.topic.num.partitions=5 so the group placement
#            Utils.abs(hashCode) % 5 matters) in .work/migration/single/kafka. mig.py setup:
#            mig-time (3 partitions, retention.ms=123456789, segment.bytes small enough for
#            a few segments), mig-compact (cleanup.policy=compact, min.compaction.lag.ms a
#            day, so neither broker compacts during the test), mig-codecs (1 partition);
#            records in every codec (none, gzip, snappy, lz4, zstd) with keys, null keys,
#            null values and headers; DeleteRecords mig-time-1 up to 17; group mig-classic
#            (a classic consumer that subscribed, consumed 120 records and committed: a
#            GroupMetadata record; Java hashCode negative, partition 3 of 5, where a plain
#            `hash % 5` would give 2) and group mig-manual (manual commits only). Then an
#            idempotent producer (mig.py idem: enable.idempotence, acks=all, one record
#            every 20 ms to mig-idem, message.timeout.ms 300 s) runs across the switch.
#            Recorded on Kafka: every record of every topic (partition, offset, key, value
#            length and hash, headers, timestamp type and value), topic ids and partition
#            counts (Admin), TopicCommand --describe, ConfigCommand --describe of the
#            topics (dynamic configs), earliest and latest offsets, ConsumerGroupCommand
#            --describe --all-groups (group, topic, partition, current offset, log end
#            offset, lag); TopicCommand without its Configs column, which lists broker-level
#            values Rafka does not describe. Kafka stopped cleanly (kafka-ref.sh stop) with the producer still
#            running; `rafka migrate --check <dir>/data` run on the stopped dir (exit 0 and
#            names the topics); Rafka started on <dir>/data, same port, node id 1. Then each
#            item compared (mig-idem: the records Kafka had are the first ones Rafka has);
#            the producer is told to stop (100 more records), must finish without an error;
#            mig-idem must hold every acknowledged number exactly once, in order.
#            Producer ids: 3 idempotent producers write one record each to mig-pids on
#            Kafka, a 4th gets its id from Kafka but writes only after the switch, after a
#            new idempotent producer on Rafka wrote one: DumpLogSegments of mig-pids-0 must
#            show 5 batches with 5 distinct producer ids (Rafka hands out none Kafka gave).
#            The way back: mig-new made on Rafka (2 partitions, retention.ms and
#            cleanup.policy, 3 records), Rafka stopped, `rafka migrate --to-kafka` on the
#            dir, Kafka started on it: every record, topic id, partition count, dynamic
#            topic config and group row must be what Rafka reported last; a new idempotent
#            producer on Kafka must get an id none of mig-pids-0's 5 batches has.
#   kill9    a reference Kafka, a producer (acks=all, lz4, ~400 records/s) writing to mig-k9 (2 partitions)
#            and a group mig-k9-group with commits; kill -9 Kafka at 3000 acknowledged; the dir
#            copied twice (cp -a). Kafka started on copy A (recovers), Rafka on copy B, the
#            same port: records, earliest/latest offsets and the group's rows must be equal,
#            and every record the producer saw acknowledged must be there.
#   cluster  (only with --cluster) three Kafka KRaft combined nodes (node.id 1-3, fixed
#            ports, offsets.topic.replication.factor=3), a topic with replication factor 3,
#            records, a group with commits; all stopped cleanly; three Rafka nodes started
#            with --config on a server.properties with the same node.id, roles, voters,
#            listeners and log.dirs (the Kafka nodes' own server.properties); then topics,
#            ids, configs, records and group offsets compared as in single (TopicCommand
#            without the leaders, ISRs as sets: they move when Kafka itself restarts).
# Prints PASS/FAIL lines (what was compared), then `migration: N passed, N failed`; exit
# status 0 iff nothing failed. Logs and dirs stay under compat-tests/.work/migration/STEP/
# (wiped at the start of that step). About 2 minutes for the default run.
#
# Environment:
#   RAFKA_BIN=path   the rafka binary (default: target/release/rafka)
#   KAFKA_LIBS=dir   Kafka 4.x jars (default compat-tests/.work/kafka-libs, from setup.sh)
#   MIG_SWITCH_TO=kafka  each step starts Kafka again where it would start Rafka
#                    (no `rafka migrate --check`): every check must pass, else the test
#                    (not Rafka) is wrong
#   MIG_SEGMENT_BYTES  segment.bytes of mig-time and mig-compact (default 1048576, Kafka
#                    4.x's minimum)

# shellcheck disable=SC2317
set -uo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
export KAFKA_LIBS

ALL_STEPS=(single kill9 cluster)
STEPS=(single kill9)
ONLY=""
while (($#)); do
    case "$1" in
        -h|--help) awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"; exit 0 ;;
        --only) [[ $# -ge 2 ]] || { echo "migration.sh: --only needs a step (${ALL_STEPS[*]})" >&2; exit 1; }
                ONLY="$2"; shift 2 ;;
        --only=*) ONLY="${1#--only=}"; shift ;;
        --cluster) STEPS+=(cluster); shift ;;
        *) echo "migration.sh: unknown argument $1 (see --help)" >&2; exit 1 ;;
    esac
done
if [[ -n "$ONLY" ]]; then
    IFS=, read -r -a STEPS <<<"$ONLY"
    for s in "${STEPS[@]}"; do
        [[ " ${ALL_STEPS[*]} " == *" $s "* ]] \
            || { echo "migration.sh: --only $s: not one of ${ALL_STEPS[*]}" >&2; exit 1; }
    done
fi

RAFKA_BIN="${RAFKA_BIN:-$REPO_DIR/target/release/rafka}"
SWITCH_TO="${MIG_SWITCH_TO:-rafka}"
TAKER=Rafka   # in the PASS/FAIL lines: what took over the dir
[[ "$SWITCH_TO" == kafka ]] && TAKER="Kafka (MIG_SWITCH_TO=kafka)"
[[ "$SWITCH_TO" == rafka || "$SWITCH_TO" == kafka ]] || { echo "migration.sh: MIG_SWITCH_TO=$SWITCH_TO: not rafka or kafka" >&2; exit 1; }
MIG_WORK="$WORK_DIR/migration"
MIG_PY="$COMPAT_DIR/migration/mig.py"
SEGMENT_BYTES="${MIG_SEGMENT_BYTES:-1048576}"
mkdir -p "$MIG_WORK"
: >"$MIG_WORK/results"
T_ALL=$SECONDS

say() { printf '== %s\n' "$*"; }
pass() { echo "PASS $STEP_NAME: $*"; echo "PASS $STEP_NAME $*" >>"$MIG_WORK/results"; }
fail() { echo "FAIL $STEP_NAME: $*"; echo "FAIL $STEP_NAME $*" >>"$MIG_WORK/results"; }
check() { if eval "$1"; then pass "$2"; else fail "$2"; fi; }
py() { timeout -k 5 "${PY_SECS:-120}" "$VENV_PY" "$MIG_PY" "$@"; }
tool() { local out="$1"; shift; kafka_tool 60 "$@" >"$out" 2>&1 </dev/null; }
lines() { if [[ -f "$1" ]]; then wc -l <"$1"; else echo 0; fi; }

# ------------------------------------------------------------ brokers
# kafka_start DIR PORT CPORT [PROPS]: a reference Kafka node on DIR (its data in DIR/data).
kafka_start() {
    mkdir -p "$1"
    KAFKA_REF_STATE="$1/kafka.state" KAFKA_REF_DIR="$1" KAFKA_REF_PORT="$2" KAFKA_REF_CONTROLLER_PORT="$3" \
        KAFKA_REF_PROPS="${4:-}" "$COMPAT_DIR/kafka-ref.sh" start >"$1/start.out" 2>&1
}
kafka_stop() { KAFKA_REF_STATE="$1/kafka.state" "$COMPAT_DIR/kafka-ref.sh" stop 2>&1; }
kafka_pid() { sed -n 's/^PID=//p' "$1/kafka.state"; }

# rafka_start NAME DATA PORT [ARGS...]: rafka serve on DATA, Kafka port PORT; sets
# RAFKA_PID; waits (60 s at most) until Metadata lists the broker.
# switch_start NAME KAFKA_DIR PORT CPORT: what takes over the stopped Kafka node's dir: Rafka
# on KAFKA_DIR/data (node id 1; min.insync.replicas=1 as kafka-ref.sh's server.properties
# gives Kafka, TopicCommand lists it), or with MIG_SWITCH_TO=kafka Kafka again (the oracle
# checking itself). switch_stop KAFKA_DIR stops it.
switch_start() {
    if [[ "$SWITCH_TO" == kafka ]]; then
        [[ -f "$2/broker.log" ]] && mv -f "$2/broker.log" "$2/broker.log.1"
        kafka_start "$2" "$3" "$4" "offsets.topic.num.partitions=5" || { tail -n 3 "$2/start.out"; return 1; }
    else
        rafka_start "$1" "$2/data" "$3" --node-id 1 -o min.insync.replicas=1
    fi
}
switch_stop() {
    if [[ "$SWITCH_TO" == kafka ]]; then kafka_stop "$1" >/dev/null; else stop_pid "$RAFKA_PID" 20; fi
}
RAFKA_PIDS=()
rafka_start() {
    local name="$1" data="$2" port="$3"; shift 3
    local log="$MIG_WORK/$STEP_NAME/rafka-$name.log"
    setsid "$RAFKA_BIN" serve --data-dir "$data" --listener "127.0.0.1:$port" \
        --text-listener "127.0.0.1:$(free_port)" --http-listener "" "$@" >"$log" 2>&1 </dev/null &
    RAFKA_PID=$!
    RAFKA_PIDS+=("$RAFKA_PID")
    wait_metadata "$port" "$RAFKA_PID" "$log"
}
rafka_start_config() {
    local name="$1" config="$2" port="$3"
    local log="$MIG_WORK/$STEP_NAME/rafka-$name.log"
    setsid "$RAFKA_BIN" serve --config "$config" --text-listener "127.0.0.1:$(free_port)" --http-listener "" \
        >"$log" 2>&1 </dev/null &
    RAFKA_PID=$!
    RAFKA_PIDS+=("$RAFKA_PID")
}
wait_metadata() {
    local port="$1" pid="$2" log="$3" deadline=$((SECONDS + 60))
    while ((SECONDS < deadline)); do
        kill -0 "$pid" 2>/dev/null || { echo "rafka exited: $(tail -n 3 "$log" | cut -c1-300)"; return 1; }
        timeout 5 kcat -L -b "127.0.0.1:$port" -m 3 2>/dev/null | grep -q "at 127.0.0.1:$port" && return 0
        sleep 0.5
    done
    echo "rafka did not answer Metadata within 60 s"
    return 1
}
# kill_bg PID: a background `py` (a subshell running timeout running python): its children
# (timeout passes the signal on to python), then itself.
kill_bg() {
    kill -0 "$1" 2>/dev/null || return 0
    pkill -TERM -P "$1" 2>/dev/null
    kill "$1" 2>/dev/null
    return 0
}
cleanup() {
    local p
    for p in "${RAFKA_PIDS[@]}"; do stop_pid "$p" 10 >/dev/null 2>&1; done
    for p in "${BG_PIDS[@]}"; do kill_bg "$p"; done
    for s in "$MIG_WORK"/*/kafka.state "$MIG_WORK"/*/*/kafka.state; do
        [[ -f "$s" ]] && KAFKA_REF_STATE="$s" "$COMPAT_DIR/kafka-ref.sh" stop >/dev/null 2>&1
    done
    for s in "$MIG_WORK"/cluster/node*/pid; do
        [[ -f "$s" ]] && stop_pid "$(cat "$s")" 30 >/dev/null 2>&1
    done
}
BG_PIDS=()
trap cleanup EXIT

# ------------------------------------------------------------ what both brokers report
# describe_all BOOTSTRAP OUTPREFIX TOPICS...: the Kafka tools' views, normalized to what must
# be equal: OUT.topics (TopicCommand, without the ELR and Configs columns), OUT.configs (ConfigCommand:
# each topic's dynamic config keys and values), OUT.groups (ConsumerGroupCommand: group,
# topic, partition, current offset, log end offset, lag), sorted; raw outputs in OUT.*.raw.
describe_all() {
    local bs="$1" out="$2"; shift 2
    local re
    re="$(IFS='|'; echo "$*")"
    tool "$out.topics.raw" org.apache.kafka.tools.TopicCommand --bootstrap-server "$bs" --describe --topic "$re"
    # the Configs column left out: Kafka's lists broker-level values too (the cluster default
    # min.insync.replicas Kafka 4 writes at format), which Rafka's DescribeConfigs does not
    # describe (docs/compat.md); the topics' own configs are compared by ConfigCommand
    sed -E 's/[[:space:]]+(Elr|LastKnownElr):[^[:space:]]*//g; s/[[:space:]]+Configs:.*$//; s/[[:space:]]+/ /g; s/ $//' "$out.topics.raw" \
        | grep -E '^ ?Topic:' | sort >"$out.topics"
    tool "$out.configs.raw" kafka.admin.ConfigCommand --bootstrap-server "$bs" --describe --entity-type topics
    awk -v re="^($re)$" '/^Dynamic configs for topic / { t = $5; next }
        /^  / && t ~ re { split($1, kv, "="); print t, $1 }' "$out.configs.raw" | sort >"$out.configs"
    tool "$out.groups.raw" org.apache.kafka.tools.consumer.group.ConsumerGroupCommand --bootstrap-server "$bs" \
        --describe --all-groups
    awk '$1 ~ /^mig-/ && NF >= 6 && $3 ~ /^[0-9]+$/ { print $1, $2, $3, $4, $5, $6 }' "$out.groups.raw" \
        | grep -v '^mig-snapshot-reader\|^mig-idem-reader' | sort >"$out.groups"
}
# same_file WHAT A B: PASS if equal and not empty, FAIL with the diff otherwise.
same_file() {
    local what="$1" a="$2" b="$3"
    if [[ -s "$a" ]] && cmp -s "$a" "$b"; then
        pass "$what equal ($(wc -l <"$a") lines: $(head -c 160 "$a" | tr '\n' ';')...)"
    else
        fail "$what differ ($(wc -l <"$a") vs $(wc -l <"$b") lines; Kafka only: $(diff "$a" "$b" | grep '^<' | head -2 \
            | cut -c3-200 | paste -sd';'); Rafka only: $(diff "$a" "$b" | grep '^>' | head -2 | cut -c3-200 | paste -sd';'))"
    fi
}
# compare_snapshots A B [--prefix TOPIC]: mig.py compare, its lines as PASS/FAIL lines.
compare_snapshots() {
    local line
    while IFS= read -r line; do
        case "$line" in
            PASS\ *) pass "${line#PASS }" ;;
            FAIL\ *) fail "${line#FAIL }" ;;
            *) fail "compare: $line" ;;
        esac
    done < <(py compare "$@" 2>&1)
}
# migrate_check [--cluster] [--config FILE] DATA TOPIC...: `rafka migrate --check ... DATA` (output
# in migrate-check.out): exit 0 and the output names every topic given after DATA.
migrate_check() {
    local flags=() out="$MIG_WORK/$STEP_NAME/migrate-check.out" rc t missing=()
    [[ "$1" == --cluster ]] && { flags+=(--cluster); shift; }
    [[ "$1" == --config ]] && { flags+=(--config "$2"); shift 2; }
    local data="$1"
    shift
    timeout -k 5 60 "$RAFKA_BIN" migrate --check "${flags[@]}" "$data" >"$out" 2>&1 </dev/null
    rc=$?
    if grep -q "unrecognized subcommand 'migrate'" "$out"; then
        fail "rafka migrate --check: this rafka has no migrate command ($(head -n 1 "$out"))"
        return
    fi
    for t in "$@"; do grep -q -- "$t" "$out" || missing+=("$t"); done
    if ((rc == 0 && ${#missing[@]} == 0)); then
        pass "rafka migrate --check exit 0, names $* ($(wc -l <"$out") lines in $out)"
    else
        fail "rafka migrate --check: exit $rc, topics not named: ${missing[*]:-none}; $(tail -n 2 "$out" | tr '\n' ';' | cut -c1-300)"
    fi
}

# ------------------------------------------------------------ single
step_single() {
    local d="$MIG_WORK/single" port cport bs topics=(mig-time mig-compact mig-codecs mig-idem mig-pids)
    port="$(free_port)"; cport="$(free_port)"
    bs="127.0.0.1:$port"
    say "single: Kafka on $bs, dir $d/kafka"
    kafka_start "$d/kafka" "$port" "$cport" "offsets.topic.num.partitions=5" \
        || { fail "Kafka did not start: $(tail -n 3 "$d/kafka/start.out" | tr '\n' ' ')"; return; }
    py setup "$bs" "$SEGMENT_BYTES" >"$d/setup.out" 2>&1 \
        || { fail "setup on Kafka: $(tail -n 3 "$d/setup.out" | tr '\n' ' ')"; kafka_stop "$d/kafka" >/dev/null; return; }
    cat "$d/setup.out"
    py pids "$bs" mig-pids 3 kafka >"$d/pids-kafka.out" 2>&1 || fail "idempotent producers on Kafka: $(tail -n 1 "$d/pids-kafka.out")"
    mkdir -p "$d/idem"
    PY_SECS=600 py idem "$bs" mig-idem "$d/idem" >"$d/idem/out" 2>&1 &
    local idem_pid=$!
    BG_PIDS+=("$idem_pid")
    sleep 2
    py snapshot "$bs" "$d/kafka.json" "${topics[@]}" >"$d/kafka-snapshot.out" 2>&1 \
        || { fail "snapshot on Kafka: $(tail -n 3 "$d/kafka-snapshot.out" | tr '\n' ' ')"; }
    cat "$d/kafka-snapshot.out"
    describe_all "$bs" "$d/kafka" "${topics[@]}"
    # after the idempotent producer got its id: the highest id Kafka gave is one never written
    local acked_before i
    for ((i = 0; i < 100; i++)); do [[ -s "$d/idem/acked" ]] && break; sleep 0.2; done
    mkdir -p "$d/hold"
    PY_SECS=600 py hold "$bs" mig-pids "$d/hold" >"$d/hold/out" 2>&1 &
    local hold_pid=$!
    BG_PIDS+=("$hold_pid")
    for ((i = 0; i < 100; i++)); do [[ -f "$d/hold/ready" ]] && break; sleep 0.2; done
    acked_before="$(wc -l <"$d/idem/acked")"
    say "single: stopping Kafka ($acked_before records acknowledged to the idempotent producer so far)"
    kafka_stop "$d/kafka" >"$d/kafka-stop.out"
    cat "$d/kafka-stop.out"
    local segs
    segs="$(for p in 0 1 2; do printf "%s " "$(find "$d/kafka/data/mig-time-$p" -name "*.log" | wc -l)"; done)"
    say "single: segments of mig-time-0..2 on disk: $segs; group coordinator partitions: mig-classic __consumer_offsets-3, mig-manual __consumer_offsets-0"
    [[ "$SWITCH_TO" == rafka ]] && migrate_check "$d/kafka/data" "${topics[@]}"
    local acked_stopped
    acked_stopped="$(wc -l <"$d/idem/acked")"
    say "single: starting $TAKER on $d/kafka/data, $bs"
    if ! switch_start single "$d/kafka" "$port" "$cport" >"$d/rafka-start.out"; then
        fail "$TAKER did not start on Kafka's log dir: $(cat "$d/rafka-start.out")"
        touch "$d/idem/stop"
        touch "$d/hold/go"
        kill_bg "$idem_pid"; kill_bg "$hold_pid"
        return
    fi
    pass "$TAKER started on Kafka's log dir and answers Metadata"
    # the producer, which kept retrying, gets its first acknowledgements from Rafka
    local deadline=$((SECONDS + 30))
    while ((SECONDS < deadline)) && (($(wc -l <"$d/idem/acked") <= acked_stopped)); do sleep 0.5; done
    touch "$d/idem/stop"
    py snapshot "$bs" "$d/rafka.json" "${topics[@]}" >"$d/rafka-snapshot.out" 2>&1 \
        || fail "snapshot on Rafka: $(tail -n 3 "$d/rafka-snapshot.out" | tr '\n' ' ')"
    [[ -s "$d/kafka.json" && -s "$d/rafka.json" ]] && compare_snapshots "$d/kafka.json" "$d/rafka.json" --prefix mig-idem --prefix mig-pids
    describe_all "$bs" "$d/rafka" "${topics[@]}"
    same_file "TopicCommand --describe (ids, partition counts, configs, leaders)" "$d/kafka.topics" "$d/rafka.topics"
    same_file "ConfigCommand --describe dynamic topic configs" "$d/kafka.configs" "$d/rafka.configs"
    same_file "ConsumerGroupCommand --describe --all-groups rows" "$d/kafka.groups" "$d/rafka.groups"
    local rc
    wait "$idem_pid"; rc=$?
    if ((rc == 0)); then
        pass "idempotent producer finished without an error ($(grep '^idem:' "$d/idem/out"))"
    else
        fail "idempotent producer: exit $rc ($(grep '^idem:' "$d/idem/out"); the leaders and epochs it was told for mig-idem-0, in turn: $(grep -o 'mig-idem \[0\] Leader [0-9-]* Epoch [0-9-]*' "$d/idem/out" | cut -d' ' -f3- | uniq -c | awk '{ print $3 "/" $5 " x" $1 }' | paste -sd' ' | cut -c1-200); errors: $(grep -v 'TRANSPORT\|ALL_BROKERS' "$d/idem/errors" | head -n 2 | paste -sd';' | cut -c1-200))"
    fi
    local line
    line="$(py check-idem "$bs" mig-idem "$d/idem" 2>&1 | tail -n 1)"
    case "$line" in PASS\ *) pass "${line#PASS }" ;; *) fail "${line#FAIL }" ;; esac
    py pids "$bs" mig-pids 1 rafka >"$d/pids-rafka.out" 2>&1 \
        || fail "an idempotent producer on Rafka: $(tail -n 1 "$d/pids-rafka.out")"
    touch "$d/hold/go"
    if wait "$hold_pid"; then
        pass "an idempotent producer that got its id from Kafka had its first record acknowledged by Rafka (that it is in the log: the producer id check below)"
    else
        fail "an idempotent producer that got its id from Kafka, writing its first record to Rafka: $(grep '^hold:' "$d/hold/out")"
    fi
    if [[ "$SWITCH_TO" == rafka ]]; then
        # a topic made on Rafka, with configs and records, for the way back
        tool "$d/mig-new.out" org.apache.kafka.tools.TopicCommand --bootstrap-server "$bs" --create --topic mig-new \
            --partitions 2 --config retention.ms=86400000 --config cleanup.policy=compact \
            || fail "creating mig-new on Rafka: $(tail -n 2 "$d/mig-new.out" | tr '\n' ' ')"
        printf 'a:1\nb:2\nc:3\n' | timeout 30 kcat -P -b "$bs" -t mig-new -K: -p 1 2>>"$d/mig-new.out" \
            || fail "producing to mig-new on Rafka"
        py snapshot "$bs" "$d/rafka-final.json" "${topics[@]}" mig-new >"$d/rafka-final-snapshot.out" 2>&1 \
            || fail "snapshot on Rafka before the way back: $(tail -n 3 "$d/rafka-final-snapshot.out" | tr '\n' ' ')"
        describe_all "$bs" "$d/rafka-final" "${topics[@]}" mig-new
    fi
    switch_stop "$d/kafka" || fail "$TAKER did not stop within 20 s"
    # producer ids (read from the batches): the one Rafka gave must be none of those Kafka
    # gave, not even one Kafka gave to a producer that had not written yet (hold)
    tool "$d/pids.dump" org.apache.kafka.tools.DumpLogSegments --files "$(find "$d/kafka/data/mig-pids-0" -name '*.log' | sort | paste -sd,)"
    local ids n_ids n_unique
    ids="$(grep -o 'producerId: [0-9-]*' "$d/pids.dump" | awk '{ print $2 }')"
    n_ids="$(grep -c . <<<"$ids")"; n_unique="$(sort -u <<<"$ids" | grep -c .)"
    if ((n_ids == 5 && n_unique == 5)); then
        pass "5 batches with 5 distinct producer ids in mig-pids-0 (3 producers on Kafka, 1 on Rafka, then 1 with an id from Kafka: $(paste -sd' ' <<<"$ids"))"
    else
        fail "producer ids in mig-pids-0 (3 producers on Kafka, 1 on Rafka, then 1 with an id from Kafka): $(paste -sd' ' <<<"$ids"): $n_unique distinct in $n_ids batches, 5 expected"
    fi
    [[ "$SWITCH_TO" == rafka ]] && back_to_kafka "$d" "$port" "$cport" "${topics[@]}" mig-new
}

# back_to_kafka DIR PORT CPORT TOPICS...: the way back. `rafka migrate --to-kafka` on the
# log dir Rafka served (and changed: mig-new made there), then Kafka started on it: every
# record, topic id, partition count, topic config and group row must be what Rafka
# reported last; then a new idempotent producer on Kafka must get an id none of the
# batches in mig-pids-0 has (Rafka's ids are in Kafka's metadata).
back_to_kafka() {
    local d="$1" port="$2" cport="$3" bs="127.0.0.1:$2"
    shift 3
    if timeout -k 5 60 "$RAFKA_BIN" migrate --to-kafka "$d/kafka/data" >"$d/to-kafka.out" 2>&1 </dev/null; then
        pass "rafka migrate --to-kafka: $(head -n 1 "$d/to-kafka.out" | cut -c1-200)"
    else
        fail "rafka migrate --to-kafka: exit $? ($(tail -n 2 "$d/to-kafka.out" | tr '\n' ' '))"
        return
    fi
    [[ -f "$d/kafka/broker.log" ]] && mv -f "$d/kafka/broker.log" "$d/kafka/broker.log.rafka-era"
    if ! kafka_start "$d/kafka" "$port" "$cport" "offsets.topic.num.partitions=5"; then
        fail "Kafka did not start on the dir handed back: $(tail -n 3 "$d/kafka/start.out" | tr '\n' ' '); $(grep -m1 -E 'ERROR|Exception' "$d/kafka/broker.log" | cut -c1-300)"
        return
    fi
    pass "Kafka started on the log dir Rafka handed back"
    py snapshot "$bs" "$d/back.json" "$@" >"$d/back-snapshot.out" 2>&1 \
        || fail "snapshot on Kafka after the way back: $(tail -n 3 "$d/back-snapshot.out" | tr '\n' ' ')"
    [[ -s "$d/rafka-final.json" && -s "$d/back.json" ]] && compare_snapshots "$d/rafka-final.json" "$d/back.json"
    describe_all "$bs" "$d/back" "$@"
    same_file "back on Kafka: TopicCommand --describe (ids, partition counts)" "$d/rafka-final.topics" "$d/back.topics"
    same_file "back on Kafka: ConfigCommand dynamic topic configs" "$d/rafka-final.configs" "$d/back.configs"
    same_file "back on Kafka: ConsumerGroupCommand rows" "$d/rafka-final.groups" "$d/back.groups"
    py pids "$bs" mig-pids 1 kafka-again >"$d/pids-back.out" 2>&1 \
        || fail "an idempotent producer on Kafka after the way back: $(tail -n 1 "$d/pids-back.out")"
    kafka_stop "$d/kafka" >/dev/null
    tool "$d/pids-back.dump" org.apache.kafka.tools.DumpLogSegments --files "$(find "$d/kafka/data/mig-pids-0" -name '*.log' | sort | paste -sd,)"
    local ids n_ids n_unique
    ids="$(grep -o 'producerId: [0-9-]*' "$d/pids-back.dump" | awk '{ print $2 }')"
    n_ids="$(grep -c . <<<"$ids")"; n_unique="$(sort -u <<<"$ids" | grep -c .)"
    if ((n_ids == 6 && n_unique == 6)); then
        pass "back on Kafka: a new idempotent producer's id is none Rafka or Kafka gave before (6 distinct in mig-pids-0)"
    else
        fail "back on Kafka: producer ids in mig-pids-0: $(paste -sd' ' <<<"$ids"): $n_unique distinct in $n_ids batches, 6 expected"
    fi
}

# ------------------------------------------------------------ kill9
step_kill9() {
    local d="$MIG_WORK/kill9" port cport bs
    port="$(free_port)"; cport="$(free_port)"
    bs="127.0.0.1:$port"
    say "kill9: Kafka on $bs"
    kafka_start "$d/kafka" "$port" "$cport" "offsets.topic.num.partitions=5" \
        || { fail "Kafka did not start: $(tail -n 3 "$d/kafka/start.out" | tr '\n' ' ')"; return; }
    kafka_tool 60 org.apache.kafka.tools.TopicCommand --bootstrap-server "$bs" --create --topic mig-k9 \
        --partitions 2 --replication-factor 1 >"$d/create.out" 2>&1
    py k9 "$bs" mig-k9 "$d/acked" >"$d/k9.out" 2>&1 &
    local k9_pid=$!
    BG_PIDS+=("$k9_pid")
    local deadline=$((SECONDS + 60))
    while ((SECONDS < deadline)) && (($(lines "$d/acked") < 1500)); do sleep 0.2; done
    py commit "$bs" mig-k9-group mig-k9:0:100 mig-k9:1:250 >"$d/commit.out" 2>&1 \
        || fail "commit on Kafka: $(tail -n 2 "$d/commit.out" | tr '\n' ' ')"
    while ((SECONDS < deadline)) && (($(lines "$d/acked") < 3000)); do sleep 0.1; done
    local kpid
    kpid="$(kafka_pid "$d/kafka")"
    kill -KILL "$kpid"
    say "kill9: Kafka (pid $kpid) killed with $(wc -l <"$d/acked") records acknowledged"
    sleep 1
    touch "$d/acked.stop"
    wait "$k9_pid"
    rm -f "$d/kafka/kafka.state"
    cp -a "$d/kafka" "$d/copyA"; cp -a "$d/kafka" "$d/copyB"
    rm -f "$d/copyA/broker.log" "$d/copyA/kafka.state"
    if kafka_start "$d/copyA" "$port" "$cport" "offsets.topic.num.partitions=5"; then
        py snapshot "$bs" "$d/kafka.json" mig-k9 >"$d/kafka-snapshot.out" 2>&1 \
            || fail "snapshot on Kafka copy A: $(tail -n 2 "$d/kafka-snapshot.out" | tr '\n' ' ')"
        describe_all "$bs" "$d/kafka" mig-k9
        kafka_stop "$d/copyA" >/dev/null
    else
        fail "Kafka did not start on copy A: $(tail -n 3 "$d/copyA/start.out" | tr '\n' ' ')"
    fi
    local out
    if switch_start kill9 "$d/copyB" "$port" "$cport" >"$d/rafka-start.out"; then
        pass "$TAKER started on the kill -9'd Kafka log dir (copy B)"
        py snapshot "$bs" "$d/rafka.json" mig-k9 >"$d/rafka-snapshot.out" 2>&1 \
            || fail "snapshot on Rafka: $(tail -n 2 "$d/rafka-snapshot.out" | tr '\n' ' ')"
        describe_all "$bs" "$d/rafka" mig-k9
        switch_stop "$d/copyB"
    else
        fail "$TAKER did not start on copy B: $(cat "$d/rafka-start.out")"
    fi
    [[ -s "$d/kafka.json" && -s "$d/rafka.json" ]] && compare_snapshots "$d/kafka.json" "$d/rafka.json"
    [[ -s "$d/kafka.groups" ]] || fail "no group rows from Kafka on copy A"
    [[ -f "$d/rafka.groups" ]] && same_file "ConsumerGroupCommand rows of mig-k9-group" "$d/kafka.groups" "$d/rafka.groups"
    local f
    for f in kafka rafka; do
        [[ -s "$d/$f.json" ]] || continue
        local missing
        missing="$(python3 - "$d/acked" "$d/$f.json" <<'PY'
import json, sys
snap = json.load(open(sys.argv[2]))
have = {(int(k.rsplit("-", 1)[1]), r[0]) for k, rs in snap["records"].items() for r in rs}
acked = [tuple(map(int, l.split()[:2])) for l in open(sys.argv[1]) if l.strip()]
print(len(acked), sum(1 for a in acked if a not in have))
PY
)"
        check "[[ '${missing#* }' == 0 ]]" "$f: every acknowledged record present (${missing% *} acknowledged, ${missing#* } missing)"
    done
}

# ------------------------------------------------------------ cluster
# cluster_kafka_start NODEDIR: one Kafka node of the cluster step, its pid in NODEDIR/pid.
cluster_kafka_start() {
    setsid java -Xms64m -Xmx384m -XX:+UseSerialGC -Djava.awt.headless=true \
        -Dlog4j2.configurationFile="$COMPAT_DIR/log4j2.properties" -Dcompat.log.level=INFO \
        -cp "$KAFKA_LIBS/*" kafka.Kafka "$1/server.properties" >"$1/broker.log" 2>&1 </dev/null &
    echo $! >"$1/pid"
}
step_cluster() {
    local d="$MIG_WORK/cluster" f i ports=() cports=() rpids=() voters="" bs cid out
    for i in 1 2 3; do ports[i]="$(free_port)"; cports[i]="$(free_port)"; done
    for i in 1 2 3; do voters+="${voters:+,}$i@127.0.0.1:${cports[i]}"; done
    bs="127.0.0.1:${ports[1]},127.0.0.1:${ports[2]},127.0.0.1:${ports[3]}"
    cid="$(python3 -c 'import base64,uuid
while True:
    s = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
    if not s.startswith("-"): print(s); break')"
    for i in 1 2 3; do
        mkdir -p "$d/node$i/data"
        cat >"$d/node$i/server.properties" <<PROPS
process.roles=broker,controller
node.id=$i
controller.quorum.voters=$voters
listeners=PLAINTEXT://127.0.0.1:${ports[i]},CONTROLLER://127.0.0.1:${cports[i]}
advertised.listeners=PLAINTEXT://127.0.0.1:${ports[i]}
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$d/node$i/data
auto.create.topics.enable=false
offsets.topic.replication.factor=3
offsets.topic.num.partitions=5
transaction.state.log.replication.factor=3
transaction.state.log.min.isr=2
min.insync.replicas=2
group.initial.rebalance.delay.ms=0
num.network.threads=2
num.io.threads=2
PROPS
        kafka_tool 120 kafka.tools.StorageTool format --ignore-formatted -t "$cid" \
            -c "$d/node$i/server.properties" >"$d/node$i/format.log" 2>&1 \
            || { fail "storage format node $i: $(tail -n 2 "$d/node$i/format.log")"; return; }
    done
    for i in 1 2 3; do cluster_kafka_start "$d/node$i"; done
    local deadline=$((SECONDS + 120))
    while ((SECONDS < deadline)); do
        [[ "$(timeout 5 kcat -L -b "$bs" -m 3 2>/dev/null | grep -c 'broker [123] at')" == 3 ]] && break
        sleep 1
    done
    ((SECONDS < deadline)) || { fail "the 3 Kafka nodes did not form a cluster in 120 s"; return; }
    say "cluster: 3 Kafka nodes up on $bs"
    kafka_tool 60 org.apache.kafka.tools.TopicCommand --bootstrap-server "$bs" --create --topic mig-rf3 \
        --partitions 3 --replication-factor 3 --config retention.ms=123456789 --config min.insync.replicas=2 \
        >"$d/create.out" 2>&1 || { fail "create mig-rf3: $(tail -n 2 "$d/create.out")"; return; }
    local recs
    recs="$(for i in $(seq 1 300); do echo "k$((i % 13)):v$i"; done)"
    printf '%s\n' "$recs" | timeout 60 kcat -P -b "$bs" -t mig-rf3 -K: -X acks=all -z zstd 2>"$d/produce.err" \
        || fail "produce to mig-rf3: $(tail -n 2 "$d/produce.err")"
    py commit "$bs" mig-cluster-group mig-rf3:0:10 mig-rf3:1:20 mig-rf3:2:30 >"$d/commit.out" 2>&1 \
        || fail "commit: $(tail -n 2 "$d/commit.out")"
    sleep 2
    py snapshot "$bs" "$d/kafka.json" mig-rf3 >"$d/kafka-snapshot.out" 2>&1 \
        || fail "snapshot on Kafka: $(tail -n 2 "$d/kafka-snapshot.out" | tr '\n' ' ')"
    describe_all "$bs" "$d/kafka" mig-rf3
    # all three at once: the last one alone would wait for a quorum that is gone
    for i in 1 2 3; do kill -TERM "$(cat "$d/node$i/pid")"; done
    for i in 1 2 3; do stop_pid "$(cat "$d/node$i/pid")" 60; rm -f "$d/node$i/pid"; done
    for i in 1 2 3; do
        grep -q "shut down completed" "$d/node$i/broker.log" || say "cluster: node $i: no clean-shutdown message"
    done
    [[ "$SWITCH_TO" == rafka ]] && migrate_check --cluster --config "$d/node1/server.properties" "$d/node1/data" mig-rf3
    for i in 1 2 3; do
        if [[ "$SWITCH_TO" == kafka ]]; then
            mv -f "$d/node$i/broker.log" "$d/node$i/broker.log.1"
            cluster_kafka_start "$d/node$i"
            rpids[i]="$(cat "$d/node$i/pid")"
        else
            # the Kafka node's own server.properties, as an operator would hand it over
            rafka_start_config "node$i" "$d/node$i/server.properties" "${ports[i]}"
            rpids[i]=$RAFKA_PID
        fi
    done
    local ok=0 up=()
    deadline=$((SECONDS + 90))
    while ((SECONDS < deadline && ok < 3)); do
        for i in 1 2 3; do
            [[ -n "${up[i]:-}" ]] && continue
            if ! kill -0 "${rpids[i]}" 2>/dev/null; then
                up[i]=exited; fail "Rafka node $i exited: $(tail -n 2 "$d/rafka-node$i.log" | paste -sd';' | cut -c1-300)"
            elif timeout 5 kcat -L -b "127.0.0.1:${ports[i]}" -m 3 2>/dev/null | grep -q "at 127.0.0.1:${ports[i]}"; then
                up[i]=ok; ok=$((ok + 1))
            fi
        done
        sleep 1
    done
    for i in 1 2 3; do
        [[ -z "${up[i]:-}" ]] && fail "Rafka node $i did not list itself in Metadata within 90 s (kcat -L: $(timeout 5 kcat -L \
            -b "127.0.0.1:${ports[i]}" -m 3 2>&1 | head -n 4 | paste -sd';' | cut -c1-200); last log line: $(tail -n 1 "$d/rafka-node$i.log" | cut -c1-200))"
    done
    ((ok == 3)) || return
    pass "three nodes of $TAKER started on the Kafka nodes' dirs"
    deadline=$((SECONDS + 60))
    while ((SECONDS < deadline)); do
        [[ "$(timeout 5 kcat -L -b "$bs" -m 3 2>/dev/null | grep -c 'broker [123] at')" == 3 ]] && break
        sleep 1
    done
    py snapshot "$bs" "$d/rafka.json" mig-rf3 >"$d/rafka-snapshot.out" 2>&1 \
        || fail "snapshot on Rafka: $(tail -n 2 "$d/rafka-snapshot.out" | tr '\n' ' ')"
    [[ -s "$d/kafka.json" && -s "$d/rafka.json" ]] && compare_snapshots "$d/kafka.json" "$d/rafka.json"
    describe_all "$bs" "$d/rafka" mig-rf3
    # leaders move on a restart (Kafka's own too): the partitions' leaders left out, ISRs as sets
    for f in kafka rafka; do
        python3 -c 'import re, sys
for l in sys.stdin:
    l = re.sub(r" Leader: \S+", "", l)
    print(re.sub(r"Isr: (\S+)", lambda m: "Isr: " + ",".join(sorted(m.group(1).split(","))), l), end="")' \
            <"$d/$f.topics" >"$d/$f.topics.cmp"
    done
    same_file "TopicCommand --describe (leaders left out, ISRs as sets)" "$d/kafka.topics.cmp" "$d/rafka.topics.cmp"
    same_file "ConfigCommand dynamic topic configs" "$d/kafka.configs" "$d/rafka.configs"
    same_file "ConsumerGroupCommand rows" "$d/kafka.groups" "$d/rafka.groups"
    for i in 1 2 3; do kill -TERM "${rpids[i]}" 2>/dev/null; done
    for i in 1 2 3; do stop_pid "${rpids[i]}" 60; done
    rm -f "$d"/node*/pid
}

# ------------------------------------------------------------ run
[[ -x "$RAFKA_BIN" ]] || { echo "migration.sh: no rafka binary at $RAFKA_BIN (RAFKA_BIN)" >&2; exit 1; }
[[ -d "$KAFKA_LIBS" ]] || { echo "migration.sh: Kafka jars missing: run compat-tests/setup.sh" >&2; exit 1; }
[[ -x "$VENV_PY" ]] || { echo "migration.sh: no venv at $VENV_PY: run compat-tests/setup.sh" >&2; exit 1; }
for STEP_NAME in "${STEPS[@]}"; do
    rm -rf "${MIG_WORK:?}/$STEP_NAME"
    mkdir -p "$MIG_WORK/$STEP_NAME"
    t0=$SECONDS
    "step_$STEP_NAME"
    say "$STEP_NAME: $((SECONDS - t0)) s"
done
np="$(grep -c '^PASS' "$MIG_WORK/results")"; nf="$(grep -c '^FAIL' "$MIG_WORK/results")"
echo "migration: $np passed, $nf failed ($((SECONDS - T_ALL)) s)"
((nf == 0))
