#!/usr/bin/env bash
# Installs everything the compatibility suite and the README's examples need.
# Idempotent: a second run only checks that the pieces are there (a few seconds).
#   - kcat (Debian's package, librdkafka 2.0), nc, curl, and Java + Maven if missing (apt)
#   - Apache Kafka 4.x broker + tools jars, Kafka Connect's file connectors and
#     MirrorMaker 2 (frameworks.sh), Kafka Streams (transactions.sh)
#                                           -> compat-tests/.work/kafka-libs
#   - kafka-topics.sh, kafka-console-producer.sh, kafka-console-consumer.sh
#     (wrappers running those jars)         -> compat-tests/.work/bin (put it on PATH)
#   - Python venv with the pinned clients    -> compat-tests/.work/venv
#   - a version summary                       -> compat-tests/.work/versions.env
#   - the franz-go (Go) driver, clients/franz-go/build.sh -> compat-tests/.work/franz-go
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
WORK="$HERE/.work"
mkdir -p "$WORK"
log() { printf 'setup: %s\n' "$*" >&2; }

# ---------------------------------------------------------------- kcat, nc, Java, Maven
# apt packages for the commands that are missing (sudo when not root)
APT_PACKAGES=()
command -v kcat >/dev/null 2>&1 || APT_PACKAGES+=(kcat)
command -v nc >/dev/null 2>&1 || APT_PACKAGES+=(netcat-openbsd)
# the README's examples of the HTTP listener
command -v curl >/dev/null 2>&1 || APT_PACKAGES+=(curl)
command -v java >/dev/null 2>&1 || APT_PACKAGES+=(default-jre-headless)
command -v mvn >/dev/null 2>&1 || APT_PACKAGES+=(maven)
if ((${#APT_PACKAGES[@]})); then
    log "installing ${APT_PACKAGES[*]} (apt)"
    SUDO=(); [[ $(id -u) == 0 ]] || SUDO=(sudo)
    command -v apt-get >/dev/null 2>&1 \
        || { log "no apt-get: install ${APT_PACKAGES[*]} yourself (see README.md, Prerequisites)"; exit 1; }
    export DEBIAN_FRONTEND=noninteractive
    timeout 300 "${SUDO[@]}" apt-get update -q >"$WORK/apt.log" 2>&1 || { cat "$WORK/apt.log" >&2; exit 1; }
    timeout 600 "${SUDO[@]}" apt-get install -y -q "${APT_PACKAGES[@]}" >>"$WORK/apt.log" 2>&1 \
        || { cat "$WORK/apt.log" >&2; exit 1; }
fi

# ---------------------------------------------------------------- Kafka jars
# Preference order: newest 4.3.x first, then older 4.x releases. The first one
# that resolves from Maven Central wins; KAFKA_VERSION=x.y.z forces one.
KAFKA_CANDIDATES="${KAFKA_VERSION:-4.3.1 4.3.0 4.2.0 4.1.1 4.1.0 4.0.1 4.0.0}"
LIBS="$WORK/kafka-libs"
if [[ -f "$LIBS/.complete" && -z "${KAFKA_VERSION:-}" ]] \
   || [[ -f "$LIBS/.complete" && "$(cat "$LIBS/.complete")" == "${KAFKA_VERSION:-}" ]]; then
    :
else
    rm -rf "$LIBS" "$LIBS.tmp"
    got=""
    for v in $KAFKA_CANDIDATES; do
        log "fetching Apache Kafka $v jars (maven)"
        if timeout 900 mvn -B -q -f "$HERE/pom.xml" -Dkafka.version="$v" \
               -Dkafka.libs.dir="$LIBS.tmp" dependency:copy-dependencies >"$WORK/mvn.log" 2>&1; then
            got="$v"; break
        fi
        log "Kafka $v did not resolve (see $WORK/mvn.log)"
        rm -rf "$LIBS.tmp"
    done
    [[ -n "$got" ]] || { log "no Kafka 4.x version could be fetched"; tail -20 "$WORK/mvn.log" >&2; exit 1; }
    echo "$got" >"$LIBS.tmp/.complete"
    mv "$LIBS.tmp" "$LIBS"
fi
KAFKA_VER="$(cat "$LIBS/.complete")"
# jars added to pom.xml after a kafka-libs was fetched (connect-file and connect-mirror,
# for frameworks.sh; kafka-streams, for transactions.sh): fetched into it, same Kafka version
for jar in "connect-file-$KAFKA_VER.jar" "connect-mirror-$KAFKA_VER.jar" "kafka-streams-$KAFKA_VER.jar"; do
    [[ -f "$LIBS/$jar" ]] && continue
    log "fetching the jars pom.xml lists that $LIBS lacks ($jar) (maven)"
    timeout 900 mvn -B -q -f "$HERE/pom.xml" -Dkafka.version="$KAFKA_VER" \
        -Dkafka.libs.dir="$LIBS" dependency:copy-dependencies >"$WORK/mvn.log" 2>&1 \
        || { log "could not fetch them (see $WORK/mvn.log)"; tail -20 "$WORK/mvn.log" >&2; exit 1; }
    break
done
# sanity: the classes the suite launches must be there
for jar in "kafka_2.13-$KAFKA_VER.jar" "kafka-tools-$KAFKA_VER.jar"; do
    [[ -f "$LIBS/$jar" ]] || { log "missing $LIBS/$jar; delete $LIBS and rerun"; exit 1; }
done

# ---------------------------------------------------------------- Kafka's command-line tools
# The README's examples call kafka-topics.sh and the console producer and consumer, as
# Kafka's distribution names them: small wrappers running the tool classes from the jars
# above (quiet: WARN and up on stderr). `export PATH="$PWD/compat-tests/.work/bin:$PATH"`.
# shellcheck source=lib/common.sh
source "$HERE/lib/common.sh"
mkdir -p "$WORK/bin"
kafka_wrapper() {  # NAME CLASS
    {
        echo '#!/usr/bin/env bash'
        echo "# written by compat-tests/setup.sh: Apache Kafka $KAFKA_VER's $1"
        printf 'exec java'
        printf ' %q' "${KAFKA_TOOL_JVM_OPTS[@]}" "-cp" "$LIBS/*" "$2"
        echo ' "$@"'
    } >"$WORK/bin/$1.tmp"
    chmod +x "$WORK/bin/$1.tmp"
    mv "$WORK/bin/$1.tmp" "$WORK/bin/$1"
}
kafka_wrapper kafka-topics.sh org.apache.kafka.tools.TopicCommand
kafka_wrapper kafka-console-producer.sh org.apache.kafka.tools.ConsoleProducer
kafka_wrapper kafka-console-consumer.sh org.apache.kafka.tools.consumer.ConsoleConsumer

# ---------------------------------------------------------------- Python venv
VENV="$WORK/venv"
REQ_SUM="$(sha256sum "$HERE/requirements.txt" | cut -c1-16)"
if [[ ! -f "$VENV/.complete" || "$(cat "$VENV/.complete")" != "$REQ_SUM" ]]; then
    log "creating Python venv with $(grep -c '==' "$HERE/requirements.txt") pinned packages (pip)"
    rm -rf "$VENV"
    timeout 120 python3 -m venv "$VENV"
    timeout 900 "$VENV/bin/pip" install -q --disable-pip-version-check -r "$HERE/requirements.txt" \
        >"$WORK/pip.log" 2>&1 || { tail -20 "$WORK/pip.log" >&2; exit 1; }
    echo "$REQ_SUM" >"$VENV/.complete"
fi

# ---------------------------------------------------------------- versions
{
    echo "KAFKA_VERSION=$KAFKA_VER"
    kcat -V 2>/dev/null | sed -n 's/^Version \([^ ]*\) .*librdkafka \([^ ]*\) .*/KCAT_VERSION=\1\nKCAT_LIBRDKAFKA_VERSION=\2/p'
    echo "KCAT_DEB_VERSION=$(dpkg-query -W -f='${Version}' kcat 2>/dev/null || echo unknown)"
    "$VENV/bin/python" - <<'PY'
import confluent_kafka, kafka
v = confluent_kafka.version()
print("CONFLUENT_KAFKA_VERSION=%s" % (v[0] if isinstance(v, tuple) else v))
print("CONFLUENT_LIBRDKAFKA_VERSION=%s" % confluent_kafka.libversion()[0])
print("KAFKA_PYTHON_VERSION=%s" % kafka.__version__)
PY
    echo "JAVA_VERSION=$(java -version 2>&1 | head -1 | sed 's/.*version "\([^"]*\)".*/\1/')"
} >"$WORK/versions.env.tmp"
mv "$WORK/versions.env.tmp" "$WORK/versions.env"
log "ready: Kafka $KAFKA_VER, $(grep -E '^(KCAT_VERSION|CONFLUENT_KAFKA_VERSION|KAFKA_PYTHON_VERSION)' "$WORK/versions.env" | tr '\n' ' ')"

# ---------------------------------------------------------------- franz-go (Go) driver
# Not fatal: without it only the franz-go cases fail (each says why).
"$HERE/clients/franz-go/build.sh" || log "franz-go driver not built; its cases will fail (see $WORK/franz-go/build.log)"
