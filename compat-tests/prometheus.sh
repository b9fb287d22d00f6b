#!/usr/bin/env bash
# /metrics scraped by a real Prometheus (issue #19): Debian's `prometheus` scrapes a fresh
# `rafka serve --http-listener 127.0.0.1:PORT` every second while a known workload runs,
# then PromQL queries over its HTTP API must return what the clients did:
#
#   1. the text port: PRODUCE of TEXT_RECORDS records to topic prom-text (one connection);
#   2. kcat -P: KCAT_RECORDS records, uncompressed, acks=all, to topic prom-kcat;
#   3. up{job="rafka"} == 1;
#      sum(rafka_records_in_total) == TEXT_RECORDS + KCAT_RECORDS;
#      sum by (topic) (rafka_topic_records_in_total) per topic == what was sent there;
#      sum(rafka_topic_bytes_in_total) == the bytes of every .log file of the two topics
#      in the data dir (bytes in are the record batches appended, byte for byte);
#      sum(rafka_requests_total{api="Produce"}) >= 1, and the Produce latency histogram
#      counted every one of them (rafka_request_duration_seconds_count);
#      sum(rafka_log_segments) == the number of .log files of the two topics.
#
#   compat-tests/prometheus.sh
#
# Installs Debian's prometheus with apt if it is missing (sudo -n when not root). Needs
# kcat and python3. Everything on loopback (Prometheus' own web port too), every step
# bounded in time; the Prometheus and the broker are stopped on exit.
# Environment: RAFKA_BIN=path uses that binary instead of `cargo build --release`;
# TEXT_RECORDS (default 500), KCAT_RECORDS (default 300).
# Prints PASS or FAIL lines; exit code 0 only if every check passed.
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

TEXT_RECORDS="${TEXT_RECORDS:-500}"
KCAT_RECORDS="${KCAT_RECORDS:-300}"

fail() { echo "FAIL: $*"; exit 1; }

# ---------------------------------------------------------------- prometheus, kcat
PROMETHEUS="$(command -v prometheus || true)"
if [[ -z "$PROMETHEUS" ]]; then
    echo "== installing prometheus (apt)"
    # --no-install-recommends: the node exporter and the rest are not needed
    apt_install --no-install-recommends prometheus || fail "could not install prometheus"
    PROMETHEUS="$(command -v prometheus)" || fail "prometheus installed but not on PATH"
    # the package starts its own service (on :9090, every interface) where systemd or
    # sysvinit runs: this script runs its own Prometheus on loopback, so stop that one
    SUDO=(); [[ $(id -u) == 0 ]] || SUDO=(sudo -n)
    if command -v systemctl >/dev/null 2>&1; then
        timeout 30 "${SUDO[@]}" systemctl disable --now prometheus >/dev/null 2>&1 || true
    fi
    timeout 30 "${SUDO[@]}" service prometheus stop >/dev/null 2>&1 || true
fi
timeout 30 "$PROMETHEUS" --version 2>&1 | head -1
command -v kcat >/dev/null || fail "no kcat: run compat-tests/setup.sh"

# ---------------------------------------------------------------- rafka
if [[ -z "${RAFKA_BIN:-}" ]]; then
    RAFKA_BIN="$REPO_DIR/target/release/rafka"
    echo "== cargo build --release --bin rafka"
    (cd "$REPO_DIR" && timeout 3600 cargo build --release --bin rafka -q) || fail "cargo build failed"
fi
[[ -x "$RAFKA_BIN" ]] || fail "RAFKA_BIN=$RAFKA_BIN is not an executable"

DIR="$(mktemp -d /tmp/prometheus-test.XXXXXX)"
HTTP_PORT="$(free_port)"
PROM_PORT="$(free_port)"
while [[ "$PROM_PORT" == "$HTTP_PORT" ]]; do PROM_PORT="$(free_port)"; done
# the text port's PRODUCE and kcat's Metadata create the topics
export RAFKA_SERVE_STATE="$DIR/state" RAFKA_BIN RAFKA_SERVE_DATA="$DIR/data" \
    RAFKA_SERVE_LOG="$DIR/broker.log" \
    RAFKA_SERVE_ARGS="--http-listener 127.0.0.1:$HTTP_PORT -o auto.create.topics.enable=true"
PROM_PID=""
cleanup() {
    [[ -n "$PROM_PID" ]] && stop_pid "$PROM_PID" 10 >/dev/null 2>&1
    "$COMPAT_DIR/lib/rafka-serve.sh" stop >/dev/null 2>&1
    rm -rf "$DIR"
}
trap cleanup EXIT
BOOTSTRAP="$("$COMPAT_DIR/lib/rafka-serve.sh" start | tail -n 1)" \
    || { tail -5 "$DIR/broker.log"; fail "rafka did not start"; }
# shellcheck disable=SC1091
source "$DIR/state" # TEXT_PORT
echo "== rafka on $BOOTSTRAP, text on 127.0.0.1:$TEXT_PORT, HTTP on 127.0.0.1:$HTTP_PORT"

# ---------------------------------------------------------------- prometheus
mkdir -p "$DIR/tsdb"
cat >"$DIR/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: rafka
    metrics_path: /metrics
    static_configs:
      - targets: ['127.0.0.1:$HTTP_PORT']
EOF
timeout 300 "$PROMETHEUS" --config.file="$DIR/prometheus.yml" --storage.tsdb.path="$DIR/tsdb" \
    --web.listen-address="127.0.0.1:$PROM_PORT" --storage.tsdb.retention.time=1h \
    >"$DIR/prometheus.log" 2>&1 </dev/null &
PROM_PID=$!
PROM="http://127.0.0.1:$PROM_PORT"
for _ in $(seq 1 100); do
    timeout 2 curl -fsS "$PROM/-/ready" >/dev/null 2>&1 && break
    kill -0 "$PROM_PID" 2>/dev/null || { tail -5 "$DIR/prometheus.log"; fail "prometheus exited"; }
    sleep 0.2
done
timeout 2 curl -fsS "$PROM/-/ready" >/dev/null 2>&1 || { tail -5 "$DIR/prometheus.log"; fail "prometheus not ready"; }
echo "== prometheus on $PROM, scraping every second"

# ---------------------------------------------------------------- the workload
# one text connection, TEXT_RECORDS PRODUCE lines, each answered OK
timeout 60 python3 - "$TEXT_PORT" "$TEXT_RECORDS" <<'EOF' || fail "text port PRODUCE"
import socket, sys
port, n = int(sys.argv[1]), int(sys.argv[2])
s = socket.create_connection(("127.0.0.1", port), timeout=30)
f = s.makefile("rwb")
for i in range(n):
    f.write(b"PRODUCE prom-text k%d value-%08d\n" % (i % 7, i))
    f.flush()
    line = f.readline()
    if not line.startswith(b"OK "):
        sys.exit("record %d: %r" % (i, line))
f.write(b"QUIT\n")
f.flush()
EOF
seq -f 'kcat-record-%08g' 1 "$KCAT_RECORDS" \
    | timeout 60 kcat -P -b "$BOOTSTRAP" -t prom-kcat -z none -X acks=all -X linger.ms=5 \
    || fail "kcat produce"
# what the log holds: the bytes and segments of the two topics
read -r LOG_BYTES LOG_FILES < <(find "$DIR/data" -path '*/prom-*/*.log' -printf '%s\n' \
    | awk '{ s += $1; n++ } END { print s + 0, n + 0 }')
echo "== produced $TEXT_RECORDS + $KCAT_RECORDS records; the logs hold $LOG_BYTES bytes in $LOG_FILES segments"

# ---------------------------------------------------------------- PromQL
# query EXPR: the value of an instant query's single result ("" if none)
query() {
    timeout 5 curl -fsS -G "$PROM/api/v1/query" --data-urlencode "query=$1" 2>/dev/null \
        | python3 -c 'import json,sys
r = json.load(sys.stdin)["data"]["result"]
print(r[0]["value"][1] if len(r) == 1 else "")' 2>/dev/null
}

rc=0
# expect NAME EXPR WANT: polls (up to 30 s: a scrape must land after the workload) until
# EXPR's value is WANT; PASS or FAIL with the last value
expect() {
    local name="$1" expr="$2" want="$3" got="" i
    for i in $(seq 1 60); do
        got="$(query "$expr")"
        [[ -n "$got" ]] && python3 -c "import sys; sys.exit(float('$got') != float('$want'))" && break
        sleep 0.5
    done
    if [[ -n "$got" ]] && python3 -c "import sys; sys.exit(float('$got') != float('$want'))"; then
        echo "PASS: $name ($expr = $got)"
    else
        echo "FAIL: $name ($expr = '${got}', expected $want)"
        rc=1
    fi
}

expect "the target is up" 'up{job="rafka"}' 1
expect "records in equal records produced" 'sum(rafka_records_in_total)' "$((TEXT_RECORDS + KCAT_RECORDS))"
expect "text port records in" 'sum(rafka_topic_records_in_total{topic="prom-text"})' "$TEXT_RECORDS"
expect "kcat records in" 'sum(rafka_topic_records_in_total{topic="prom-kcat"})' "$KCAT_RECORDS"
expect "bytes in equal the bytes in the logs" 'sum(rafka_topic_bytes_in_total{topic=~"prom-.*"})' "$LOG_BYTES"
expect "segments counted" 'sum(rafka_log_segments{topic=~"prom-.*"})' "$LOG_FILES"
expect "Produce requests counted" '(sum(rafka_requests_total{api="Produce"}) > bool 0)' 1
expect "every Produce request timed" \
    'sum(rafka_request_duration_seconds_count{api="Produce"}) - sum(rafka_requests_total{api="Produce"})' 0
expect "no Produce errors" 'sum(rafka_request_errors_total{api="Produce"})' 0
expect "the text connection closed" 'sum(rafka_connections{listener="text"})' 0

if ((rc)); then
    echo "== broker log tail"; tail -5 "$DIR/broker.log"
    echo "== prometheus log tail"; tail -5 "$DIR/prometheus.log"
    echo "FAIL"
else
    echo "PASS"
fi
exit "$rc"
