#!/usr/bin/env bash
# Installs everything the compatibility suite needs. Idempotent: a second run
# only checks that the pieces are there (a few seconds).
#   - kcat (Debian's package, librdkafka 2.0)
#   - Apache Kafka 4.x broker + tools jars  -> compat-tests/.work/kafka-libs
#   - Python venv with the pinned clients    -> compat-tests/.work/venv
#   - a version summary                       -> compat-tests/.work/versions.env
#   - the franz-go (Go) driver, clients/franz-go/build.sh -> compat-tests/.work/franz-go
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
WORK="$HERE/.work"
mkdir -p "$WORK"
log() { printf 'setup: %s\n' "$*" >&2; }

# ---------------------------------------------------------------- kcat
if ! command -v kcat >/dev/null 2>&1; then
    log "installing kcat (apt)"
    export DEBIAN_FRONTEND=noninteractive
    timeout 300 apt-get update -q >"$WORK/apt.log" 2>&1 || { cat "$WORK/apt.log" >&2; exit 1; }
    timeout 600 apt-get install -y -q kcat >>"$WORK/apt.log" 2>&1 || { cat "$WORK/apt.log" >&2; exit 1; }
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
# sanity: the classes the suite launches must be there
for jar in "kafka_2.13-$KAFKA_VER.jar" "kafka-tools-$KAFKA_VER.jar"; do
    [[ -f "$LIBS/$jar" ]] || { log "missing $LIBS/$jar; delete $LIBS and rerun"; exit 1; }
done

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
