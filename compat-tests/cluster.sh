#!/usr/bin/env bash
# A three-node Rafka cluster on loopback, checked with Apache Kafka's own tools
# (issue #14). Builds nothing: it runs the binary it is given.
#
#   compat-tests/cluster.sh
#
# What it does, in under 3 minutes (every wait is bounded; CLUSTER_BUDGET seconds
# in all):
#   1. writes three node configs (process.roles=broker,controller, node.id 1..3,
#      one static quorum) on free 127.0.0.1 ports in a temp dir;
#   2. starts three `rafka serve --config nodeN.properties` (logs in the temp dir,
#      all killed on exit);
#   3. waits until kafka-metadata-quorum answers and kafka-broker-api-versions
#      lists the three brokers;
#   4. checks: kafka-topics --create (6 partitions, replication factor 3) and
#      --describe (6 partitions, 3 replicas each, leaders on all three nodes);
#      kafka-leader-election --election-type preferred --all-topic-partitions;
#      kafka-configs --alter/--describe of log.cleaner.threads on broker 1;
#      kafka-metadata-quorum describe --status (LeaderId in 1..3);
#   5. kill -9 a node that leads partitions (not the quorum leader when another
#      one leads partitions) and waits up to 20 s until every partition is led by
#      one of the two others.
# Prints PASS and exits 0, or prints "FAIL: why" with the failing tool's output and
# the node logs and exits 1. Needs java, python3 (for free ports) and the Kafka jars
# of compat-tests/setup.sh; loopback only.
#
# Environment:
#   RAFKA=path          the rafka binary (default: target/release/rafka)
#   KAFKA_LIBS=dir      Kafka 4.x jars (default: compat-tests/.work/kafka-libs, as
#                       written by compat-tests/setup.sh, which run.sh calls)
#   CLUSTER_BUDGET=s    the whole run's time limit (default 170)
#   KEEP=1              keep the temp dir (configs, data, node logs, each tool's
#                       output as N-step.out) after the run
#   CLUSTER_CONFIGS_ONLY=1  write and print the three configs, start nothing
set -uo pipefail

KAFKA_LIBS_FROM_ENV="${KAFKA_LIBS:-}"
# shellcheck source-path=SCRIPTDIR source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
[[ -n "$KAFKA_LIBS_FROM_ENV" ]] && KAFKA_LIBS="$KAFKA_LIBS_FROM_ENV"

case "${1:-}" in
    -h|--help) awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"; exit 0 ;;
    "") ;;
    *) echo "cluster.sh: unknown argument $1 (see --help)" >&2; exit 1 ;;
esac

RAFKA="${RAFKA:-$REPO_DIR/target/release/rafka}"
BUDGET="${CLUSTER_BUDGET:-170}"
TOOL_TIMEOUT=40          # seconds, at most, for one Kafka tool
START_TIMEOUT=60         # seconds for the three nodes to form a cluster
FAILOVER_TIMEOUT=20      # seconds for new leaders after the kill
NODES=(1 2 3)
TOPIC=cluster-check
START=$SECONDS

DIR="$(mktemp -d /tmp/rafka-cluster.XXXXXX)"
declare -A PID=() KPORT=() CPORT=() TPORT=()

say() { printf '== %s\n' "$*"; }

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
            || fail "node $n (rafka serve, pid ${PID[$n]}) exited: $(tail -n 1 "$DIR/node$n.log" | cut -c1-300)"
    done
}

# ------------------------------------------------------------ preconditions
[[ -x "$RAFKA" ]] || fail "RAFKA=$RAFKA is not an executable (build it: cargo build --release)"
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
# written by compat-tests/cluster.sh
process.roles=broker,controller
node.id=$n
controller.quorum.voters=$VOTERS
listeners=PLAINTEXT://127.0.0.1:${KPORT[$n]},CONTROLLER://127.0.0.1:${CPORT[$n]}
advertised.listeners=PLAINTEXT://127.0.0.1:${KPORT[$n]},CONTROLLER://127.0.0.1:${CPORT[$n]}
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
text.listener=127.0.0.1:${TPORT[$n]}
log.dirs=$DIR/data$n
auto.create.topics.enable=false
group.initial.rebalance.delay.ms=0
EOF
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
for n in "${NODES[@]}"; do
    mkdir -p "$DIR/data$n"
    "$RAFKA" serve --config "$DIR/node$n.properties" >"$DIR/node$n.log" 2>&1 </dev/null &
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

# ------------------------------------------------------------ topics
OUT="$DIR/3-create.out"
topics "$OUT" --create --topic "$TOPIC" --partitions 6 --replication-factor 3 \
    || fail "kafka-topics --create --partitions 6 --replication-factor 3 failed (exit $?)" "$OUT"
grep -q "Created topic $TOPIC" "$OUT" || fail "kafka-topics --create did not say 'Created topic $TOPIC'" "$OUT"

# check_describe OUT: 6 partition lines, 3 distinct replicas each, and the
# leaders; sets LEADERS (partition -> leader, "p:l p:l ...") and LEADER_IDS (sorted,
# distinct). Returns 1 with WHY set when the output is not that.
check_describe() {
    local out="$1" line p l r count=0 n
    LEADERS=""; LEADER_IDS=""; WHY=""
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

# ------------------------------------------------------------ broker configs
OUT="$DIR/6-configs-alter.out"
configs "$OUT" --entity-type brokers --entity-name 1 --alter --add-config log.cleaner.threads=2 \
    || fail "kafka-configs --alter --add-config log.cleaner.threads=2 on broker 1 failed (exit $?)" "$OUT"
OUT="$DIR/7-configs-describe.out"
configs "$OUT" --entity-type brokers --entity-name 1 --describe \
    || fail "kafka-configs --describe of broker 1 failed (exit $?)" "$OUT"
grep -q "log.cleaner.threads=2" "$OUT" || fail "kafka-configs --describe of broker 1 does not show log.cleaner.threads=2" "$OUT"
say "broker 1 has log.cleaner.threads=2"

# ------------------------------------------------------------ quorum
OUT="$DIR/8-quorum.out"
quorum "$OUT" describe --status || fail "kafka-metadata-quorum describe --status failed (exit $?)" "$OUT"
QLEADER="$(sed -nE 's/^LeaderId:[[:space:]]+([0-9]+)$/\1/p' "$OUT")"
[[ "$QLEADER" =~ ^[1-3]$ ]] || fail "kafka-metadata-quorum describe --status: LeaderId is '${QLEADER}', not one of 1..3" "$OUT"
say "quorum leader (active controller): node $QLEADER"

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
echo "PASS"
