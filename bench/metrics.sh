#!/usr/bin/env bash
# What the metrics cost (issue #19: "no measurable throughput in the bench harness, under
# 2%"): two broker builds side by side, the one before the metrics were added and the
# one with them, on the same loadgen workloads (librdkafka, 1 KiB records, 4 partitions):
# produce at acks=1, then consume the same records back. Three variants run interleaved
# (A B C A B C ...), each on a fresh broker and data dir: `before`, `after` (the metrics
# counted, nobody looking), and `scraped` (the same build, with `/metrics` and the status
# page fetched every second while it runs, as Prometheus and a person would: on a 2-core
# machine that load competes with the clients). Prints every run and the medians:
# records/s and broker CPU seconds per GB of payload.
#
#   bench/metrics.sh [ROUNDS] [RECORDS]       default 5 rounds of 1,000,000 records
#   bench/metrics.sh --smoke                  CI: one round of 20,000 records, the same
#                                             binary as both variants (the script can't rot)
#
# Environment: VARIANTS (default "before after scraped"), BEFORE (default /tmp/rafka-before: build it from the commit before the
# metrics with `git worktree add /tmp/before f26a3ab && cd /tmp/before && cargo build
# --release --bin rafka`), AFTER (default target/release/rafka, built here), OUT (where
# runs.txt and results.tsv go; default bench/.work/metrics).
set -uo pipefail
BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$BENCH_DIR/../compat-tests/lib/common.sh"   # free_port, stop_pid, REPO_DIR
SMOKE=0
if [[ "${1:-}" == --smoke ]]; then SMOKE=1; shift; fi
ROUNDS="${1:-5}" RECORDS="${2:-1000000}"
((SMOKE)) && ROUNDS=1 RECORDS=20000
(cd "$REPO_DIR" && timeout -k 10 1800 cargo build --release --bin rafka --example loadgen) >/dev/null 2>&1 \
    || { echo "FAIL: build failed"; exit 1; }
AFTER="${AFTER:-$REPO_DIR/target/release/rafka}"
BEFORE="${BEFORE:-/tmp/rafka-before}"
((SMOKE)) && BEFORE="$AFTER"
[[ -x "$BEFORE" ]] || { echo "FAIL: no BEFORE binary at $BEFORE (see --help in the header)"; exit 1; }
VARIANTS="${VARIANTS:-before after scraped}"
LG="$REPO_DIR/target/release/examples/loadgen"
OUT="${OUT:-$BENCH_DIR/.work/metrics}"
RUN="$(mktemp -d /tmp/rafka-metrics.XXXXXX)" PID="" SCRAPER=""
trap '[[ -n "$SCRAPER" ]] && kill "$SCRAPER" 2>/dev/null; [[ -n "$PID" ]] && stop_pid "$PID" 30; rm -rf "$RUN"' EXIT
mkdir -p "$OUT"
: >"$OUT/results.tsv"
echo "# $(date -u '+%F %T UTC') load $(cut -d' ' -f1-3 /proc/loadavg) before=$BEFORE after=$AFTER records=$RECORDS rounds=$ROUNDS" | tee "$OUT/runs.txt"

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
per_gb() { python3 -c "print('%.2f' % (($2 - $1) / $(getconf CLK_TCK) / ($RECORDS * 1024 / 1e9)))"; }
rate() { sed -n 's/.* rec_s=\([0-9.]*\).*/\1/p' <<<"$1"; }

for ((round = 1; round <= ROUNDS; round++)); do
    for name in $VARIANTS; do
        bin="$AFTER"; [[ $name == before ]] && bin="$BEFORE"
        port="$(free_port)" tport="$(free_port)" hport="$(free_port)"
        # the before build has no HTTP listener; the others get one each
        http=(); [[ $name != before ]] && http=(--http-listener "127.0.0.1:$hport")
        rm -rf "$RUN/data"
        "$bin" serve --listener "127.0.0.1:$port" --text-listener "127.0.0.1:$tport" "${http[@]}" \
            --data-dir "$RUN/data" >"$RUN/serve.log" 2>&1 </dev/null &
        PID=$!
        timeout 30 "$LG" ready --bootstrap "127.0.0.1:$port" --timeout-s 25 >/dev/null \
            || { tail "$RUN/serve.log"; echo "FAIL: $name did not start"; exit 1; }
        timeout 60 "$LG" create --bootstrap "127.0.0.1:$port" --topic m --partitions 4 >/dev/null \
            || { echo "FAIL: create"; exit 1; }
        if [[ $name == scraped ]]; then
            # Prometheus' pace, and a person with the status page open
            (for _ in $(seq 600); do
                curl -sf -o /dev/null "http://127.0.0.1:$hport/metrics"
                curl -sf -o /dev/null "http://127.0.0.1:$hport/"
                sleep 1
            done) &
            SCRAPER=$!
        fi
        c0="$(cpu_ticks "$PID")"
        p="$(timeout -k 5 300 "$LG" produce --bootstrap "127.0.0.1:$port" --topic m --records "$RECORDS" \
            --size 1024 --partitions 4 --acks 1 2>"$RUN/lg.err")" || { tail -3 "$RUN/lg.err"; p="rec_s=0"; }
        c1="$(cpu_ticks "$PID")"
        c="$(timeout -k 5 300 "$LG" consume --bootstrap "127.0.0.1:$port" --topic m --records "$RECORDS" \
            --partitions 4 2>"$RUN/lg.err")" || { tail -3 "$RUN/lg.err"; c="rec_s=0"; }
        c2="$(cpu_ticks "$PID")"
        [[ -n "$SCRAPER" ]] && { kill "$SCRAPER" 2>/dev/null; wait "$SCRAPER" 2>/dev/null; SCRAPER=""; }
        stop_pid "$PID" 30; PID=""
        printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$round" "$name" "$(rate "$p")" "$(per_gb "$c0" "$c1")" \
            "$(rate "$c")" "$(per_gb "$c1" "$c2")" >>"$OUT/results.tsv"
        echo "round $round $name: produce $(rate "$p") records/s ($(per_gb "$c0" "$c1") CPU s/GB), consume $(rate "$c") records/s ($(per_gb "$c1" "$c2") CPU s/GB)" | tee -a "$OUT/runs.txt"
    done
done
python3 - "$OUT/results.tsv" <<'PY' | tee -a "$OUT/runs.txt"
import statistics, sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
med = lambda name, col: statistics.median(float(r[col] or 0) for r in rows if r[1] == name)
ok = True
for col, what in [(2, "produce records/s"), (3, "produce broker CPU s/GB"),
                  (4, "consume records/s"), (5, "consume broker CPU s/GB")]:
    names = list(dict.fromkeys(r[1] for r in rows))
    m = {n: med(n, col) for n in names}
    ok &= all(v > 0 for v in m.values())
    b = m.get("before", 0)
    print(f"{what}: " + ", ".join(f"{n} {v:,.2f}" for n, v in m.items())
          + "".join(f"; {n}/before {v / b:.3f}" for n, v in m.items() if n != "before" and b))
print("PASS" if ok else "FAIL: a workload produced no number")
sys.exit(0 if ok else 1)
PY
