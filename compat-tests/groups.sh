#!/usr/bin/env bash
# KIP-848 consumer groups with Kafka's Java client (kafka-clients 4.x,
# group.protocol=consumer), Apache Kafka as the oracle: the same steps against a Rafka
# broker and an Apache Kafka 4.x broker, each step must pass on both. Builds nothing but
# compat-tests/groups/GroupScenarios.java (javac, into compat-tests/.work/groups/classes).
#
#   compat-tests/groups.sh [--target rafka|kafka|both]      (default both; in CI)
#
# Both brokers run with group.consumer.session.timeout.ms=6000 and
# group.consumer.heartbeat.interval.ms=1000 (their minimums lowered to those), so a
# killed member is fenced in seconds. The steps (GroupScenarios.java):
#   scale   one member reads a 6-partition topic; three more join (each then owns one or
#           two partitions); the three close (the first owns all six again); records
#           produced at each stage, every one read exactly once (commits after each poll
#           and on revocation)
#   crash   a second member in another JVM takes two of four partitions and is killed
#           with SIGKILL: after its session the survivor owns all four and reads what
#           was produced after the kill
#   regex   subscribe(SubscriptionPattern "<prefix>-.*"), resolved by the broker, reads
#           the matching topic, then a matching topic created after the join, never
#           "<prefix>x-other"
#   switch  classic, then consumer, then classic members of one group, one after the
#           other: each resumes at the offsets the previous one committed
#   migrate two classic members (cooperative-sticky) share four partitions; a consumer-
#           protocol member joins: the group becomes a consumer group online, the classic
#           members in it (Admin reports type Consumer) and the three share the
#           partitions; it leaves: the group is classic again and the two share them;
#           records produced at each stage each read exactly once
#   dump    (Rafka only, once it is stopped) Kafka's DumpLogSegments --offsets-decoder
#           reads every __consumer_offsets segment Rafka wrote: the KIP-848 records
#           (key types 3, 5, 6, 7, 8) decode in Kafka's schemas, none fails
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
TARGET=both
[[ "${1:-}" == --target ]] && TARGET="$2"
[[ "${1:-}" == --target=* ]] && TARGET="${1#--target=}"
case "$TARGET" in rafka|kafka|both) ;; *) echo "groups.sh: --target rafka, kafka or both" >&2; exit 2 ;; esac

RAFKA="${RAFKA_BIN:-$REPO_DIR/target/release/rafka}"
G_WORK="$WORK_DIR/groups"
CLASSES="$G_WORK/classes"
STEPS=(scale crash regex switch migrate)
PROPS="group.consumer.session.timeout.ms=6000
group.consumer.min.session.timeout.ms=6000
group.consumer.heartbeat.interval.ms=1000
group.consumer.min.heartbeat.interval.ms=1000
group.initial.rebalance.delay.ms=0"
JVM=(-Xmx256m -XX:TieredStopAtLevel=1 -Djava.awt.headless=true
    "-Dlog4j2.configurationFile=$COMPAT_DIR/log4j2.properties" -Dcompat.log.level=WARN)

mkdir -p "$G_WORK"
compile() {
    local sum src="$COMPAT_DIR/groups/GroupScenarios.java"
    sum="$(sha256sum <"$src" | cut -c1-16)"
    [[ -f "$CLASSES/.sum" && "$(cat "$CLASSES/.sum")" == "$sum" ]] && return 0
    rm -rf "$CLASSES" && mkdir -p "$CLASSES"
    javac -Xlint:-options -nowarn -d "$CLASSES" -cp "$KAFKA_LIBS/*" "$src" >"$G_WORK/javac.log" 2>&1 \
        || { cat "$G_WORK/javac.log"; return 1; }
    echo "$sum" >"$CLASSES/.sum"
}
compile || { echo "FAIL: javac"; exit 1; }

STATE=""
start() { # start TARGET: sets BOOTSTRAP
    local t="$1" out
    STATE="$G_WORK/$t.state"
    rm -rf "$G_WORK/$t"
    mkdir -p "$G_WORK/$t"
    if [[ $t == rafka ]]; then
        local args=() line
        while IFS= read -r line; do args+=(-o "$line"); done <<<"$PROPS"
        out="$(RAFKA_SERVE_STATE="$STATE" RAFKA_BIN="$RAFKA" RAFKA_SERVE_DATA="$G_WORK/$t/data" \
            RAFKA_SERVE_LOG="$G_WORK/$t/broker.log" RAFKA_SERVE_ARGS="${args[*]}" \
            "$COMPAT_DIR/lib/rafka-serve.sh" start 2>"$G_WORK/$t/start.err")" || return 1
    else
        out="$(KAFKA_REF_STATE="$STATE" KAFKA_REF_DIR="$G_WORK/$t/kafka" KAFKA_REF_PROPS="$PROPS" \
            "$COMPAT_DIR/kafka-ref.sh" start 2>"$G_WORK/$t/start.err")" || return 1
    fi
    BOOTSTRAP="$(tail -n 1 <<<"$out")"
}
stop() {
    [[ -f "$STATE" ]] || return 0
    if [[ $1 == rafka ]]; then RAFKA_SERVE_STATE="$STATE" "$COMPAT_DIR/lib/rafka-serve.sh" stop >/dev/null 2>&1
    else KAFKA_REF_STATE="$STATE" "$COMPAT_DIR/kafka-ref.sh" stop >/dev/null 2>&1; fi
}

declare -A RESULT
fails=0

# Kafka's decoder over what Rafka wrote (the broker stopped)
dump_check() {
    local out="$G_WORK/rafka/dump.txt" types bad
    local files
    files="$(find "$G_WORK"/rafka/data/__consumer_offsets-* -name '*.log' -size +0 | paste -sd,)"
    kafka_tool 120 org.apache.kafka.tools.DumpLogSegments --offsets-decoder --files "$files" >"$out" 2>&1 \
        || { RESULT[rafka.dump]=FAIL; fails=$((fails + 1)); echo "FAIL rafka dump: DumpLogSegments exited $?"; return; }
    types="$(grep -o 'key: {"type":"[0-9]*"' "$out" | grep -o '[0-9]*' | sort -un | tr '\n' ' ')"
    bad="$(grep -m1 -iE 'exception|error|unknown|could not' "$out" | cut -c1-200)"
    local missing="" k
    for k in 3 5 6 7 8; do [[ " $types" == *" $k "* ]] || missing+=" $k"; done
    if [[ -z "$missing" && -z "$bad" ]]; then
        RESULT[rafka.dump]=PASS
        echo "PASS rafka dump: DumpLogSegments decoded $(grep -c 'key: {"type":"[3-8]"' "$out") KIP-848 records (key types ${types% })"
    else
        RESULT[rafka.dump]=FAIL
        fails=$((fails + 1))
        echo "FAIL rafka dump: key types '${types% }', missing:${missing:- none}${bad:+; $bad}"
    fi
}
for t in rafka kafka; do
    [[ $TARGET == both || $TARGET == "$t" ]] || continue
    if ! start "$t"; then
        echo "FAIL $t did not start: $(tail -n 2 "$G_WORK/$t/start.err")"; fails=$((fails + 1)); stop "$t"; continue
    fi
    trap 'stop '"$t" EXIT
    for s in "${STEPS[@]}"; do
        args=("$BOOTSTRAP" "g-$s" "g-$s-group")
        [[ $s == regex ]] && args=("$BOOTSTRAP" "g-re" "g-re-group")
        [[ $s == crash ]] && args+=("$CLASSES:$KAFKA_LIBS/*")
        t0=$SECONDS
        out="$(timeout -k 5 240 java "${JVM[@]}" -cp "$CLASSES:$KAFKA_LIBS/*" GroupScenarios "$s" "${args[@]}" \
            2>"$G_WORK/$t/$s.err" </dev/null | tail -n 1)"
        if [[ "$out" == OK:* ]]; then
            RESULT[$t.$s]="PASS $((SECONDS - t0))s"
            echo "PASS $t $s ($((SECONDS - t0))s): ${out#OK: }"
        else
            RESULT[$t.$s]="FAIL"
            fails=$((fails + 1))
            echo "FAIL $t $s: ${out:-no output} ($(grep -m1 -E 'Exception|Error' "$G_WORK/$t/$s.err" | cut -c1-200))"
        fi
    done
    stop "$t"
    trap - EXIT
    [[ $t == rafka ]] && dump_check
done
printf '%-8s | %-12s | %-12s\n' step rafka kafka
for s in "${STEPS[@]}" dump; do
    printf '%-8s | %-12s | %-12s\n' "$s" "${RESULT[rafka.$s]:-not run}" "${RESULT[kafka.$s]:-not run}"
done
echo "groups: $fails failed"
((fails == 0))
