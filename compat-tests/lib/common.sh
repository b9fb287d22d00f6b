# Shared bash helpers for the compatibility suite. Sourced, not executed.
# shellcheck shell=bash disable=SC2034
COMPAT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
REPO_DIR="$(cd "$COMPAT_DIR/.." && pwd)"
WORK_DIR="$COMPAT_DIR/.work"
KAFKA_LIBS="${KAFKA_LIBS:-$WORK_DIR/kafka-libs}"
VENV_PY="$WORK_DIR/venv/bin/python"

# A free TCP port on 127.0.0.1 (asks the kernel for an ephemeral one).
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# port_open PORT: true if something accepts TCP connections on 127.0.0.1:PORT.
port_open() {
    timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null
}

# JVM flags for the short-lived Kafka command-line tools: small heap and a
# fast-starting JIT, UTF-8 everywhere, logging through compat-tests/log4j2.properties.
KAFKA_TOOL_JVM_OPTS=(-Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Xshare:auto
    -Djava.awt.headless=true -Dfile.encoding=UTF-8 -Dsun.stdout.encoding=UTF-8
    -Dsun.stderr.encoding=UTF-8 "-Dlog4j2.configurationFile=$COMPAT_DIR/log4j2.properties")

# kafka_tool SECONDS CLASS ARGS...: run one Kafka command-line tool, bounded in time.
# KAFKA_TOOL_LOG_LEVEL=INFO makes the tool log more (default WARN).
kafka_tool() {
    local secs="$1"; shift
    timeout -k 5 "$secs" java "${KAFKA_TOOL_JVM_OPTS[@]}" "-Dcompat.log.level=${KAFKA_TOOL_LOG_LEVEL:-WARN}" \
        -cp "$KAFKA_LIBS/*" "$@"
}

# stop_pid PID [SECONDS]: SIGTERM, wait (bounded), then SIGKILL.
stop_pid() {
    local pid="$1" secs="${2:-30}" i
    [[ -n "$pid" ]] || return 0
    kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < secs * 10; i++)); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.1
    done
    echo "compat: pid $pid still alive after ${secs}s, sending SIGKILL" >&2
    kill -KILL "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do kill -0 "$pid" 2>/dev/null || return 1; sleep 0.1; done
    return 1
}

# The machine a benchmark ran on, as KEY=value lines (CPU, MEMORY, DISK): bench/compare.sh
# and bench/cluster.sh both report them.
machine_facts() {
    echo "CPU=$(nproc) x $(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -1)"
    echo "MEMORY=$(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)"
    echo "DISK=$(lsblk -dno NAME,SIZE,ROTA,TYPE 2>/dev/null | awk '$4 == "disk" && $2 != "0B" {printf "%s%s %s %s", sep, $1, $2, ($3 == "1" ? "rotational" : "non-rotational"); sep = ", "}')"
}

# apt_install [APT-GET INSTALL OPTIONS] PACKAGE...: installs with apt (sudo -n when not
# root), quietly, bounded in time; the log goes to $WORK_DIR/apt-<last package>.log and its
# tail is printed if it fails. Returns apt's status.
apt_install() {
    (($#)) || return 2
    local sudo=() log="$WORK_DIR/apt-${*: -1}.log"
    [[ $(id -u) == 0 ]] || sudo=(sudo -n)
    mkdir -p "$WORK_DIR"
    # env after sudo: sudo resets the environment, DEBIAN_FRONTEND with it
    { timeout 300 "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q \
        && timeout 900 "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@"; } \
        >"$log" 2>&1 \
        || { tail -20 "$log"; return 1; }
}

# target_start rafka|kafka DIR: a fresh single broker of that kind with its state and data
# under DIR (Rafka: lib/rafka-serve.sh running $RAFKA_BIN, which must be set; Kafka:
# kafka-ref.sh); prints its bootstrap address. target_stop rafka|kafka DIR stops it.
target_start() {
    local out
    if [[ "$1" == rafka ]]; then
        out="$(RAFKA_BIN="${RAFKA_BIN:?}" RAFKA_SERVE_STATE="$2/state" RAFKA_SERVE_DATA="$2/data" \
            RAFKA_SERVE_LOG="$2/broker.log" "$COMPAT_DIR/lib/rafka-serve.sh" start)" || return 1
    else
        out="$(KAFKA_REF_STATE="$2/state" KAFKA_REF_DIR="$2/kafka" "$COMPAT_DIR/kafka-ref.sh" start)" \
            || return 1
    fi
    tail -n 1 <<<"$out"
}
target_stop() {
    if [[ "$1" == rafka ]]; then
        RAFKA_SERVE_STATE="$2/state" "$COMPAT_DIR/lib/rafka-serve.sh" stop >/dev/null 2>&1
    else
        KAFKA_REF_STATE="$2/state" "$COMPAT_DIR/kafka-ref.sh" stop >/dev/null 2>&1
    fi
}

# oracle_compare NAME: the scenario of an oracle script (tls.sh, acls.sh) on each of its
# TARGETS, with the functions it defines: start_target T, run_checks T (one "check:
# answer" line per check in $DIR/T.results), stop_target T and expected (what Kafka
# answers). Prints PASS or FAIL per check and per target, then whether Rafka answered as
# Kafka did; on a failure, the tails of the targets' outputs and exit 1.
oracle_compare() {
    local name="$1" failed=0 t want check got f
    for t in "${TARGETS[@]}"; do
        echo "== $t"
        start_target "$t" || { echo "FAIL: $t did not start"; failed=1; continue; }
        run_checks "$t"
        stop_target "$t"
        while IFS= read -r want; do
            check="${want%%:*}"
            got="$(grep -m1 "^$check:" "$DIR/$t.results" || echo "$check: (none)")"
            if [[ "$got" == "$want" ]]; then
                echo "PASS $t $got"
            else
                echo "FAIL $t $got (expected: ${want#*: })"; failed=1
            fi
        done < <(expected)
    done
    if [[ " ${TARGETS[*]} " == *" kafka "* && " ${TARGETS[*]} " == *" rafka "* ]]; then
        if diff -u "$DIR/kafka.results" "$DIR/rafka.results" >"$DIR/diff"; then
            echo "PASS rafka answered every check as kafka did"
        else
            echo "FAIL rafka and kafka differ:"; cat "$DIR/diff"; failed=1
        fi
    fi
    if ((failed)); then
        for t in "${TARGETS[@]}"; do
            for f in "$DIR/$t"/*.err "$DIR/$t"/*.out "$DIR/rafka/broker.log"; do
                [[ -s "$f" ]] && { echo "--- $f"; tail -5 "$f"; }
            done
        done
        exit 1
    fi
    echo "$name: every check passed"
}

# make_certs DIR WHO[=SUBJECT]...: with openssl, a CA (DIR/ca.pem, "CN=compat CA") and for
# each WHO a key and certificate it signs (DIR/WHO.key, DIR/WHO.crt, and DIR/WHO.pem
# holding both, as Kafka's PEM keystores do): "server" for localhost and 127.0.0.1
# (serverAuth), any other a client certificate (clientAuth); the subject is SUBJECT if
# given, else /O=compat/CN=WHO. openssl's output goes to DIR/openssl.log; status 1 on failure.
make_certs() {
    local dir="$1"; shift
    (
        set -e
        cd "$dir"
        openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 \
            -subj "/CN=compat CA" -addext basicConstraints=critical,CA:TRUE \
            -addext keyUsage=critical,keyCertSign,cRLSign
        printf 'basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n' >server.ext
        printf 'basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n' >client.ext
        local spec who subject ext
        for spec in "$@"; do
            who="${spec%%=*}" subject="/O=compat/CN=${spec%%=*}" ext=client.ext
            [[ "$spec" == *=* ]] && subject="${spec#*=}"
            [[ "$who" == server ]] && ext=server.ext
            openssl req -newkey rsa:2048 -nodes -keyout "$who.key" -out "$who.csr" -subj "$subject"
            openssl x509 -req -in "$who.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
                -extfile "$ext" -out "$who.crt"
            cat "$who.key" "$who.crt" >"$who.pem"
        done
    ) >"$dir/openssl.log" 2>&1 || { tail -5 "$dir/openssl.log"; return 1; }
}
