#!/usr/bin/env bash
# ACLs (issue #18, part 4), Apache Kafka as the oracle: the same scenario against the
# reference Kafka and against Rafka, each started from Kafka's own keys
# (authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer,
# super.users=User:admin;User:ANONYMOUS, a SASL_PLAINTEXT listener with PLAIN users admin,
# alice and bob), Kafka's Java tools as the clients, and every check must give the same
# answer on both:
#
#   add-topic, add-group, add-prefixed
#                    kafka-acls --add as admin: alice may READ and WRITE topic orders,
#                    READ group g, WRITE topics prefixed pay
#   list-orders, list-all
#                    kafka-acls --list: the ACLs of topic orders; every ACL (as lines
#                    "<resource> <principal> <operation> <permission>", sorted)
#   list-denied      kafka-acls --list as alice: refused (no DESCRIBE on the cluster)
#   add-denied       kafka-acls --add as alice: refused (no ALTER on the cluster)
#   topics-alice     TopicCommand --list as alice: only the topics she may describe
#                    (orders, payments), not secret
#   create-denied    TopicCommand --create as alice: Authorization failed
#   produce-orders, produce-secret, produce-payments
#                    ConsoleProducer as alice: allowed, TOPIC_AUTHORIZATION_FAILED, allowed
#   consume-g, consume-h
#                    ConsoleConsumer as alice in group g: reads the record; in group h:
#                    GROUP_AUTHORIZATION_FAILED
#   consume-bob      ConsoleConsumer as bob (no ACL): TOPIC_AUTHORIZATION_FAILED
#   describe-orders, describe-secret
#                    TopicCommand --describe as alice: orders' partition count (READ and
#                    WRITE imply DESCRIBE), secret refused
#   configs-orders, alter-orders
#                    ConfigCommand --describe / --alter of topic orders as alice: refused
#                    (no DESCRIBE_CONFIGS, ALTER_CONFIGS)
#   grow-orders      TopicCommand --alter --partitions 2 as alice: refused (no ALTER)
#   delete-records   DeleteRecordsCommand on orders as alice: refused (no DELETE)
#   delete-group     ConsumerGroupCommand --delete of group g as alice: refused (no DELETE)
#   log-dirs         LogDirsCommand --describe as alice: refused (no DESCRIBE on the cluster)
#   election         LeaderElectionCommand as alice: refused (no ALTER on the cluster)
#   txn-describe     TransactionsCommand describe as alice: refused (no DESCRIBE on t1)
#   configs-admin    ConfigCommand --describe of topic orders as admin: its one override
#   remove-prefixed, list-after-remove, produce-payments-after
#                    kafka-acls --remove of the prefixed ACL: gone from the list, and
#                    alice's produce to payments is refused again
#
#   compat-tests/acls.sh [--target rafka|kafka|both]     (default both)
#
# Needs what compat-tests/setup.sh installs (the Kafka jars). Everything on loopback,
# every step bounded in time. Environment: RAFKA_BIN=path uses that binary instead of
# `cargo build --release`; KEEP=1 keeps the work dir. Prints PASS or FAIL lines; exit code
# 0 only if every check passed on every target and Rafka answered as Kafka did.
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

TARGET=both
[[ "${1:-}" == --target ]] && TARGET="${2:?--target rafka|kafka|both}"
case "$TARGET" in rafka) TARGETS=(rafka) ;; kafka) TARGETS=(kafka) ;; both) TARGETS=(kafka rafka) ;;
    *) echo "--target rafka|kafka|both" >&2; exit 2 ;; esac

fail() { echo "FAIL: $*"; exit 1; }
[[ -d "$KAFKA_LIBS" ]] || fail "no Kafka jars in $KAFKA_LIBS: run compat-tests/setup.sh"
if [[ " ${TARGETS[*]} " == *" rafka "* && -z "${RAFKA_BIN:-}" ]]; then
    RAFKA_BIN="$REPO_DIR/target/release/rafka"
    echo "== cargo build --release --bin rafka"
    (cd "$REPO_DIR" && timeout 3600 cargo build --release --bin rafka -q) || fail "cargo build failed"
fi

DIR="$(mktemp -d /tmp/acls-test.XXXXXX)"
RAFKA_PID=""
cleanup() {
    [[ -n "$RAFKA_PID" ]] && stop_pid "$RAFKA_PID" 15
    KAFKA_REF_STATE="$DIR/kafka/state" "$COMPAT_DIR/kafka-ref.sh" stop >/dev/null 2>&1
    [[ -n "${KEEP:-}" ]] || rm -rf "$DIR"
}
trap cleanup EXIT

for who in admin alice bob; do
    cat >"$DIR/$who.properties" <<PROPS
security.protocol=SASL_PLAINTEXT
sasl.mechanism=PLAIN
sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="$who" password="$who-secret";
PROPS
done

# the broker's keys, the same for both
broker_props() {
    local jaas='org.apache.kafka.common.security.plain.PlainLoginModule required user_admin="admin-secret" user_alice="alice-secret" user_bob="bob-secret";'
    cat <<PROPS
sasl.enabled.mechanisms=PLAIN
listener.name.sasl_plaintext.plain.sasl.jaas.config=$jaas
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
super.users=User:admin;User:ANONYMOUS
PROPS
}

# start_target kafka|rafka: sets SASL_BOOTSTRAP
start_target() {
    local t="$1" port cport tport pport
    read -r port cport tport pport <<<"$(free_port) $(free_port) $(free_port) $(free_port)"
    while [[ "$port" == "$cport" || "$port" == "$pport" || "$cport" == "$pport" ]]; do
        read -r cport pport <<<"$(free_port) $(free_port)"
    done
    local listeners="PLAINTEXT://127.0.0.1:$port,SASL_PLAINTEXT://127.0.0.1:$pport"
    local map="PLAINTEXT:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT"
    if [[ "$t" == kafka ]]; then
        local props
        props="listeners=$listeners,CONTROLLER://127.0.0.1:$cport
advertised.listeners=$listeners
listener.security.protocol.map=CONTROLLER:PLAINTEXT,$map
$(broker_props)"
        KAFKA_REF_STATE="$DIR/kafka/state" KAFKA_REF_DIR="$DIR/kafka" KAFKA_REF_PORT="$port" \
            KAFKA_REF_CONTROLLER_PORT="$cport" KAFKA_REF_PROPS="$props" \
            "$COMPAT_DIR/kafka-ref.sh" start >"$DIR/kafka-start.log" 2>&1 \
            || { tail -5 "$DIR/kafka-start.log"; return 1; }
    else
        mkdir -p "$DIR/rafka"
        cat >"$DIR/rafka/server.properties" <<PROPS
listeners=$listeners
listener.security.protocol.map=$map
text.listener=127.0.0.1:$tport
http.listener=
log.dirs=$DIR/rafka/data
auto.create.topics.enable=false
offsets.topic.num.partitions=1
group.initial.rebalance.delay.ms=0
$(broker_props)
PROPS
        setsid "$RAFKA_BIN" serve --config "$DIR/rafka/server.properties" \
            >"$DIR/rafka/broker.log" 2>&1 </dev/null &
        RAFKA_PID=$!
        local deadline=$((SECONDS + 20))
        until port_open "$port" && port_open "$pport"; do
            kill -0 "$RAFKA_PID" 2>/dev/null && ((SECONDS < deadline)) \
                || { tail -5 "$DIR/rafka/broker.log"; return 1; }
            sleep 0.2
        done
    fi
    SASL_BOOTSTRAP="127.0.0.1:$pport"
}

stop_target() {
    if [[ "$1" == kafka ]]; then
        KAFKA_REF_STATE="$DIR/kafka/state" "$COMPAT_DIR/kafka-ref.sh" stop >/dev/null 2>&1
    else
        stop_pid "$RAFKA_PID" 15; RAFKA_PID=""
    fi
}

# ---------------------------------------------------------------- the checks
# acls WHO OUT ARGS...: kafka-acls as WHO
acls() {
    local who="$1" out="$2"; shift 2
    kafka_tool 60 org.apache.kafka.tools.AclCommand --bootstrap-server "$SASL_BOOTSTRAP" \
        --command-config "$DIR/$who.properties" "$@" >"$out" 2>&1
}

# acl_lines FILE: kafka-acls --list output as sorted "<resource> <principal> <op> <perm>"
acl_lines() {
    awk '/^Current ACLs for resource/ { match($0, /ResourcePattern\(.*\)/); r = substr($0, RSTART, RLENGTH); gsub(/ /, "", r); next }
         /principal=/ { p = $0; sub(/.*principal=/, "", p); sub(/,.*/, "", p)
                        o = $0; sub(/.*operation=/, "", o); sub(/,.*/, "", o)
                        m = $0; sub(/.*permissionType=/, "", m); sub(/\).*/, "", m)
                        print r, p, o, m }' "$1" | sort | paste -sd';' -
}

# tool_error FILE: the Kafka error a Java tool printed: its message naming the topics or
# group if there is one, else the exception's class
tool_error() {
    local e
    for e in 'Not authorized to access topics: \[[^]]*\]' 'Not authorized to access group: [^ ]*' \
        'Authorization failed\.' "Topic '[a-z]*' does not exist as expected" \
        'Not authorized to perform leader election' 'failed due to authorization failure' \
        '(Topic|Group|Cluster|TransactionalId)AuthorizationException'; do
        grep -o -m1 -E "$e" "$1" && return
    done
}

# produce WHO TOPIC OUT: one record with ConsoleProducer; "ok" or the error
produce() {
    echo "v-$2" | kafka_tool 60 org.apache.kafka.tools.ConsoleProducer --bootstrap-server "$SASL_BOOTSTRAP" \
        --command-config "$DIR/$1.properties" --topic "$2" --producer-property delivery.timeout.ms=8000 \
        --producer-property request.timeout.ms=5000 --producer-property max.block.ms=8000 >"$3" 2>&1
    local rc=$?
    if ((rc == 0)) && ! grep -q -E 'ERROR|Exception' "$3"; then echo ok; else echo "$(tool_error "$3")"; fi
}

# consume WHO GROUP OUT: ConsoleConsumer from the beginning of orders; the values or the error
consume() {
    kafka_tool 60 org.apache.kafka.tools.consumer.ConsoleConsumer --bootstrap-server "$SASL_BOOTSTRAP" \
        --command-config "$DIR/$1.properties" --group "$2" --topic orders --from-beginning \
        --max-messages 1 --timeout-ms 15000 >"$3" 2>"$3.err"
    if [[ -s "$3" ]]; then paste -sd, "$3"; else echo "$(tool_error "$3.err")"; fi
}

# tool_as WHO OUT CLASS ARGS...: a Kafka tool as WHO against the SASL listener
tool_as() {
    local who="$1" out="$2" class="$3"; shift 3
    kafka_tool 60 "$class" --bootstrap-server "$SASL_BOOTSTRAP" --command-config "$DIR/$who.properties" \
        "$@" >"$out" 2>&1
}

# the admin and config tools as alice (and one as admin): what each may do
more_checks() {
    local w="$1" out="$2" T=org.apache.kafka.tools
    tool_as alice "$w/describe-orders.out" $T.TopicCommand --describe --topic orders
    echo "describe-orders: $(grep -o -m1 'PartitionCount: [0-9]*' "$w/describe-orders.out")$(tool_error "$w/describe-orders.out")" >>"$out"
    tool_as alice "$w/describe-secret.out" $T.TopicCommand --describe --topic secret
    echo "describe-secret: rc=$? $(tool_error "$w/describe-secret.out")" >>"$out"
    tool_as alice "$w/configs-orders.out" kafka.admin.ConfigCommand --describe --entity-type topics --entity-name orders
    echo "configs-orders: rc=$? $(tool_error "$w/configs-orders.out")" >>"$out"
    tool_as alice "$w/alter-orders.out" kafka.admin.ConfigCommand --alter --entity-type topics \
        --entity-name orders --add-config retention.ms=600000
    echo "alter-orders: rc=$? $(tool_error "$w/alter-orders.out")" >>"$out"
    tool_as alice "$w/grow-orders.out" $T.TopicCommand --alter --topic orders --partitions 2
    echo "grow-orders: rc=$? $(tool_error "$w/grow-orders.out")" >>"$out"
    echo '{"partitions":[{"topic":"orders","partition":0,"offset":1}],"version":1}' >"$w/offsets.json"
    tool_as alice "$w/delete-records.out" $T.DeleteRecordsCommand --offset-json-file "$w/offsets.json"
    echo "delete-records: $(tool_error "$w/delete-records.out")" >>"$out"
    tool_as alice "$w/delete-group.out" $T.consumer.group.ConsumerGroupCommand --delete --group g
    echo "delete-group: $(tool_error "$w/delete-group.out")" >>"$out"
    tool_as alice "$w/log-dirs.out" $T.LogDirsCommand --describe
    echo "log-dirs: rc=$? $(tool_error "$w/log-dirs.out")" >>"$out"
    tool_as alice "$w/election.out" $T.LeaderElectionCommand --election-type preferred --all-topic-partitions
    echo "election: rc=$? $(tool_error "$w/election.out")" >>"$out"
    tool_as alice "$w/txn-describe.out" $T.TransactionsCommand describe --transactional-id t1
    echo "txn-describe: rc=$? $(tool_error "$w/txn-describe.out")" >>"$out"
    tool_as admin "$w/alter-admin.out" kafka.admin.ConfigCommand --alter --entity-type topics \
        --entity-name orders --add-config retention.ms=600000
    tool_as admin "$w/configs-admin.out" kafka.admin.ConfigCommand --describe --entity-type topics --entity-name orders
    echo "configs-admin: rc=$? $(grep -o -m1 'retention.ms=[0-9]*' "$w/configs-admin.out" | head -1)" >>"$out"
}

run_checks() {
    local t="$1" out="$DIR/$1.results" w="$DIR/$1"
    mkdir -p "$w"
    : >"$out"
    local topic
    for topic in orders secret payments; do
        kafka_tool 60 org.apache.kafka.tools.TopicCommand --bootstrap-server "$SASL_BOOTSTRAP" \
            --command-config "$DIR/admin.properties" --create --topic "$topic" --partitions 1 \
            --replication-factor 1 >"$w/create-$topic.out" 2>&1
    done
    acls admin "$w/add-topic.out" --add --allow-principal User:alice --operation Read \
        --operation Write --topic orders
    echo "add-topic: rc=$?" >>"$out"
    acls admin "$w/add-group.out" --add --allow-principal User:alice --operation Read --group g
    echo "add-group: rc=$?" >>"$out"
    acls admin "$w/add-prefixed.out" --add --allow-principal User:alice --operation Write \
        --topic pay --resource-pattern-type prefixed
    echo "add-prefixed: rc=$?" >>"$out"
    acls admin "$w/list-orders.out" --list --topic orders
    echo "list-orders: $(acl_lines "$w/list-orders.out")" >>"$out"
    acls admin "$w/list-all.out" --list
    echo "list-all: $(acl_lines "$w/list-all.out")" >>"$out"
    acls alice "$w/list-denied.out" --list
    echo "list-denied: rc=$? $(tool_error "$w/list-denied.out")" >>"$out"
    acls alice "$w/add-denied.out" --add --allow-principal User:alice --operation All --topic secret
    echo "add-denied: rc=$? $(tool_error "$w/add-denied.out")" >>"$out"
    kafka_tool 60 org.apache.kafka.tools.TopicCommand --bootstrap-server "$SASL_BOOTSTRAP" \
        --command-config "$DIR/alice.properties" --list >"$w/topics-alice.out" 2>&1
    echo "topics-alice: $(grep -v -E 'WARN|ERROR|^\s' "$w/topics-alice.out" | sort | paste -sd, -)" >>"$out"
    kafka_tool 60 org.apache.kafka.tools.TopicCommand --bootstrap-server "$SASL_BOOTSTRAP" \
        --command-config "$DIR/alice.properties" --create --topic mine --partitions 1 \
        --replication-factor 1 >"$w/create-denied.out" 2>&1
    echo "create-denied: rc=$? $(tool_error "$w/create-denied.out")" >>"$out"
    echo "produce-orders: $(produce alice orders "$w/produce-orders.out")" >>"$out"
    echo "produce-secret: $(produce alice secret "$w/produce-secret.out")" >>"$out"
    echo "produce-payments: $(produce alice payments "$w/produce-payments.out")" >>"$out"
    echo "consume-g: $(consume alice g "$w/consume-g")" >>"$out"
    echo "consume-h: $(consume alice h "$w/consume-h")" >>"$out"
    echo "consume-bob: $(consume bob g "$w/consume-bob")" >>"$out"
    more_checks "$w" "$out"
    acls admin "$w/remove.out" --remove --force --allow-principal User:alice --operation Write \
        --topic pay --resource-pattern-type prefixed
    echo "remove-prefixed: rc=$?" >>"$out"
    acls admin "$w/list-after.out" --list
    echo "list-after-remove: $(acl_lines "$w/list-after.out")" >>"$out"
    echo "produce-payments-after: $(produce alice payments "$w/produce-payments-after.out")" >>"$out"
}

# What Kafka answers, and so what both must answer (the oracle is checked too)
expected() {
    local orders='ResourcePattern(resourceType=TOPIC,name=orders,patternType=LITERAL)'
    local group='ResourcePattern(resourceType=GROUP,name=g,patternType=LITERAL)'
    local pay='ResourcePattern(resourceType=TOPIC,name=pay,patternType=PREFIXED)'
    cat <<EXP
add-topic: rc=0
add-group: rc=0
add-prefixed: rc=0
list-orders: $orders User:alice READ ALLOW;$orders User:alice WRITE ALLOW
list-all: $group User:alice READ ALLOW;$orders User:alice READ ALLOW;$orders User:alice WRITE ALLOW;$pay User:alice WRITE ALLOW
list-denied: rc=1 ClusterAuthorizationException
add-denied: rc=1 ClusterAuthorizationException
topics-alice: orders,payments
create-denied: rc=1 Authorization failed.
produce-orders: ok
produce-secret: Not authorized to access topics: [secret]
produce-payments: ok
consume-g: v-orders
consume-h: Not authorized to access group: h
consume-bob: Not authorized to access topics: [orders]
describe-orders: TopicAuthorizationException
describe-secret: rc=1 Topic 'secret' does not exist as expected
configs-orders: rc=1 TopicAuthorizationException
alter-orders: rc=1 TopicAuthorizationException
grow-orders: rc=1 TopicAuthorizationException
delete-records: TopicAuthorizationException
delete-group: GroupAuthorizationException
log-dirs: rc=1 ClusterAuthorizationException
election: rc=1 Not authorized to perform leader election
txn-describe: rc=1 failed due to authorization failure
configs-admin: rc=0 retention.ms=600000
remove-prefixed: rc=0
list-after-remove: $group User:alice READ ALLOW;$orders User:alice READ ALLOW;$orders User:alice WRITE ALLOW
produce-payments-after: Not authorized to access topics: [payments]
EXP
}

oracle_compare acls.sh
