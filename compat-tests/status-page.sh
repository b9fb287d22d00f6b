#!/usr/bin/env bash
# The status page (issue #19) in a real headless browser: Debian's chromium loads
# http://127.0.0.1:PORT/ from a fresh `rafka serve --http-listener 127.0.0.1:PORT` that has
# two topics and a consumer group with lag, and the DOM it renders must show them: the
# topics, one row per partition, the group with its member and its lag. Also checks
# /healthz, /readyz and /metrics with curl-less bash (/dev/tcp).
#
#   compat-tests/status-page.sh [--screenshot]
#       --screenshot   also writes docs/img/status-page.png (1280x1600)
#
# Installs chromium with apt if it is missing (sudo -n when not root). Needs what
# compat-tests/setup.sh installs: kcat (rafka-serve.sh's Metadata probe, the screenshot's
# traffic) and the Python venv compat-tests/.work/venv (confluent-kafka, for the topics
# and the group); fails at once, saying so, without them.
# Environment: RAFKA_BIN=path uses that binary instead of `cargo build --release`.
# Prints PASS or FAIL lines; exit code 0 only if every check passed.
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

SCREENSHOT=""
[[ "${1:-}" == --screenshot ]] && SCREENSHOT="$REPO_DIR/docs/img/status-page.png"

fail() { echo "FAIL: $*"; exit 1; }

# ---------------------------------------------------------------- what setup.sh installs
command -v kcat >/dev/null 2>&1 || fail "kcat is missing: run compat-tests/setup.sh"
[[ -x "$VENV_PY" ]] \
    || fail "no Python venv at ${VENV_PY%/bin/python} (confluent-kafka): run compat-tests/setup.sh"

# ---------------------------------------------------------------- chromium
CHROMIUM="$(command -v chromium || command -v chromium-browser || true)"
if [[ -z "$CHROMIUM" ]]; then
    echo "== installing chromium (apt)"
    apt_install chromium || fail "could not install chromium"
    CHROMIUM="$(command -v chromium)" || fail "chromium installed but not on PATH"
fi
timeout 30 "$CHROMIUM" --version 2>/dev/null | head -1

# ---------------------------------------------------------------- rafka
if [[ -z "${RAFKA_BIN:-}" ]]; then
    RAFKA_BIN="$REPO_DIR/target/release/rafka"
    echo "== cargo build --release --bin rafka"
    (cd "$REPO_DIR" && timeout 3600 cargo build --release --bin rafka -q) || fail "cargo build failed"
fi
[[ -x "$RAFKA_BIN" ]] || fail "RAFKA_BIN=$RAFKA_BIN is not an executable"

DIR="$(mktemp -d /tmp/status-page.XXXXXX)"
export RAFKA_SERVE_STATE="$DIR/state" RAFKA_BIN RAFKA_SERVE_DATA="$DIR/data" \
    RAFKA_SERVE_LOG="$DIR/broker.log"
GROUP_PID=""
cleanup() {
    [[ -n "$GROUP_PID" ]] && stop_pid "$GROUP_PID" 5 >/dev/null 2>&1
    "$COMPAT_DIR/lib/rafka-serve.sh" stop >/dev/null 2>&1
    rm -rf "$DIR"
}
trap cleanup EXIT
# rafka-serve.sh picks the Kafka and text ports itself, after HTTP_PORT is picked: when
# one of them is HTTP_PORT (rafka refuses the start: two listeners on one port), pick
# another and start again, until they are distinct.
BOOTSTRAP=""
for _ in 1 2 3 4 5; do
    HTTP_PORT="$(free_port)"
    export RAFKA_SERVE_ARGS="--http-listener 127.0.0.1:$HTTP_PORT"
    BOOTSTRAP="$("$COMPAT_DIR/lib/rafka-serve.sh" start | tail -n 1)" && break
    BOOTSTRAP=""
    # shellcheck disable=SC1091
    clash="$(PORT="" TEXT_PORT=""; source "$DIR/state" 2>/dev/null
        [[ "$PORT" == "$HTTP_PORT" || "$TEXT_PORT" == "$HTTP_PORT" ]] && echo yes)"
    "$COMPAT_DIR/lib/rafka-serve.sh" stop >/dev/null 2>&1
    [[ "$clash" == yes ]] || break
    echo "== HTTP port $HTTP_PORT taken by another listener of rafka; again with another"
done
[[ -n "$BOOTSTRAP" ]] || { tail -5 "$DIR/broker.log"; fail "rafka did not start"; }
URL="http://127.0.0.1:$HTTP_PORT"
echo "== rafka on $BOOTSTRAP, HTTP on $URL"

# http_get PATH: the raw response (status line, headers, body) over /dev/tcp
http_get() {
    timeout 10 bash -c "exec 3<>/dev/tcp/127.0.0.1/$HTTP_PORT \
        && printf 'GET %s HTTP/1.1\r\nHost: rafka\r\nConnection: close\r\n\r\n' '$1' >&3 \
        && cat <&3"
}

rc=0
check() { # check NAME COMMAND...: PASS or FAIL line
    local name="$1"; shift
    if "$@"; then echo "PASS: $name"; else echo "FAIL: $name"; rc=1; fi
}

check "/healthz answers 200 ok" bash -c "$(declare -f http_get); HTTP_PORT=$HTTP_PORT; \
    http_get /healthz | grep -q '^HTTP/1.1 200'"
# ready: poll for 30 s at most (each try bounded by http_get's 10 s, so the deadline is
# on the clock, not a count of tries)
ready=1
deadline=$((SECONDS + 30))
while ((SECONDS < deadline)); do
    http_get /readyz 2>/dev/null | grep -q '^HTTP/1.1 200' && { ready=0; break; }
    sleep 0.2
done
check "/readyz answers 200 once ready" test "$ready" = 0
check "/metrics answers 200 in a Prometheus format" bash -c "$(declare -f http_get); \
    HTTP_PORT=$HTTP_PORT; http_get /metrics | grep -qiE '^content-type: (application/openmetrics-text|text/plain)'"

# ---------------------------------------------------------------- topics and a group
# orders (3 partitions, 10 records on partition 0), payments (1 partition); the group
# "status-page-demo" reads orders and commits offset 4 on orders-0 (lag 6), then stays
# in the group until this script ends.
cat >"$DIR/group.py" <<'EOF'
import sys, time
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
bootstrap, ready_file = sys.argv[1], sys.argv[2]
admin = AdminClient({"bootstrap.servers": bootstrap})
for f in admin.create_topics([NewTopic("orders", 3, 1), NewTopic("payments", 1, 1)]).values():
    f.result(30)
p = Producer({"bootstrap.servers": bootstrap})
for i in range(10):
    p.produce("orders", value=b"order %d" % i, partition=0)
assert p.flush(30) == 0, "records not delivered"
c = Consumer({"bootstrap.servers": bootstrap, "group.id": "status-page-demo",
              "client.id": "status-page-consumer", "enable.auto.commit": False,
              "auto.offset.reset": "earliest"})
c.subscribe(["orders"])
deadline = time.time() + 60
while time.time() < deadline:
    m = c.poll(0.5)
    if m is not None and m.error() is None:
        break
else:
    sys.exit("no record consumed")
c.commit(offsets=[TopicPartition("orders", 0, 4)], asynchronous=False)
open(ready_file, "w").write("ok")
end = time.time() + 120
while time.time() < end:
    c.poll(0.2)
c.close()
EOF
timeout 180 "$VENV_PY" "$DIR/group.py" "$BOOTSTRAP" "$DIR/group.ready" >"$DIR/group.log" 2>&1 &
GROUP_PID=$!
for _ in $(seq 1 450); do
    [[ -f "$DIR/group.ready" ]] && break
    kill -0 "$GROUP_PID" 2>/dev/null || break
    sleep 0.2
done
[[ -f "$DIR/group.ready" ]] || { cat "$DIR/group.log"; fail "the topics and the group were not set up"; }

# ---------------------------------------------------------------- the page in chromium
chrome() {
    timeout 60 "$CHROMIUM" --headless --no-sandbox --disable-gpu --hide-scrollbars \
        --no-first-run --disable-background-networking --disable-component-update \
        --user-data-dir="$DIR/chrome" "$@" 2>>"$DIR/chrome.log"
}
chrome --dump-dom "$URL/" >"$DIR/dom.html" || { tail -5 "$DIR/chrome.log"; fail "chromium did not load $URL/"; }
echo "== DOM: $(wc -c <"$DIR/dom.html") bytes"

# table TOPIC: TOPIC's partition table in the DOM, one row a line
table() {
    sed 's/<tr/\n<tr/g; s/<\/table>/\n<\/table>\n/g' "$DIR/dom.html" \
        | awk -v t="data-topic=\"$1\"" 'index($0, t) { on = 1 } on { print } on && /<\/table>/ { exit }'
}
partition_rows() { table "$1" | grep -c '<tr class="partition">'; }
check "the page shows topic orders" grep -q 'class="topic">orders<' "$DIR/dom.html"
check "the page shows topic payments" grep -q 'class="topic">payments<' "$DIR/dom.html"
check "orders has 3 partition rows" test "$(partition_rows orders)" = 3
check "payments has 1 partition row" test "$(partition_rows payments)" = 1
check "orders-0 shows its 10 records (high watermark)" bash -c "$(declare -f table); DIR='$DIR'; \
    table orders | grep '^<tr class=\"partition\"><td class=\"n\">0</td>' | grep -q '<td class=\"n\">10</td>'"
check "the page shows group status-page-demo" grep -q 'class="group">status-page-demo<' "$DIR/dom.html"
check "the group shows its member's client id" grep -q 'status-page-consumer' "$DIR/dom.html"
check "the group shows lag 6 on orders-0" grep -q '<td class="n lag">6</td>' "$DIR/dom.html"
check "the page has the throughput sparklines" grep -q '<svg' "$DIR/dom.html"
check "the page runs no script" bash -c "! grep -qi '<script' '$DIR/dom.html'"

if [[ -n "$SCREENSHOT" ]]; then
    # some traffic for the sparklines first: records in and out of payments for 30 s
    # (the page samples every 5 s)
    end=$((SECONDS + 30)); n=0
    while ((SECONDS < end)); do
        n=$((n + 1))
        seq 1 $((n % 4 * 150 + 50)) | timeout 5 kcat -P -b "$BOOTSTRAP" -t payments 2>/dev/null
        timeout 5 kcat -C -b "$BOOTSTRAP" -t payments -o beginning -e -q >/dev/null 2>&1
        sleep 1
    done
    mkdir -p "$(dirname "$SCREENSHOT")"
    if chrome --screenshot="$SCREENSHOT" --window-size=1280,1600 "$URL/" && [[ -s "$SCREENSHOT" ]]; then
        echo "== screenshot: ${SCREENSHOT#"$REPO_DIR"/}"
    else
        echo "FAIL: no screenshot"; rc=1
    fi
fi

if ((rc == 0)); then
    echo "PASS: status page"
else
    cp "$DIR/dom.html" "$WORK_DIR/status-page-dom.html" 2>/dev/null
    echo "FAIL: status page (the DOM: compat-tests/.work/status-page-dom.html)"
fi
exit "$rc"
