#!/usr/bin/env bash
# Where Rafka spends CPU on the produce and the fetch path: the release binary under
# valgrind's callgrind (this VM has no hardware counters for `perf`), driven by a small
# loadgen run, one profile per path.
#
#   bench/profile.sh [RECORDS]     default 20000 records of 1 KiB over 4 partitions
#
# Writes callgrind.out.{produce,fetch} and the top functions (self and inclusive cost)
# as {produce,fetch}.txt into bench/.work/profile/ (git-ignored).
set -uo pipefail
BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$BENCH_DIR/../compat-tests/lib/common.sh"
N="${1:-20000}"
OUT="$BENCH_DIR/.work/profile"
command -v valgrind >/dev/null || { DEBIAN_FRONTEND=noninteractive apt-get install -y -q valgrind >/dev/null; }
(cd "$REPO_DIR" && cargo build --release --bin rafka --example loadgen) >/dev/null 2>&1 || { echo "build failed"; exit 1; }
RAFKA="$REPO_DIR/target/release/rafka" LG="$REPO_DIR/target/release/examples/loadgen"
RUN="$(mktemp -d /tmp/rafka-profile.XXXXXX)" PID=""
trap '[[ -n "$PID" ]] && stop_pid "$PID" 60; rm -rf "$RUN"' EXIT
mkdir -p "$OUT"
PORT="$(free_port)" TPORT="$(free_port)"
B="127.0.0.1:$PORT"

# serve DATA_DIR [valgrind args...]: start the broker, wait for it (callgrind is ~50x slower)
serve() {
    local data="$1"; shift
    "$@" "$RAFKA" serve --listener "$B" --text-listener "127.0.0.1:$TPORT" --data-dir "$data" \
        >"$RUN/serve.log" 2>&1 </dev/null &
    PID=$!
    timeout 120 "$LG" ready --bootstrap "$B" --timeout-s 110 >/dev/null || { tail "$RUN/serve.log"; exit 1; }
}
callgrind() { echo valgrind --tool=callgrind --callgrind-out-file="$OUT/callgrind.out.$1"; }
top() {  # top functions by self cost and by inclusive cost
    { echo "== self cost"; callgrind_annotate --inclusive=no "$OUT/callgrind.out.$1" 2>/dev/null | sed -n '1,/^$/d;p' | head -40
      echo "== inclusive cost"; callgrind_annotate --inclusive=yes "$OUT/callgrind.out.$1" 2>/dev/null | sed -n '1,/^$/d;p' | head -60
    } | cut -c1-220 >"$OUT/$1.txt"
}

echo "fetch data: $N records, natively"
serve "$RUN/fetch-data"
timeout 120 "$LG" produce --bootstrap "$B" --topic prof --create --records "$N" --partitions 4 >/dev/null || exit 1
stop_pid "$PID" 30; PID=""

echo "produce profile: $N records, acks=1, under callgrind"
serve "$RUN/produce-data" $(callgrind produce)
timeout 600 "$LG" produce --bootstrap "$B" --topic prof --create --records "$N" --partitions 4 | tee "$RUN/lg.out"
stop_pid "$PID" 120; PID=""
top produce

echo "fetch profile: $N records from page cache, under callgrind"
serve "$RUN/fetch-data" $(callgrind fetch)
timeout 600 "$LG" consume --bootstrap "$B" --topic prof --records "$N" --partitions 4
stop_pid "$PID" 120; PID=""
top fetch

# Second view, kernel included: perf's software clock sampling (works without hardware
# counters) on the native binary, 50x the records. Callgrind counts user-space
# instructions only; this shows how much of the broker's time is in the kernel.
if perf record -e cpu-clock -o "$RUN/t.data" -- true >/dev/null 2>&1; then
    M=$((N * 50))
    serve "$RUN/perf-data"
    perf record -e cpu-clock -F 999 -p "$PID" -o "$RUN/produce.perf" >/dev/null 2>&1 &
    PERF=$!
    timeout 300 "$LG" produce --bootstrap "$B" --topic prof --create --records "$M" --partitions 4 | tee -a "$RUN/lg.out"
    kill -INT "$PERF"; wait "$PERF"
    perf record -e cpu-clock -F 999 -p "$PID" -o "$RUN/fetch.perf" >/dev/null 2>&1 &
    PERF=$!
    timeout 300 "$LG" consume --bootstrap "$B" --topic prof --records "$M" --partitions 4
    kill -INT "$PERF"; wait "$PERF"
    stop_pid "$PID" 30; PID=""
    for p in produce fetch; do
        perf report -i "$RUN/$p.perf" --no-children --sort dso,sym --stdio 2>/dev/null \
            | grep -v '^#' | grep -v '^$' | head -40 | cut -c1-160 >"$OUT/$p.perf.txt"
    done
fi
echo "wrote $OUT/{produce,fetch}.txt (callgrind), {produce,fetch}.perf.txt (perf) and callgrind.out.*"
