#!/usr/bin/env bash
# Scenario driver for kcat (Debian's package, librdkafka 2.0).
#   usage: kcat.sh SCENARIO      env: BOOTSTRAP TOPIC CASE_DIR
# Consumers print one record per line as P<partition> O<offset> T<timestamp>
# K<key> H<headers> V<value> (TAB-separated), which lib/compat.py parses.
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib/driver.sh"

FMT='P%p\tO%o\tT%T\tK%k\tH%h\tV%s\n'
OUT="$CASE_DIR/out"
ERR="$CASE_DIR/stderr"

kc() { timeout -k 2 "${KC_TIMEOUT:-30}" kcat -b "$BOOTSTRAP" "$@"; }

# exited RC: "exited RC", or "timed out" for timeout's 124
exited() { if [[ $1 == 124 || $1 == 137 ]]; then echo "timed out after ${KC_TIMEOUT:-30}s"; else echo "exited $1"; fi; }

# consume ARGS...: consume until the end of the partition(s) into $OUT.
consume() {
    kc -C -t "$TOPIC" -e -f "$FMT" "$@" >"$OUT" 2>"$ERR" || fail "kcat consumer $(exited $?) ($(tail -n 2 "$ERR" | tr '\n' ' '))"
}

# produce KIND ARGS...: pipe the generated lines of KIND into the kcat producer.
produce() {
    local kind="$1"; shift
    gen "$kind" kcat >"$CASE_DIR/in" || fail "gen $kind"
    kc -P -t "$TOPIC" -K $'\t' "$@" <"$CASE_DIR/in" 2>"$ERR" \
        || fail "kcat producer $(exited $?) ($(tail -n 2 "$ERR" | tr '\n' ' '))"
}

case "$1" in
metadata-brokers)
    fixture create-topic "$BOOTSTRAP" "$TOPIC" --partitions 2
    kc -L -J -t "$TOPIC" >"$OUT" 2>"$ERR" || fail "kcat -L $(exited $?)"
    "$VENV_PY" - "$OUT" "$BOOTSTRAP" "$TOPIC" <<'PY'
import json, sys
md = json.load(open(sys.argv[1])); boot, topic = sys.argv[2], sys.argv[3]
brokers = md["brokers"]
if len(brokers) != 1 or brokers[0]["name"] != boot:
    sys.exit(print("FAIL: brokers %s, expected one at %s" % (brokers, boot)))
bid = brokers[0]["id"]
t = [t for t in md["topics"] if t["topic"] == topic]
if not t or t[0].get("error") or len(t[0]["partitions"]) != 2:
    sys.exit(print("FAIL: topic metadata %s" % t))
leaders = sorted({p["leader"] for p in t[0]["partitions"]})
if leaders != [bid]:
    sys.exit(print("FAIL: partition leaders %s, expected [%d]" % (leaders, bid)))
if md.get("controllerid") != bid:
    sys.exit(print("FAIL: controller id %s, expected %d" % (md.get("controllerid"), bid)))
print("OK: broker id %d at %s leads both partitions" % (bid, boot))
PY
    ;;
roundtrip-10k)
    fixture create-topic "$BOOTSTRAP" "$TOPIC" --partitions 3
    produce roundtrip -H src=compat -H producer=kcat
    consume -o beginning
    check roundtrip --format kcat --client kcat <"$OUT"
    ;;
compression-*)
    codec="${1#compression-}"
    fixture create-topic "$BOOTSTRAP" "$TOPIC"
    produce compression -z "$codec" -X linger.ms=50
    consume -o beginning
    check compression --format kcat --client kcat <"$OUT"
    ;;
consume-from-beginning)
    fixture create-topic "$BOOTSTRAP" "$TOPIC"
    ts="$(fixture produce-seeded "$BOOTSTRAP" "$TOPIC" --prefix cf)"
    consume -p 0 -o beginning
    check seeded --prefix cf --ts-base "$ts" --format kcat <"$OUT"
    ;;
consume-from-end)
    fixture create-topic "$BOOTSTRAP" "$TOPIC"
    fixture produce-seeded "$BOOTSTRAP" "$TOPIC" --prefix cf >/dev/null
    # Start at the end, then keep producing new records until the consumer has 2.
    kc -C -t "$TOPIC" -p 0 -o end -c 2 -f "$FMT" >"$OUT" 2>"$ERR" &
    pid=$!
    fixture produce-markers "$BOOTSTRAP" "$TOPIC" --stop-pid "$pid" --max-seconds 25
    wait "$pid" || fail "kcat consumer $(exited $?) ($(tail -n 2 "$ERR" | tr '\n' ' '))"
    check late --format kcat <"$OUT"
    ;;
consume-from-offset)
    fixture create-topic "$BOOTSTRAP" "$TOPIC"
    ts="$(fixture produce-seeded "$BOOTSTRAP" "$TOPIC" --prefix cf)"
    consume -p 0 -o 5
    check seeded --prefix cf --first 5 --count 5 --ts-base "$ts" --format kcat <"$OUT"
    ;;
consume-from-timestamp)
    fixture create-topic "$BOOTSTRAP" "$TOPIC"
    ts="$(fixture produce-seeded "$BOOTSTRAP" "$TOPIC" --prefix cf)"
    consume -p 0 -o "s@$((ts + 5000))"
    check seeded --prefix cf --first 5 --count 5 --ts-base "$ts" --format kcat <"$OUT"
    ;;
list-offsets)
    fixture create-topic "$BOOTSTRAP" "$TOPIC"
    ts="$(fixture produce-seeded "$BOOTSTRAP" "$TOPIC" --prefix cf)"
    # kcat -Q looks up TOPIC:PARTITION:TIME; -2 = earliest, -1 = latest.
    got=""
    for q in "-2 0 earliest" "-1 10 latest" "$((ts + 5000)) 5 time-of-#5" \
             "$((ts + 5500)) 6 time-between-#5-#6" "$((ts + 60000)) -1 time-after-last"; do
        read -r t want name <<<"$q"
        kc -Q -t "$TOPIC:0:$t" >"$OUT" 2>"$ERR" || fail "kcat -Q $name $(exited $?) ($(tail -n 1 "$ERR"))"
        off="$(sed -n "s/^$TOPIC \[0\] offset \(-\?[0-9]*\)$/\1/p" "$OUT")"
        [[ "$off" == "$want" ]] || fail "$name: kcat -Q printed '$(cat "$OUT")', expected offset $want"
        got+="$name=$off "
    done
    echo "OK: $got"
    ;;
large-record-1mib)
    fixture create-topic "$BOOTSTRAP" "$TOPIC" --config max.message.bytes=2097152
    produce large -X message.max.bytes=2097152
    consume -o beginning -X fetch.max.bytes=4194304
    check large --format kcat --client kcat <"$OUT"
    ;;
record-too-large)
    fixture create-topic "$BOOTSTRAP" "$TOPIC" --config max.message.bytes=10000
    head -c 20000 /dev/zero | tr '\0' x >"$CASE_DIR/in"; echo >>"$CASE_DIR/in"
    kc -P -t "$TOPIC" -p 0 -X retries=0 <"$CASE_DIR/in" >"$OUT" 2>"$ERR.produce" && fail "kcat producer reported success for a 20000-byte record (limit 10000)"
    expect_grep "$ERR.produce" "Delivery failed.*Message size too large" "no 'Message size too large' delivery error"
    consume -p 0 -o beginning
    [[ ! -s "$OUT" ]] || fail "the rejected record was stored: $(head -c 100 "$OUT")"
    expect_grep "$ERR" "Reached end of topic $TOPIC \[0\] at offset 0" "partition end is not offset 0"
    echo "OK: '$(grep -m1 -o 'Delivery failed.*' "$ERR.produce")'; partition still empty"
    ;;
unknown-topic)
    kc -L -J -t "$TOPIC" >"$OUT" 2>"$ERR" || fail "kcat -L $(exited $?)"
    expect_grep "$OUT" "\"topic\":\"$TOPIC\",\"error\":\"Broker: Unknown topic or partition\"" "metadata did not report 'Unknown topic or partition'"
    echo "nobody home" | kc -P -t "$TOPIC" -X topic.metadata.propagation.max.ms=1000 >/dev/null 2>"$ERR" \
        && fail "kcat producer reported success for a missing topic"
    expect_grep "$ERR" "Delivery failed.*Unknown topic" "no 'Unknown topic' delivery error"
    kc -L -J -t "$TOPIC" >"$OUT" 2>&1 || true
    expect_grep "$OUT" "Unknown topic or partition" "the missing topic got created"
    echo "OK: metadata and produce report '$(grep -m1 -o 'Unknown topic[a-z ]*' "$ERR")'; topic not created"
    ;;
offset-out-of-range)
    fixture create-topic "$BOOTSTRAP" "$TOPIC"
    fixture produce-seeded "$BOOTSTRAP" "$TOPIC" --prefix cf --count 5 >/dev/null
    consume -p 0 -o 100 -X auto.offset.reset=earliest
    check seeded --prefix cf --count 5 --format kcat <"$OUT"
    ;;
consumer-group-resume)
    fixture create-topic "$BOOTSTRAP" "$TOPIC" --partitions 3
    fixture produce-seeded "$BOOTSTRAP" "$TOPIC" --prefix grp --count 30 --spread 3 >/dev/null
    # First instance: 12 records, offsets committed on close (auto-commit of what
    # was handed to the application); second instance: until the end.
    kc -G "$TOPIC-group" "$TOPIC" -c 12 -X auto.offset.reset=earliest -f "$FMT" >"$OUT.1" 2>"$ERR" \
        || fail "first group consumer $(exited $?) ($(tail -n 2 "$ERR" | tr '\n' ' '))"
    [[ "$(wc -l <"$OUT.1")" == 12 ]] || fail "first instance consumed $(wc -l <"$OUT.1") records, expected 12"
    kc -G "$TOPIC-group" "$TOPIC" -e -X auto.offset.reset=earliest -f "$FMT" >"$OUT.2" 2>"$ERR" \
        || fail "second group consumer $(exited $?) ($(tail -n 2 "$ERR" | tr '\n' ' '))"
    cat "$OUT.1" "$OUT.2" | check group --prefix grp --count 30 --format kcat
    ;;
consumer-group-restart)
    # consumer-group-resume with a broker restart between the two instances: the
    # committed offsets must survive it.
    fixture create-topic "$BOOTSTRAP" "$TOPIC" --partitions 3
    fixture produce-seeded "$BOOTSTRAP" "$TOPIC" --prefix grp --count 30 --spread 3 >/dev/null
    KC_TIMEOUT=20
    kc -G "$TOPIC-group" "$TOPIC" -c 12 -X auto.offset.reset=earliest -f "$FMT" >"$OUT.1" 2>"$ERR" \
        || fail "first group consumer $(exited $?) ($(tail -n 2 "$ERR" | tr '\n' ' '))"
    [[ "$(wc -l <"$OUT.1")" == 12 ]] || fail "first instance consumed $(wc -l <"$OUT.1") records, expected 12"
    restart_broker
    # lost commits would show as duplicates: this instance would start over at offset 0
    KC_TIMEOUT=60
    kc -G "$TOPIC-group" "$TOPIC" -c 18 -X auto.offset.reset=earliest -f "$FMT" >"$OUT.2" 2>"$ERR" \
        || fail "group consumer after the restart $(exited $?) with $(wc -l <"$OUT.2") records ($(tail -n 2 "$ERR" | tr '\n' ' '))"
    cat "$OUT.1" "$OUT.2" | check group --prefix grp --count 30 --format kcat >"$CASE_DIR/verdict" \
        || fail "$(sed 's/^FAIL: //' "$CASE_DIR/verdict")"
    echo "OK: 12 records before the broker restart, the other 18 after it from the committed offsets; $(sed 's/^OK: //' "$CASE_DIR/verdict")"
    ;;
consumer-group-handover)
    # Two members split 4 partitions 2+2. A reads all of its share; B reads 5 records
    # of its share and leaves cleanly (-c 5: commit and LeaveGroup on close). A then
    # owns all 4 partitions and reads on from B's committed offsets, then phase 2.
    fixture create-topic "$BOOTSTRAP" "$TOPIC" --partitions 4
    g="$TOPIC-group"
    # (timeout, not kc: $! must be a process that passes a kill on to kcat)
    timeout -k 2 90 kcat -b "$BOOTSTRAP" -u -G "$g" "$TOPIC" -c 75 -X auto.offset.reset=earliest -f "$FMT" \
        >"$OUT.a" 2>"$ERR.a" &
    apid=$!
    timeout -k 2 60 kcat -b "$BOOTSTRAP" -u -G "$g" "$TOPIC" -c 5 -X auto.offset.reset=earliest -f "$FMT" \
        >"$OUT.b" 2>"$ERR.b" &
    bpid=$!
    trap 'kill $apid $bpid 2>/dev/null' EXIT
    # owned FILE: the partitions kcat's last rebalance line says it owns ("0 1 ").
    owned() {
        local l
        l="$(grep -E 'rebalanced .*: (assigned|revoked):' "$1" | tail -n 1)"
        [[ "$l" == *"assigned:"* ]] || return 0
        grep -oE '\[[0-9]+\]' <<<"${l#*assigned:}" | tr -d '[]' | sort -n | tr '\n' ' '
    }
    split() {
        local a b
        a="$(owned "$ERR.a")"; b="$(owned "$ERR.b")"
        [[ "$(wc -w <<<"$a")" == 2 && "$(wc -w <<<"$b")" == 2 \
            && "$(tr -s ' ' '\n' <<<"$a$b" | grep . | sort -n | tr '\n' ' ')" == "0 1 2 3 " ]]
    }
    wait_until 20 split || fail "no 2+2 split: A owns [$(owned "$ERR.a")], B owns [$(owned "$ERR.b")]"
    a_parts="$(owned "$ERR.a")"; b_parts="$(owned "$ERR.b")"
    fixture produce-handover "$BOOTSTRAP" "$TOPIC" --phase 1 --partitions "$(tr ' ' ',' <<<"$a_parts")"
    lines() { [[ "$(wc -l <"$1")" -ge "$2" ]]; }
    wait_until 30 lines "$OUT.a" 20 || fail "A read $(wc -l <"$OUT.a") of the 20 records of its partitions"
    fixture produce-handover "$BOOTSTRAP" "$TOPIC" --phase 1 --partitions "$(tr ' ' ',' <<<"$b_parts")"
    wait "$bpid" || fail "member B exited $? ($(tail -n 2 "$ERR.b" | tr '\n' ' '))"
    [[ "$(wc -l <"$OUT.b")" == 5 ]] || fail "B read $(wc -l <"$OUT.b") records, expected 5"
    all4() { [[ "$(owned "$ERR.a")" == "0 1 2 3 " ]]; }
    wait_until 30 all4 || fail "after B left, A owns [$(owned "$ERR.a")], not all 4 partitions"
    fixture produce-handover "$BOOTSTRAP" "$TOPIC" --phase 2 --partitions 0,1,2,3
    wait "$apid" || fail "member A exited $? with $(wc -l <"$OUT.a") of 75 records ($(tail -n 2 "$ERR.a" | tr '\n' ' '))"
    trap - EXIT
    # B first: on each partition, what A read after the handover follows what B read
    cat "$OUT.b" "$OUT.a" | check handover --format kcat >"$CASE_DIR/verdict" || fail "$(sed 's/^FAIL: //' "$CASE_DIR/verdict")"
    echo "OK: split 2+2 (A [${a_parts% }], B [${b_parts% }]); B read 5 and left; A took all 4 and read 75: $(sed 's/^OK: //' "$CASE_DIR/verdict")"
    ;;
idempotent-default-producer)
    fixture create-topic "$BOOTSTRAP" "$TOPIC"
    produce idempotent -X enable.idempotence=true -d eos
    grep -q "FATAL" "$ERR" && fail "$(grep -m1 -o 'FATAL CLIENT ERROR.*' "$ERR" | cut -c1-300)"
    expect_grep "$ERR" "Acquired PID\{Id:[0-9]+,Epoch:[0-9]+\}" "the idempotent producer never acquired a ProducerId"
    pid="$(grep -m1 -o 'Acquired PID{Id:[0-9]*,Epoch:[0-9]*}' "$ERR")"
    consume -o beginning
    check idempotent --format kcat --client kcat <"$OUT" >"$CASE_DIR/verdict" || fail "$(sed 's/^FAIL: //' "$CASE_DIR/verdict")"
    echo "OK: idempotent producer ($pid): $(sed 's/^OK: //' "$CASE_DIR/verdict")"
    ;;
*)
    fail "scenario $1 not implemented by the kcat driver"
    ;;
esac
