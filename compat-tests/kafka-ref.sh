#!/usr/bin/env bash
# Start / stop the Apache Kafka reference broker: one KRaft node that is both
# broker and controller, on free loopback ports, with a throw-away log dir.
#
#   kafka-ref.sh start    prints the bootstrap address (127.0.0.1:PORT)
#   kafka-ref.sh stop     clean shutdown (SIGTERM, SIGKILL after 60 s)
#   kafka-ref.sh restart  clean shutdown, then the same broker again: same ports,
#                         config and log dir (the previous broker.log is kept as
#                         broker.log.N); prints the bootstrap address once it is ready
#   kafka-ref.sh status   prints the state file
#
# Environment:
#   KAFKA_REF_STATE  state file (default compat-tests/.work/kafka-ref.state);
#                    it holds PID, PORT, CONTROLLER_PORT, DIR and LOG_DIR.
#   KAFKA_REF_DIR    directory for config, logs and data. When given, the
#                    caller owns it and `stop` leaves it alone (so the log
#                    segments can be inspected after a clean shutdown);
#                    otherwise a temp dir is made and `stop` removes it.
#   KAFKA_REF_HEAP   JVM max heap (default 512m).
#
# Optional, for the benchmarks (bench/compare.sh); unset, nothing changes:
#   KAFKA_REF_JVM_OPTS         replaces the heap and GC flags (-Xms128m -Xmx$KAFKA_REF_HEAP
#                              -XX:+UseG1GC -XX:MaxGCPauseMillis=50), e.g. Kafka's own
#                              kafka-server-start.sh defaults.
#   KAFKA_REF_PROPS            extra server.properties lines, appended (a key given
#                              again overrides the one above it), e.g.
#                              "group.min.session.timeout.ms=1000" to run tests/groups
#                              against this broker (GROUPS_TEST_BOOTSTRAP).
#   KAFKA_REF_PORT, KAFKA_REF_CONTROLLER_PORT
#                              fixed ports instead of free ones (restart on the same dir).
#   KAFKA_REF_WAIT=0           `start` returns right after launching the JVM; the caller
#                              waits for readiness itself. The state file also holds
#                              STARTED_NS, the epoch nanoseconds just before the launch.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
STATE="${KAFKA_REF_STATE:-$WORK_DIR/kafka-ref.state}"

die() { echo "kafka-ref: $*" >&2; exit 1; }

start() {
    [[ -d "$KAFKA_LIBS" ]] || die "Kafka jars missing: run compat-tests/setup.sh"
    if [[ -f "$STATE" ]]; then
        # shellcheck disable=SC1090
        (source "$STATE"; kill -0 "$PID" 2>/dev/null) && die "already running ($STATE)"
        rm -f "$STATE"
    fi
    local dir owned=0
    if [[ -n "${KAFKA_REF_DIR:-}" ]]; then
        dir="$KAFKA_REF_DIR"; mkdir -p "$dir"
    else
        dir="$(mktemp -d /tmp/kafka-ref.XXXXXX)"; owned=1
    fi
    local port cport logdir="$dir/data"
    port="${KAFKA_REF_PORT:-$(free_port)}"; cport="${KAFKA_REF_CONTROLLER_PORT:-$(free_port)}"
    while [[ "$cport" == "$port" ]]; do cport="$(free_port)"; done
    mkdir -p "$logdir"
    cat >"$dir/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$cport
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://127.0.0.1:$port
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$logdir
# Scenarios create their topics explicitly; unknown-topic relies on this.
auto.create.topics.enable=false
num.partitions=1
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
num.network.threads=2
num.io.threads=2
num.recovery.threads.per.data.dir=1
log.retention.check.interval.ms=300000
PROPS
    [[ -n "${KAFKA_REF_PROPS:-}" ]] && printf '%s\n' "$KAFKA_REF_PROPS" >>"$dir/server.properties"
    local cluster_id
    # A dir formatted before (KAFKA_REF_DIR, a restart) keeps its cluster id.
    cluster_id="$(sed -n 's/^cluster.id=//p' "$logdir/meta.properties" 2>/dev/null || true)"
    [[ -n "$cluster_id" ]] || cluster_id="$(python3 -c 'import base64,uuid
# like Kafka'"'"'s Uuid.randomUuid: never a leading "-", which the format tool would take for an option
while True:
    s = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
    if not s.startswith("-"):
        print(s)
        break')"
    kafka_tool 120 kafka.tools.StorageTool format --ignore-formatted \
        -t "$cluster_id" -c "$dir/server.properties" >"$dir/format.log" 2>&1 \
        || { cat "$dir/format.log" >&2; [[ $owned == 1 ]] && rm -rf "$dir"; die "storage format failed"; }
    launch "$dir" "$port" "$cport" "$owned"
}

# launch DIR PORT CONTROLLER_PORT OWNED: start the broker configured in DIR, write the
# state file, wait until it is ready and print its bootstrap address.
launch() {
    local dir="$1" port="$2" cport="$3" owned="$4" logdir="$1/data"
    local jvm_opts
    if [[ -n "${KAFKA_REF_JVM_OPTS:-}" ]]; then
        read -r -a jvm_opts <<<"$KAFKA_REF_JVM_OPTS"
    else
        jvm_opts=(-Xms128m -Xmx"${KAFKA_REF_HEAP:-512m}" -XX:+UseG1GC -XX:MaxGCPauseMillis=50)
    fi
    local started_ns
    started_ns="$(date +%s%N)"
    # setsid: the broker gets its own process group, detached from our shell.
    setsid java "${jvm_opts[@]}" \
        -Djava.awt.headless=true -Dfile.encoding=UTF-8 \
        -Dlog4j2.configurationFile="$COMPAT_DIR/log4j2.properties" -Dcompat.log.level=INFO \
        -cp "$KAFKA_LIBS/*" kafka.Kafka "$dir/server.properties" \
        >"$dir/broker.log" 2>&1 </dev/null &
    local pid=$!
    {
        echo "PID=$pid"; echo "PORT=$port"; echo "CONTROLLER_PORT=$cport"
        echo "DIR=$dir"; echo "LOG_DIR=$logdir"; echo "OWNED_DIR=$owned"
        echo "STARTED_NS=$started_ns"
    } >"$STATE"
    if [[ "${KAFKA_REF_WAIT:-1}" == 0 ]]; then
        echo "127.0.0.1:$port"
        return 0
    fi

    # Ready = the broker answers a metadata request listing itself.
    local deadline=$((SECONDS + 90))
    while ((SECONDS < deadline)); do
        kill -0 "$pid" 2>/dev/null || { tail -30 "$dir/broker.log" >&2; stop >/dev/null 2>&1 || true; die "broker exited during startup"; }
        if port_open "$port" && timeout 5 kcat -L -b "127.0.0.1:$port" -m 3 2>/dev/null | grep -q "broker 1 at 127.0.0.1:$port"; then
            echo "127.0.0.1:$port"
            return 0
        fi
        sleep 0.5
    done
    tail -30 "$dir/broker.log" >&2
    stop >/dev/null 2>&1 || true
    die "broker did not become ready within 90 s"
}

stop() {
    [[ -f "$STATE" ]] || { echo "kafka-ref: not running" >&2; return 0; }
    # shellcheck disable=SC1090
    source "$STATE"
    stop_pid "$PID" 60 || true
    if grep -q "shut down completed" "$DIR/broker.log" 2>/dev/null; then
        echo "kafka-ref: clean shutdown" >&2
    else
        echo "kafka-ref: broker stopped (no clean-shutdown message in $DIR/broker.log)" >&2
    fi
    [[ "$OWNED_DIR" == 1 ]] && rm -rf "$DIR"
    rm -f "$STATE"
}

restart() {
    [[ -f "$STATE" ]] || die "not running"
    local PID PORT CONTROLLER_PORT DIR OWNED_DIR n=1
    # shellcheck disable=SC1090
    source "$STATE"
    stop_pid "$PID" 60 || true
    grep -q "shut down completed" "$DIR/broker.log" 2>/dev/null \
        || echo "kafka-ref: restart: no clean-shutdown message in $DIR/broker.log" >&2
    # `stop` judges the last run's log: keep the earlier ones under another name
    while [[ -e "$DIR/broker.log.$n" ]]; do n=$((n + 1)); done
    mv -f "$DIR/broker.log" "$DIR/broker.log.$n"
    launch "$DIR" "$PORT" "$CONTROLLER_PORT" "$OWNED_DIR"
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    restart) restart ;;
    status) [[ -f "$STATE" ]] && cat "$STATE" || { echo "not running"; exit 1; } ;;
    *) echo "usage: $0 start|stop|restart|status" >&2; exit 2 ;;
esac
