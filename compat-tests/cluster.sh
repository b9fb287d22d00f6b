#!/usr/bin/env bash
# A three-node cluster on loopback, checked with Apache Kafka's own tools (issue #14),
# run against Rafka and against Apache Kafka itself (three KRaft processes), the oracle:
# with --target both (the default) the two runs' summaries are compared. Builds
# nothing: it runs the binary and the jars it is given.
#
#   compat-tests/cluster.sh [--target rafka|kafka|both]
#
# What it does per target, in under 3 minutes for both (every wait is bounded;
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
#   5. kill -9 a node that leads partitions (not the quorum leader when another
#      one leads partitions) and waits up to 20 s until every partition is led by
#      one of the two others;
#   6. decodes node 1's __cluster_metadata-0 with Kafka's DumpLogSegments
#      --cluster-metadata-decoder: it must decode, with a TopicRecord for the topic
#      and RegisterBrokerRecords of brokers 1, 2 and 3;
#   7. writes a summary (key=value: what the tools answered, as properties that
#      must hold on both, e.g. "leaders on 3 nodes", not which node leads what).
#      With --target both: runs rafka, then kafka, prints the two summaries side by
#      side and fails if an asserted key differs (keys under info. are shown, not
#      compared; list-valued ones are shown as set differences).
# Prints PASS and exits 0, or prints "FAIL: why" with the failing tool's output and
# the node logs and exits 1. Needs java, python3 (for free ports) and the Kafka jars
# of compat-tests/setup.sh; loopback only.
#
# Environment:
#   RAFKA=path          the rafka binary (default: target/release/rafka)
#   KAFKA_LIBS=dir      Kafka 4.x jars (default: compat-tests/.work/kafka-libs, as
#                       written by compat-tests/setup.sh, which run.sh calls)
#   CLUSTER_TARGET=t    rafka, kafka or both (default both; --target overrides it)
#   CLUSTER_BUDGET=s    the whole run's time limit (default 170; with both, rafka
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
BUDGET="${CLUSTER_BUDGET:-170}"

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

OUT="$DIR/9-describe-after-kill.out"
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

# ------------------------------------------------------------ node 1's metadata log
# Kafka's own decoder must read what node 1 wrote (node 1 may be the killed one, or
# still running: reading its files is fine either way)
OUT="$DIR/10-metadata-dump.out"
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
say "node 1's metadata log ($(basename "$SEGMENT")) decodes: TopicRecord $TOPIC, RegisterBrokerRecords of 1,2,3"
sum metadata.decodes yes
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
echo "PASS"
