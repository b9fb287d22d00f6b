#!/usr/bin/env bash
# SSL and SASL listeners (issue #18), Apache Kafka as the oracle: the same scenario against
# the reference Kafka and against Rafka, each started from Kafka's own keys (PLAINTEXT,
# SSL, SASL_PLAINTEXT and SASL_SSL listeners; the SSL one with listener.name.ssl.ssl.keystore.*
# PEM keys, a PEM truststore and ssl.client.auth=required; the SASL ones offering PLAIN to
# the users of their listener.name.<l>.plain.sasl.jaas.config), and every check must give
# the same answer on both:
#
#   tls1.2, tls1.3   openssl s_client with the client certificate: the version spoken and
#                    the server certificate verified against the CA
#   tls1.1           openssl s_client -tls1_1: refused
#   no-client-cert   kcat over SSL without a client certificate: refused
#   principal-tricky, principal-nobody
#                    ssl.principal.mapping.rules without DEFAULT, naming the subjects of
#                    the client certificates exactly (one with characters RFC 2253
#                    escapes): a client whose subject the broker writes as Java does is
#                    let in, one no rule names is refused
#   metadata         kcat -L over SSL: the broker advertised on its SSL port
#   create           Kafka's TopicCommand (AdminClient) over SSL, PEM keystore and
#                    truststore in --command-config
#   produce          Kafka's ConsoleProducer (Java), kcat (librdkafka on OpenSSL) and
#                    confluent-kafka (Python) write 100 records each over SSL
#   consume-java, consume-kcat, consume-python
#                    each client reads the 300 back over SSL, in order
#   sasl-metadata    kcat -L over SASL_PLAINTEXT as alice: advertised on the SASL port
#   sasl-wrong-kcat, sasl-wrong-java
#                    a wrong password: kcat is refused; Kafka's TopicCommand prints the
#                    broker's SASL_AUTHENTICATION_FAILED message
#   sasl-ssl-no-cert kcat over SASL_SSL without a client certificate: let in, the bare
#                    ssl.client.auth=required being for SSL listeners only (KIP-684)
#   sasl-create      TopicCommand over SASL_SSL (sasl.jaas.config in --command-config)
#   sasl-produce     ConsoleProducer and confluent-kafka over SASL_SSL, kcat and
#                    kafka-python over SASL_PLAINTEXT, 100 records each
#   sasl-consume-java, -kcat, -python, -kafka-python
#                    each reads the 400 back, in order
#   oauth-kcat, oauth-java
#                    OAUTHBEARER with unsecured tokens (KIP-255) over SASL_PLAINTEXT:
#                    kcat's own token (principal=alice) and Kafka's OAuthBearerLoginModule
#                    (unsecuredLoginStringClaim_sub) list the topics
#   scram-alter-twice, scram-alter, scram-alter-too-many, scram-describe,
#   scram-describe-nobody
#                    kafka-configs (ConfigCommand, AlterUserScramCredentials): both
#                    mechanisms in one request are refused (one alteration per user per
#                    request); one at a time, carol gets SCRAM-SHA-256 (8192 iterations)
#                    and SCRAM-SHA-512 credentials; 100000 iterations are refused;
#                    --describe lists carol's mechanisms (nothing for a user without any)
#   scram-login-512, scram-login-256, scram-login-wrong, scram-wrong-java
#                    confluent-kafka logs in as carol with each mechanism and its password,
#                    not with the other's; Kafka's TopicCommand prints the broker's SCRAM
#                    failure
#   scram-kcat-librdkafka-2.0
#                    kcat (Debian's librdkafka 2.0.2, which repeats the client nonce in its
#                    final message) is refused: Kafka 4 checks the nonce (CVE-2024-56128)
#   scram-create, scram-produce, scram-consume-java, -python
#                    TopicCommand and ConsoleProducer over SASL_SSL with SCRAM-SHA-512,
#                    confluent-kafka (SCRAM-SHA-256) and kafka-python (SCRAM-SHA-512) over
#                    SASL_PLAINTEXT write 100 records each; Java and confluent-kafka read
#                    them back over SASL_SSL
#   scram-delete, scram-describe-after-delete, scram-deleted-login-256
#                    kafka-configs --delete-config SCRAM-SHA-256: described no more, and
#                    carol's SCRAM-SHA-256 login is refused
#
#   compat-tests/tls.sh [--target rafka|kafka|both]     (default both)
#
# Needs what compat-tests/setup.sh installs (kcat, the Kafka jars, the Python venv) and
# openssl (installed with apt if missing). Certificates are made fresh with openssl for each run. Everything on loopback,
# every step bounded in time. Environment: RAFKA_BIN=path uses that binary instead of
# `cargo build --release`; KEEP=1 keeps the work dir (certificates, logs, outputs).
# Prints PASS or FAIL lines; exit code 0 only if every check passed on every target and
# Rafka answered as Kafka did.
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

TARGET=both
[[ "${1:-}" == --target ]] && TARGET="${2:?--target rafka|kafka|both}"
case "$TARGET" in rafka) TARGETS=(rafka) ;; kafka) TARGETS=(kafka) ;; both) TARGETS=(kafka rafka) ;;
    *) echo "--target rafka|kafka|both" >&2; exit 2 ;; esac
N=100

fail() { echo "FAIL: $*"; exit 1; }
command -v kcat >/dev/null 2>&1 || fail "kcat is missing: run compat-tests/setup.sh"
command -v openssl >/dev/null 2>&1 || apt_install openssl || fail "openssl is missing and could not be installed"
[[ -x "$VENV_PY" ]] || fail "no Python venv (confluent-kafka): run compat-tests/setup.sh"
[[ -d "$KAFKA_LIBS" ]] || fail "no Kafka jars in $KAFKA_LIBS: run compat-tests/setup.sh"
if [[ " ${TARGETS[*]} " == *" rafka "* && -z "${RAFKA_BIN:-}" ]]; then
    RAFKA_BIN="$REPO_DIR/target/release/rafka"
    echo "== cargo build --release --bin rafka"
    (cd "$REPO_DIR" && timeout 3600 cargo build --release --bin rafka -q) || fail "cargo build failed"
fi

DIR="$(mktemp -d /tmp/tls-test.XXXXXX)"
RAFKA_PID=""
cleanup() {
    [[ -n "$RAFKA_PID" ]] && stop_pid "$RAFKA_PID" 15
    KAFKA_REF_STATE="$DIR/kafka/state" "$COMPAT_DIR/kafka-ref.sh" stop >/dev/null 2>&1
    [[ -n "${KEEP:-}" ]] || rm -rf "$DIR"
}
trap cleanup EXIT

# ---------------------------------------------------------------- certificates
C="$DIR/certs"; mkdir -p "$C"
# tricky: a subject with characters RFC 2253 escapes (Java writes it
# CN=tricky\, client,OU=a\+b,O=compat); nobody: one no mapping rule names
make_certs "$C" server client 'tricky=/O=compat/OU=a\+b/CN=tricky, client' nobody \
    || fail "openssl could not make the certificates"

# The client side, as Kafka's Java clients take it
cat >"$DIR/client-ssl.properties" <<PROPS
security.protocol=SSL
ssl.truststore.type=PEM
ssl.truststore.location=$C/ca.pem
ssl.keystore.type=PEM
ssl.keystore.location=$C/client.pem
PROPS
cat >"$DIR/client-sasl-ssl.properties" <<PROPS
security.protocol=SASL_SSL
sasl.mechanism=PLAIN
sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="alice" password="alice-secret";
ssl.truststore.type=PEM
ssl.truststore.location=$C/ca.pem
PROPS
cat >"$DIR/client-oauth.properties" <<PROPS
security.protocol=SASL_PLAINTEXT
sasl.mechanism=OAUTHBEARER
sasl.jaas.config=org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required unsecuredLoginStringClaim_sub="alice";
PROPS
cat >"$DIR/client-scram.properties" <<PROPS
security.protocol=SASL_SSL
sasl.mechanism=SCRAM-SHA-512
sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="carol" password="carol-secret";
ssl.truststore.type=PEM
ssl.truststore.location=$C/ca.pem
PROPS
cat >"$DIR/client-scram-wrong.properties" <<PROPS
security.protocol=SASL_PLAINTEXT
sasl.mechanism=SCRAM-SHA-512
sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="carol" password="not-her-password";
PROPS
cat >"$DIR/client-sasl-wrong.properties" <<PROPS
security.protocol=SASL_PLAINTEXT
sasl.mechanism=PLAIN
sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="alice" password="not-her-password";
PROPS

# broker_ssl_props SSL_PORT: the SSL listener's keys, the same for both brokers
broker_ssl_props() {
    cat <<PROPS
listener.name.ssl.ssl.keystore.type=PEM
listener.name.ssl.ssl.keystore.location=$C/server.pem
ssl.truststore.type=PEM
ssl.truststore.location=$C/ca.pem
ssl.client.auth=required
PROPS
    # no DEFAULT: a client is let in only if its subject, as the broker writes it, matches
    # one of these exactly (the backslashes are Java's .properties escapes, then the regex's)
    cat <<'PROPS'
ssl.principal.mapping.rules=RULE:^CN=client,O=compat$/client/,RULE:^CN=tricky\\\\, client,OU=a\\\\\\+b,O=compat$/tricky/L
PROPS
    # SASL: PLAIN on both SASL listeners; SASL_SSL has its own keystore keys
    local jaas='org.apache.kafka.common.security.plain.PlainLoginModule required user_alice="alice-secret" user_admin="admin-secret";'
    local oauth='org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required;'
    local scram='org.apache.kafka.common.security.scram.ScramLoginModule required;'
    cat <<PROPS
sasl.enabled.mechanisms=PLAIN,OAUTHBEARER,SCRAM-SHA-256,SCRAM-SHA-512
listener.name.sasl_plaintext.plain.sasl.jaas.config=$jaas
listener.name.sasl_ssl.plain.sasl.jaas.config=$jaas
listener.name.sasl_plaintext.oauthbearer.sasl.jaas.config=$oauth
listener.name.sasl_ssl.oauthbearer.sasl.jaas.config=$oauth
listener.name.sasl_plaintext.scram-sha-256.sasl.jaas.config=$scram
listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config=$scram
listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config=$scram
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=$scram
listener.name.sasl_ssl.ssl.keystore.type=PEM
listener.name.sasl_ssl.ssl.keystore.location=$C/server.pem
PROPS
}

# ---------------------------------------------------------------- brokers
# distinct_ports N: N free ports, all different
distinct_ports() {
    local ports=() p
    while ((${#ports[@]} < $1)); do
        p="$(free_port)"
        [[ " ${ports[*]} " == *" $p "* ]] || ports+=("$p")
    done
    echo "${ports[@]}"
}

# start_target kafka|rafka: sets BOOTSTRAP (PLAINTEXT), SSL_BOOTSTRAP, SASL_BOOTSTRAP
# (SASL_PLAINTEXT) and SASL_SSL_BOOTSTRAP
start_target() {
    local t="$1" port sport cport tport pport xport
    read -r port sport cport tport pport xport <<<"$(distinct_ports 6)"
    local listeners="PLAINTEXT://127.0.0.1:$port,SSL://127.0.0.1:$sport,SASL_PLAINTEXT://127.0.0.1:$pport,SASL_SSL://127.0.0.1:$xport"
    local map="PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL"
    if [[ "$t" == kafka ]]; then
        local props
        props="listeners=$listeners,CONTROLLER://127.0.0.1:$cport
advertised.listeners=$listeners
listener.security.protocol.map=CONTROLLER:PLAINTEXT,$map
$(broker_ssl_props)"
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
$(broker_ssl_props)
PROPS
        setsid "$RAFKA_BIN" serve --config "$DIR/rafka/server.properties" \
            >"$DIR/rafka/broker.log" 2>&1 </dev/null &
        RAFKA_PID=$!
        local deadline=$((SECONDS + 20))
        until port_open "$port" && port_open "$sport" && port_open "$pport" && port_open "$xport"; do
            kill -0 "$RAFKA_PID" 2>/dev/null && ((SECONDS < deadline)) \
                || { tail -5 "$DIR/rafka/broker.log"; return 1; }
            sleep 0.2
        done
    fi
    BOOTSTRAP="127.0.0.1:$port"; SSL_BOOTSTRAP="127.0.0.1:$sport"
    SASL_BOOTSTRAP="127.0.0.1:$pport"; SASL_SSL_BOOTSTRAP="127.0.0.1:$xport"
}

stop_target() {
    if [[ "$1" == kafka ]]; then
        KAFKA_REF_STATE="$DIR/kafka/state" "$COMPAT_DIR/kafka-ref.sh" stop >/dev/null 2>&1
    else
        stop_pid "$RAFKA_PID" 15; RAFKA_PID=""
    fi
}

# ---------------------------------------------------------------- the checks
KCAT_SSL=(-X security.protocol=ssl -X "ssl.ca.location=$C/ca.pem")
# confluent-kafka (lib/ck_records.py), with the client properties of each listener
CK="$COMPAT_DIR/lib/ck_records.py"
CK_SSL="{\"security.protocol\": \"ssl\", \"ssl.ca.location\": \"$C/ca.pem\",
    \"ssl.certificate.location\": \"$C/client.crt\", \"ssl.key.location\": \"$C/client.key\"}"
CK_SASL_SSL="{\"security.protocol\": \"sasl_ssl\", \"sasl.mechanism\": \"PLAIN\",
    \"sasl.username\": \"alice\", \"sasl.password\": \"alice-secret\", \"ssl.ca.location\": \"$C/ca.pem\"}"
KCAT_CERT=(-X "ssl.certificate.location=$C/client.crt" -X "ssl.key.location=$C/client.key")

# s_client ARGS...: "<protocol> verify=<code>" of a handshake, or "refused"
s_client() {
    local out
    out="$(timeout 15 openssl s_client -connect "$SSL_BOOTSTRAP" -servername localhost \
        -CAfile "$C/ca.pem" -cert "$C/client.crt" -key "$C/client.key" "$@" </dev/null 2>&1)" \
        || { echo refused; return; }
    local proto verify
    proto="$(sed -n 's/^ *Protocol *: *//p' <<<"$out" | head -1)"
    [[ -n "$proto" ]] || proto="$(sed -n 's/^New, \(TLSv[0-9.]*\),.*/\1/p' <<<"$out" | head -1)"
    verify="$(sed -n 's/^ *Verify return code: \([0-9]*\).*/\1/p' <<<"$out" | tail -1)"
    echo "$proto verify=$verify"
}

# run_checks TARGET: one "check: answer" line per check in $DIR/TARGET.results
run_checks() {
    local t="$1" out="$DIR/$1.results" w="$DIR/$1"
    mkdir -p "$w"
    : >"$out"
    {
        echo "tls1.2: $(s_client -tls1_2)"
        echo "tls1.3: $(s_client -tls1_3)"
        echo "tls1.1: $(s_client -tls1_1 -cipher 'DEFAULT:@SECLEVEL=0')"
    } >>"$out"
    if timeout 30 kcat -b "$SSL_BOOTSTRAP" "${KCAT_SSL[@]}" -L -m 8 >"$w/nocert.out" 2>&1; then
        echo "no-client-cert: served" >>"$out"
    else
        echo "no-client-cert: refused" >>"$out"
    fi
    local who
    for who in tricky nobody; do
        if timeout 30 kcat -b "$SSL_BOOTSTRAP" "${KCAT_SSL[@]}" -X "ssl.certificate.location=$C/$who.crt" \
            -X "ssl.key.location=$C/$who.key" -L -m 8 >"$w/$who.out" 2>&1; then
            echo "principal-$who: served" >>"$out"
        else
            echo "principal-$who: refused" >>"$out"
        fi
    done
    local md
    md="$(timeout 30 kcat -b "$SSL_BOOTSTRAP" "${KCAT_SSL[@]}" "${KCAT_CERT[@]}" -L -m 15 2>&1 \
        | sed -n 's/^ *broker [0-9]* at \([^ ]*\).*/\1/p' | head -1)"
    echo "metadata: ${md/$SSL_BOOTSTRAP/SSL-PORT}" >>"$out"

    kafka_tool 90 org.apache.kafka.tools.TopicCommand --bootstrap-server "$SSL_BOOTSTRAP" \
        --command-config "$DIR/client-ssl.properties" --create --topic tls-records \
        --partitions 1 --replication-factor 1 >"$w/create.out" 2>&1
    echo "create: rc=$? $(grep -o 'Created topic tls-records' "$w/create.out")" >>"$out"

    seq 1 "$N" | sed 's/^/java-/' >"$w/java.in"
    kafka_tool 90 org.apache.kafka.tools.ConsoleProducer --bootstrap-server "$SSL_BOOTSTRAP" \
        --command-config "$DIR/client-ssl.properties" --topic tls-records \
        <"$w/java.in" >"$w/produce-java.out" 2>&1
    local java_rc=$?
    seq 1 "$N" | sed 's/^/kcat-/' | timeout 60 kcat -b "$SSL_BOOTSTRAP" "${KCAT_SSL[@]}" \
        "${KCAT_CERT[@]}" -P -t tls-records -X acks=all >"$w/produce-kcat.out" 2>&1
    local kcat_rc=$?
    timeout 60 "$VENV_PY" "$CK" produce "$SSL_BOOTSTRAP" tls-records py "$N" "$CK_SSL" \
        >"$w/produce-py.out" 2>&1
    echo "produce: java rc=$java_rc kcat rc=$kcat_rc python rc=$?" >>"$out"

    { seq 1 "$N" | sed 's/^/java-/'; seq 1 "$N" | sed 's/^/kcat-/'; seq 1 "$N" | sed 's/^/py-/'; } \
        >"$w/expected"
    kafka_tool 90 org.apache.kafka.tools.consumer.ConsoleConsumer --bootstrap-server "$SSL_BOOTSTRAP" \
        --command-config "$DIR/client-ssl.properties" --topic tls-records --from-beginning \
        --max-messages $((3 * N)) --timeout-ms 20000 >"$w/consume-java" 2>"$w/consume-java.err"
    timeout 60 kcat -b "$SSL_BOOTSTRAP" "${KCAT_SSL[@]}" "${KCAT_CERT[@]}" -C -t tls-records \
        -o beginning -e -q >"$w/consume-kcat" 2>"$w/consume-kcat.err"
    timeout 60 "$VENV_PY" "$CK" consume "$SSL_BOOTSTRAP" tls-records $((3 * N)) "$CK_SSL" \
        >"$w/consume-python" 2>"$w/consume-python.err"
    for who in java kcat python; do
        if cmp -s "$w/expected" "$w/consume-$who"; then
            echo "consume-$who: $((3 * N)) in order" >>"$out"
        else
            echo "consume-$who: $(wc -l <"$w/consume-$who") lines, not the $((3 * N)) produced" >>"$out"
        fi
    done
    sasl_checks "$t"
    scram_checks "$t"
}

KCAT_SASL=(-X security.protocol=sasl_plaintext -X sasl.mechanisms=PLAIN -X sasl.username=alice
    -X sasl.password=alice-secret)
KCAT_SASL_SSL=(-X security.protocol=sasl_ssl -X sasl.mechanisms=PLAIN -X sasl.username=alice
    -X sasl.password=alice-secret -X "ssl.ca.location=$C/ca.pem")

# sasl_checks TARGET: the SASL lines of $DIR/TARGET.results
sasl_checks() {
    local t="$1" out="$DIR/$1.results" w="$DIR/$1"
    local md
    md="$(timeout 30 kcat -b "$SASL_BOOTSTRAP" "${KCAT_SASL[@]}" -L -m 15 2>&1 \
        | sed -n 's/^ *broker [0-9]* at \([^ ]*\).*/\1/p' | head -1)"
    echo "sasl-metadata: ${md/$SASL_BOOTSTRAP/SASL-PORT}" >>"$out"
    if timeout 30 kcat -b "$SASL_BOOTSTRAP" -X security.protocol=sasl_plaintext -X sasl.mechanisms=PLAIN \
        -X sasl.username=alice -X sasl.password=not-her-password -L -m 8 >"$w/sasl-wrong-kcat.out" 2>&1; then
        echo "sasl-wrong-kcat: served" >>"$out"
    else
        echo "sasl-wrong-kcat: refused" >>"$out"
    fi
    kafka_tool 60 org.apache.kafka.tools.TopicCommand --bootstrap-server "$SASL_BOOTSTRAP" \
        --command-config "$DIR/client-sasl-wrong.properties" --list >"$w/sasl-wrong-java.out" 2>&1
    echo "sasl-wrong-java: $(grep -o -m1 'Authentication failed: Invalid username or password' "$w/sasl-wrong-java.out")" >>"$out"
    if timeout 30 kcat -b "$SASL_SSL_BOOTSTRAP" "${KCAT_SASL_SSL[@]}" -L -m 8 >"$w/sasl-ssl-nocert.out" 2>&1; then
        echo "sasl-ssl-no-cert: served" >>"$out"
    else
        echo "sasl-ssl-no-cert: refused" >>"$out"
    fi

    kafka_tool 90 org.apache.kafka.tools.TopicCommand --bootstrap-server "$SASL_SSL_BOOTSTRAP" \
        --command-config "$DIR/client-sasl-ssl.properties" --create --topic sasl-records \
        --partitions 1 --replication-factor 1 >"$w/sasl-create.out" 2>&1
    echo "sasl-create: rc=$? $(grep -o 'Created topic sasl-records' "$w/sasl-create.out")" >>"$out"

    seq 1 "$N" | sed 's/^/java-/' | kafka_tool 90 org.apache.kafka.tools.ConsoleProducer \
        --bootstrap-server "$SASL_SSL_BOOTSTRAP" --command-config "$DIR/client-sasl-ssl.properties" \
        --topic sasl-records >"$w/sasl-produce-java.out" 2>&1
    local java_rc=$?
    seq 1 "$N" | sed 's/^/kcat-/' | timeout 60 kcat -b "$SASL_BOOTSTRAP" "${KCAT_SASL[@]}" \
        -P -t sasl-records -X acks=all >"$w/sasl-produce-kcat.out" 2>&1
    local kcat_rc=$?
    timeout 60 "$VENV_PY" "$CK" produce "$SASL_SSL_BOOTSTRAP" sasl-records py "$N" "$CK_SASL_SSL" \
        >"$w/sasl-produce-py.out" 2>&1
    local py_rc=$?
    timeout 90 "$VENV_PY" - "$SASL_BOOTSTRAP" "$N" >"$w/sasl-produce-kafka-python.out" 2>&1 <<'PY'
import sys
from kafka import KafkaProducer
bootstrap, n = sys.argv[1], int(sys.argv[2])
p = KafkaProducer(bootstrap_servers=bootstrap, security_protocol="SASL_PLAINTEXT",
                  sasl_mechanism="PLAIN", sasl_plain_username="alice",
                  sasl_plain_password="alice-secret", acks="all")
for i in range(1, n + 1):
    p.send("sasl-records", f"kp-{i}".encode()).get(timeout=30)
p.close()
PY
    echo "sasl-produce: java rc=$java_rc kcat rc=$kcat_rc python rc=$py_rc kafka-python rc=$?" >>"$out"

    { seq 1 "$N" | sed 's/^/java-/'; seq 1 "$N" | sed 's/^/kcat-/'; seq 1 "$N" | sed 's/^/py-/'
      seq 1 "$N" | sed 's/^/kp-/'; } >"$w/sasl-expected"
    kafka_tool 90 org.apache.kafka.tools.consumer.ConsoleConsumer --bootstrap-server "$SASL_SSL_BOOTSTRAP" \
        --command-config "$DIR/client-sasl-ssl.properties" --topic sasl-records --from-beginning \
        --max-messages $((4 * N)) --timeout-ms 20000 >"$w/sasl-consume-java" 2>"$w/sasl-consume-java.err"
    timeout 60 kcat -b "$SASL_BOOTSTRAP" "${KCAT_SASL[@]}" -C -t sasl-records \
        -o beginning -e -q >"$w/sasl-consume-kcat" 2>"$w/sasl-consume-kcat.err"
    timeout 60 "$VENV_PY" "$CK" consume "$SASL_SSL_BOOTSTRAP" sasl-records $((4 * N)) "$CK_SASL_SSL" \
        >"$w/sasl-consume-python" 2>"$w/sasl-consume-python.err"
    timeout 90 "$VENV_PY" - "$SASL_BOOTSTRAP" $((4 * N)) >"$w/sasl-consume-kafka-python" \
        2>"$w/sasl-consume-kafka-python.err" <<'PY'
import sys, time
from kafka import KafkaConsumer, TopicPartition
bootstrap, n = sys.argv[1], int(sys.argv[2])
c = KafkaConsumer(bootstrap_servers=bootstrap, security_protocol="SASL_PLAINTEXT",
                  sasl_mechanism="PLAIN", sasl_plain_username="alice",
                  sasl_plain_password="alice-secret", enable_auto_commit=False)
tp = TopicPartition("sasl-records", 0)
c.assign([tp])
c.seek_to_beginning(tp)
got = []
deadline = time.monotonic() + 40
while len(got) < n and time.monotonic() < deadline:
    for records in c.poll(timeout_ms=500).values():
        got.extend(r.value.decode() for r in records)
c.close()
print("\n".join(got))
PY
    local oauth
    oauth="$(timeout 30 kcat -b "$SASL_BOOTSTRAP" -X security.protocol=sasl_plaintext \
        -X sasl.mechanisms=OAUTHBEARER -X enable.sasl.oauthbearer.unsecure.jwt=true \
        -X sasl.oauthbearer.config=principal=alice -L -m 15 2>"$w/oauth-kcat.err" \
        | sed -n 's/^ *broker [0-9]* at \([^ ]*\).*/\1/p' | head -1)"
    echo "oauth-kcat: ${oauth/$SASL_BOOTSTRAP/SASL-PORT}" >>"$out"
    kafka_tool 60 org.apache.kafka.tools.TopicCommand --bootstrap-server "$SASL_BOOTSTRAP" \
        --command-config "$DIR/client-oauth.properties" --list >"$w/oauth-java.out" 2>&1
    echo "oauth-java: rc=$? $(grep -x -m1 'sasl-records' "$w/oauth-java.out")" >>"$out"
    for who in java kcat python kafka-python; do
        if cmp -s "$w/sasl-expected" "$w/sasl-consume-$who"; then
            echo "sasl-consume-$who: $((4 * N)) in order" >>"$out"
        else
            echo "sasl-consume-$who: $(wc -l <"$w/sasl-consume-$who") lines, not the $((4 * N)) produced" >>"$out"
        fi
    done
}

KCAT_SCRAM=(-X security.protocol=sasl_plaintext -X sasl.mechanisms=SCRAM-SHA-512 -X sasl.username=carol
    -X sasl.password=carol-secret)
# ck_scram MECHANISM PASSWORD [sasl_plaintext|sasl_ssl]: confluent-kafka's properties for carol
ck_scram() {
    local ssl=""
    [[ "${3:-sasl_plaintext}" == sasl_ssl ]] && ssl=", \"ssl.ca.location\": \"$C/ca.pem\""
    echo "{\"security.protocol\": \"${3:-sasl_plaintext}\", \"sasl.mechanism\": \"$1\",
        \"sasl.username\": \"carol\", \"sasl.password\": \"$2\"$ssl}"
}

# ck_login MECHANISM PASSWORD [TRIES]: whether confluent-kafka logs in as carol on the
# SASL_PLAINTEXT port (the endpoint its metadata names, as SASL-PORT) or is refused; tried
# up to TRIES (5) times while refused, as a broker may apply a committed credential a
# moment after the controller answered
ck_login() {
    local got i
    for ((i = 0; i < ${3:-5}; i++)); do
        got="$(timeout 20 "$VENV_PY" "$CK" login "$SASL_BOOTSTRAP" "$(ck_scram "$1" "$2")" 2>/dev/null)"
        [[ "$got" == "$SASL_BOOTSTRAP" ]] && { echo SASL-PORT; return; }
        sleep 1
    done
    echo "${got:-refused}"
}

# scram_describe TARGET NAME: kafka-configs' description of NAME's SCRAM credentials, the
# mechanisms sorted (Kafka lists them in hash order)
scram_describe() {
    kafka_tool 60 kafka.admin.ConfigCommand --bootstrap-server "$BOOTSTRAP" --describe \
        --entity-type users --entity-name "$2" >"$DIR/$1/scram-describe-$2.out" 2>&1
    local line
    line="$(grep -m1 "SCRAM credential configs for user-principal '$2'" "$DIR/$1/scram-describe-$2.out")"
    if [[ "$line" == *" are "* ]]; then
        echo "${line%% are *} are $(echo "${line#* are }" | tr -d ' ' | tr ',' '\n' | sort | paste -sd' ' -)"
    else
        echo "${line:-(nothing)}"
    fi
}

# scram_checks TARGET: the SCRAM lines of $DIR/TARGET.results: credentials made and removed
# with kafka-configs (AlterUserScramCredentials), then the clients log in with them
scram_checks() {
    local t="$1" out="$DIR/$1.results" w="$DIR/$1"
    # both mechanisms in one request: a user may be altered once per request
    kafka_tool 60 kafka.admin.ConfigCommand --bootstrap-server "$BOOTSTRAP" --alter \
        --entity-type users --entity-name carol \
        --add-config 'SCRAM-SHA-256=[iterations=8192,password=carol-256],SCRAM-SHA-512=[password=carol-secret]' \
        >"$w/scram-alter-twice.out" 2>&1
    echo "scram-alter-twice: rc=$? $(grep -o -m1 'A user credential cannot be altered twice in the same request' "$w/scram-alter-twice.out")" >>"$out"
    local rcs=() m
    for m in 'SCRAM-SHA-256=[iterations=8192,password=carol-256]' 'SCRAM-SHA-512=[password=carol-secret]'; do
        kafka_tool 60 kafka.admin.ConfigCommand --bootstrap-server "$BOOTSTRAP" --alter \
            --entity-type users --entity-name carol --add-config "$m" >>"$w/scram-alter.out" 2>&1
        rcs+=("$?")
    done
    echo "scram-alter: rc=${rcs[*]} $(grep -c 'Completed updating config for user carol.' "$w/scram-alter.out")" >>"$out"
    kafka_tool 60 kafka.admin.ConfigCommand --bootstrap-server "$BOOTSTRAP" --alter \
        --entity-type users --entity-name weak --add-config 'SCRAM-SHA-512=[iterations=100000,password=x]' \
        >"$w/scram-alter-weak.out" 2>&1
    echo "scram-alter-too-many: rc=$? $(grep -o -m1 'Too many iterations' "$w/scram-alter-weak.out")" >>"$out"
    echo "scram-describe: $(scram_describe "$t" carol)" >>"$out"
    echo "scram-describe-nobody: $(scram_describe "$t" nobody)" >>"$out"
    echo "scram-login-512: $(ck_login SCRAM-SHA-512 carol-secret)" >>"$out"
    echo "scram-login-256: $(ck_login SCRAM-SHA-256 carol-256)" >>"$out"
    echo "scram-login-wrong: $(ck_login SCRAM-SHA-512 carol-256 1)" >>"$out"
    # kcat's librdkafka 2.0.2 (Debian's) sends the client nonce twice in its final
    # message (fixed in librdkafka 2.6.1); Kafka 4 checks the nonce as RFC 5802 says
    # (CVE-2024-56128), and refuses it
    if timeout 20 kcat -b "$SASL_BOOTSTRAP" "${KCAT_SCRAM[@]}" -L -m 3 >"$w/scram-kcat.out" 2>&1; then
        echo "scram-kcat-librdkafka-2.0: served" >>"$out"
    else
        echo "scram-kcat-librdkafka-2.0: refused" >>"$out"
    fi
    kafka_tool 60 org.apache.kafka.tools.TopicCommand --bootstrap-server "$SASL_BOOTSTRAP" \
        --command-config "$DIR/client-scram-wrong.properties" --list >"$w/scram-wrong-java.out" 2>&1
    echo "scram-wrong-java: $(grep -o -m1 'Authentication failed during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-512' "$w/scram-wrong-java.out")" >>"$out"

    kafka_tool 90 org.apache.kafka.tools.TopicCommand --bootstrap-server "$SASL_SSL_BOOTSTRAP" \
        --command-config "$DIR/client-scram.properties" --create --topic scram-records \
        --partitions 1 --replication-factor 1 >"$w/scram-create.out" 2>&1
    echo "scram-create: rc=$? $(grep -o 'Created topic scram-records' "$w/scram-create.out")" >>"$out"
    seq 1 "$N" | sed 's/^/java-/' | kafka_tool 90 org.apache.kafka.tools.ConsoleProducer \
        --bootstrap-server "$SASL_SSL_BOOTSTRAP" --command-config "$DIR/client-scram.properties" \
        --topic scram-records >"$w/scram-produce-java.out" 2>&1
    local java_rc=$?
    timeout 60 "$VENV_PY" "$CK" produce "$SASL_BOOTSTRAP" scram-records py "$N" \
        "$(ck_scram SCRAM-SHA-256 carol-256)" >"$w/scram-produce-py.out" 2>&1
    local py_rc=$?
    timeout 90 "$VENV_PY" - "$SASL_BOOTSTRAP" "$N" >"$w/scram-produce-kafka-python.out" 2>&1 <<'PY'
import sys
from kafka import KafkaProducer
bootstrap, n = sys.argv[1], int(sys.argv[2])
p = KafkaProducer(bootstrap_servers=bootstrap, security_protocol="SASL_PLAINTEXT",
                  sasl_mechanism="SCRAM-SHA-512", sasl_plain_username="carol",
                  sasl_plain_password="carol-secret", acks="all")
for i in range(1, n + 1):
    p.send("scram-records", f"kp-{i}".encode()).get(timeout=30)
p.close()
PY
    echo "scram-produce: java rc=$java_rc python rc=$py_rc kafka-python rc=$?" >>"$out"
    { seq 1 "$N" | sed 's/^/java-/'; seq 1 "$N" | sed 's/^/py-/'; seq 1 "$N" | sed 's/^/kp-/'; } \
        >"$w/scram-expected"
    kafka_tool 90 org.apache.kafka.tools.consumer.ConsoleConsumer --bootstrap-server "$SASL_SSL_BOOTSTRAP" \
        --command-config "$DIR/client-scram.properties" --topic scram-records --from-beginning \
        --max-messages $((3 * N)) --timeout-ms 20000 >"$w/scram-consume-java" 2>"$w/scram-consume-java.err"
    timeout 60 "$VENV_PY" "$CK" consume "$SASL_SSL_BOOTSTRAP" scram-records $((3 * N)) \
        "$(ck_scram SCRAM-SHA-512 carol-secret sasl_ssl)" \
        >"$w/scram-consume-python" 2>"$w/scram-consume-python.err"
    for who in java python; do
        if cmp -s "$w/scram-expected" "$w/scram-consume-$who"; then
            echo "scram-consume-$who: $((3 * N)) in order" >>"$out"
        else
            echo "scram-consume-$who: $(wc -l <"$w/scram-consume-$who") lines, not the $((3 * N)) produced" >>"$out"
        fi
    done

    kafka_tool 60 kafka.admin.ConfigCommand --bootstrap-server "$BOOTSTRAP" --alter \
        --entity-type users --entity-name carol --delete-config SCRAM-SHA-256 \
        >"$w/scram-delete.out" 2>&1
    echo "scram-delete: rc=$? $(grep -o -m1 'Completed updating config for user carol.' "$w/scram-delete.out")" >>"$out"
    echo "scram-describe-after-delete: $(scram_describe "$t" carol)" >>"$out"
    echo "scram-deleted-login-256: $(timeout 20 "$VENV_PY" "$CK" login "$SASL_BOOTSTRAP" \
        "$(ck_scram SCRAM-SHA-256 carol-256)" 2>/dev/null)" >>"$out"
}

# What Kafka answers, and so what both must answer (the oracle is checked too: a
# scenario is trusted once it passes against Kafka)
expected() {
    cat <<EXP
tls1.2: TLSv1.2 verify=0
tls1.3: TLSv1.3 verify=0
tls1.1: refused
no-client-cert: refused
principal-tricky: served
principal-nobody: refused
metadata: SSL-PORT
create: rc=0 Created topic tls-records
produce: java rc=0 kcat rc=0 python rc=0
consume-java: $((3 * N)) in order
consume-kcat: $((3 * N)) in order
consume-python: $((3 * N)) in order
sasl-metadata: SASL-PORT
sasl-wrong-kcat: refused
sasl-wrong-java: Authentication failed: Invalid username or password
sasl-ssl-no-cert: served
sasl-create: rc=0 Created topic sasl-records
sasl-produce: java rc=0 kcat rc=0 python rc=0 kafka-python rc=0
sasl-consume-java: $((4 * N)) in order
sasl-consume-kcat: $((4 * N)) in order
sasl-consume-python: $((4 * N)) in order
sasl-consume-kafka-python: $((4 * N)) in order
oauth-kcat: SASL-PORT
oauth-java: rc=0 sasl-records
scram-alter-twice: rc=1 A user credential cannot be altered twice in the same request
scram-alter: rc=0 0 2
scram-alter-too-many: rc=1 Too many iterations
scram-describe: SCRAM credential configs for user-principal 'carol' are SCRAM-SHA-256=iterations=8192 SCRAM-SHA-512=iterations=4096
scram-describe-nobody: (nothing)
scram-login-512: SASL-PORT
scram-login-256: SASL-PORT
scram-login-wrong: refused
scram-kcat-librdkafka-2.0: refused
scram-wrong-java: Authentication failed during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-512
scram-create: rc=0 Created topic scram-records
scram-produce: java rc=0 python rc=0 kafka-python rc=0
scram-consume-java: $((3 * N)) in order
scram-consume-python: $((3 * N)) in order
scram-delete: rc=0 Completed updating config for user carol.
scram-describe-after-delete: SCRAM credential configs for user-principal 'carol' are SCRAM-SHA-512=iterations=4096
scram-deleted-login-256: refused
EXP
}

oracle_compare tls.sh
