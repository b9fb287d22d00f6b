#!/usr/bin/env bash
# `rafka groups list | describe` and `rafka cluster` against Rafka and Apache Kafka, and
# Kafka's own kafka-consumer-groups (ConsumerGroupCommand, from the Kafka jars) against
# both: the same rows (offsets, lag, owner) from either tool on either broker.
# Run by hand (not in .ci/run); needs a `rafka` built with the client feature.
#
#   compat-tests/cli-groups.sh [--target rafka|kafka|both]   (default both)
#
# Scenario: topic orders (2 partitions), 7 records in partition 0 and 4 in 1; group
# reports reads them all and leaves (Empty, offsets 7 and 4); group billing does the
# same, then one member stays (Stable) and is paused (SIGSTOP) before 3 more records go
# to partition 0: both groups have lag 3 there and 0 in partition 1.
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
TARGET=both
[[ "${1:-}" == --target ]] && TARGET="$2"
RAFKA="${RAFKA:-$REPO_DIR/target/debug/rafka}"
JARS="$COMPAT_DIR/.work/kafka-libs"
[[ -x "$RAFKA" ]] || { echo "FAIL: no $RAFKA (cargo build --features client)"; exit 1; }

fails=0
check() { # check NAME EXPECTED ACTUAL
    if [[ "$2" == "$3" ]]; then echo "ok   $1"; else
        echo "FAIL $1"; echo "  expected: $2"; echo "  got:      $3"; fails=$((fails + 1)); fi
}

# the rows of either tool's table, as "group topic partition current leo lag owner"
# (the owner's member id, or -), sorted
rows() { awk 'NF == 9 && $1 != "GROUP" && $1 != "Group:" { print $1, $2, $3, $4, $5, $6, $7 }' | sort; }

scenario() {
    local b="$1" member
    "$RAFKA" topics create -b "$b" orders --partitions 2 >/dev/null
    seq 1 7 | "$RAFKA" produce -b "$b" -t orders -p 0 2>/dev/null
    seq 1 4 | "$RAFKA" produce -b "$b" -t orders -p 1 2>/dev/null
    "$RAFKA" consume -b "$b" -t orders -g reports -e >/dev/null
    "$RAFKA" consume -b "$b" -t orders -g billing -e >/dev/null
    # resumes at the committed 7 and 4: nothing to read, so nothing new to commit
    "$RAFKA" consume -b "$b" -t orders -g billing >/dev/null 2>&1 &
    member=$!
    local waited=0
    until "$RAFKA" groups describe -b "$b" billing 2>/dev/null | grep -q "State: Stable.*Members: 1"; do
        ((waited++ < 300)) || { echo "FAIL billing never became Stable"; kill "$member"; return 1; }
        sleep 0.1
    done
    kill -STOP "$member"
    seq 8 10 | "$RAFKA" produce -b "$b" -t orders -p 0 2>/dev/null

    local list described id ours theirs
    list="$("$RAFKA" groups list -b "$b" | tail -n +2 | awk '{ print $1, $2, $3 }')"
    check "groups list" $'billing Stable consumer\nreports Empty consumer' "$list"
    described="$("$RAFKA" groups describe -b "$b" --all-groups)"
    id="$(awk '$1 == "billing" && $2 == "orders" { print $7; exit }' <<<"$described")"
    [[ "$id" == rafka-cli-* ]] || echo "FAIL member id '$id'"
    ours="$(rows <<<"$described")"
    check "groups describe" "billing orders 0 7 10 3 $id
billing orders 1 4 4 0 $id
reports orders 0 7 10 3 -
reports orders 1 4 4 0 -" "$ours"
    grep -q "Consumer group 'reports' has no active members." <<<"$described" \
        && echo "ok   no active members" || { echo "FAIL no 'no active members' line"; fails=$((fails + 1)); }
    "$RAFKA" groups describe -b "$b" nope >/dev/null 2>&1
    check "unknown group exit" 3 "$?"
    check "cluster" "Controller: 1 Brokers: 1" \
        "$("$RAFKA" cluster -b "$b" | sed -n '2,3p' | tr '\n' ' ' | sed 's/ $//')"
    if [[ -d "$JARS" ]]; then
        theirs="$(java -cp "$JARS/*" org.apache.kafka.tools.consumer.group.ConsumerGroupCommand \
            --bootstrap-server "$b" --describe --all-groups 2>/dev/null | rows)"
        check "kafka-consumer-groups agrees" "$ours" "$theirs"
    fi
    kill -CONT "$member"; kill "$member"; wait "$member" 2>/dev/null
}

for t in rafka kafka; do
    [[ "$TARGET" == both || "$TARGET" == "$t" ]] || continue
    dir="$(mktemp -d /tmp/cligroups.XXXXXX)"
    bootstrap="$(RAFKA_BIN="$RAFKA" target_start "$t" "$dir")" || { echo "FAIL: $t did not start"; exit 1; }
    echo "== $t"
    scenario "$bootstrap" || fails=$((fails + 1))
    target_stop "$t" "$dir"
    rm -rf "$dir"
done
((fails == 0)) && echo "all passed" || echo "$fails failed"
((fails == 0))
