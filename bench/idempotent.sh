#!/usr/bin/env bash
# The idempotent producer against its non-idempotent twin (issue #12, deliverable 8):
# librdkafka (loadgen) at acks=all, 1 KiB records, one partition, the same settings
# except `enable.idempotence`. Variants run interleaved (A B A B ...) so the noise of a
# shared machine hits them alike; each run gets a fresh broker and data dir, and is
# bounded in records and time. Prints every run and the medians.
#
#   bench/idempotent.sh [ROUNDS] [RECORDS]        default 3 rounds of 2,000,000 records
#
# Environment:
#   RAFKA=path            the broker binary (default target/release/rafka, built here)
#   VARIANTS="name:flags[:broker binary];..."
#                         default "plain:;idem:--idempotence"; e.g. add
#                         "plain1:--set max.in.flight.requests.per.connection=1" to give the
#                         plain producer the idempotent one's effective in-flight limit, or
#                         "idem-old:--idempotence:/tmp/rafka-old" to run another broker build
#                         in the same rounds (the first variant is the ratios' base)
#   PARTITIONS=1
#   WARMUP=1              loadgen --warmup: one record produced and acknowledged before the
#                         clock starts, so the producer's start-up (the idempotent one waits
#                         0.5-1 s for its producer id) is reported apart (startup_ms), not
#                         counted in the throughput; WARMUP=0 counts it, as plain loadgen does
#   PERF=1                also sample the broker with `perf record -e cpu-clock` in each
#                         run; reports go to bench/.work/idempotent/<variant>.<round>.perf.txt
set -uo pipefail
BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$BENCH_DIR/../compat-tests/lib/common.sh"
ROUNDS="${1:-3}" RECORDS="${2:-2000000}"
PARTITIONS="${PARTITIONS:-1}"
WARMUP_FLAG=""; [[ "${WARMUP:-1}" == 1 ]] && WARMUP_FLAG="--warmup"
VARIANTS="${VARIANTS:-plain:;idem:--idempotence}"
OUT="$BENCH_DIR/.work/idempotent"
if [[ -z "${RAFKA:-}" ]]; then
    (cd "$REPO_DIR" && cargo build --release --bin rafka --example loadgen) >/dev/null 2>&1 \
        || { echo "build failed"; exit 1; }
    RAFKA="$REPO_DIR/target/release/rafka"
fi
LG="$REPO_DIR/target/release/examples/loadgen"
[[ -x "$LG" ]] || (cd "$REPO_DIR" && cargo build --release --example loadgen) >/dev/null 2>&1
RUN="$(mktemp -d /tmp/rafka-idem.XXXXXX)" PID="" PERF_PID=""
trap '[[ -n "$PERF_PID" ]] && kill -INT "$PERF_PID" 2>/dev/null; [[ -n "$PID" ]] && stop_pid "$PID" 30; rm -rf "$RUN"' EXIT
mkdir -p "$OUT"
: >"$OUT/results.tsv"
echo "# $(date -u '+%F %T UTC') load $(cut -d' ' -f1-3 /proc/loadavg) rafka=$RAFKA records=$RECORDS partitions=$PARTITIONS" | tee "$OUT/runs.txt"

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

IFS=';' read -ra VS <<<"$VARIANTS"
for ((round = 1; round <= ROUNDS; round++)); do
    for v in "${VS[@]}"; do
        IFS=':' read -r name flags bin <<<"$v"
        bin="${bin:-$RAFKA}"
        port="$(free_port)" tport="$(free_port)"
        rm -rf "$RUN/data"
        "$bin" serve --listener "127.0.0.1:$port" --text-listener "127.0.0.1:$tport" \
            --data-dir "$RUN/data" >"$RUN/serve.log" 2>&1 </dev/null &
        PID=$!
        timeout 30 "$LG" ready --bootstrap "127.0.0.1:$port" --timeout-s 25 >/dev/null \
            || { tail "$RUN/serve.log"; exit 1; }
        timeout 60 "$LG" create --bootstrap "127.0.0.1:$port" --topic idem --partitions "$PARTITIONS" >/dev/null \
            || { echo "create failed"; exit 1; }
        if [[ "${PERF:-0}" == 1 ]]; then
            perf record -e cpu-clock -F 999 -g -p "$PID" -o "$RUN/$name.perf" >/dev/null 2>&1 &
            PERF_PID=$!
        fi
        c0="$(cpu_ticks "$PID")"
        # shellcheck disable=SC2086 # flags are words
        line="$(timeout -k 5 200 "$LG" produce --bootstrap "127.0.0.1:$port" --topic idem \
            --records "$RECORDS" --partitions "$PARTITIONS" --acks all $WARMUP_FLAG $flags 2>"$RUN/lg.err")" \
            || { tail -3 "$RUN/lg.err"; line="RESULT rec_s=0 failed"; }
        c1="$(cpu_ticks "$PID")"
        if [[ -n "$PERF_PID" ]]; then
            kill -INT "$PERF_PID"; wait "$PERF_PID"; PERF_PID=""
            perf report -i "$RUN/$name.perf" --no-children --sort dso,sym --stdio 2>/dev/null \
                | grep -v '^#' | grep -v '^$' | grep '%' | head -40 | cut -c1-160 >"$OUT/$name.$round.perf.txt"
        fi
        stop_pid "$PID" 30; PID=""
        rec_s="$(sed -n 's/.* rec_s=\([0-9.]*\).*/\1/p' <<<"$line")"
        p99="$(sed -n 's/.* p99_ms=\([0-9.]*\).*/\1/p' <<<"$line")"
        startup="$(sed -n 's/.* startup_ms=\([0-9.]*\).*/\1/p' <<<"$line")"
        cpu="$(python3 -c "print('%.2f' % (($c1 - $c0) / $(getconf CLK_TCK) / ($RECORDS * 1024 / 1e9)))")"
        printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$round" "$name" "$rec_s" "${p99:-}" "$cpu" "${startup:-}" >>"$OUT/results.tsv"
        echo "round $round $name: $rec_s records/s, p99 ${p99:-?} ms, broker CPU $cpu s/GB, start-up ${startup:-?} ms" | tee -a "$OUT/runs.txt"
    done
done
python3 - "$OUT/results.tsv" "${VS[0]%%:*}" <<'EOF' | tee -a "$OUT/runs.txt"
import statistics, sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
base = sys.argv[2]
names = list(dict.fromkeys(r[1] for r in rows))
med = {}
for n in names:
    rs = [float(r[2] or 0) for r in rows if r[1] == n]
    cpu = [float(r[4]) for r in rows if r[1] == n]
    med[n] = statistics.median(rs)
    st = [float(r[5]) for r in rows if r[1] == n and len(r) > 5 and r[5]]
    print(f"{n}: median {med[n]:,.0f} records/s (runs: {', '.join(f'{x:,.0f}' for x in rs)}), "
          f"broker CPU median {statistics.median(cpu):.2f} s/GB"
          + (f", start-up median {statistics.median(st):.0f} ms" if st else ""))
for n in names:
    if n != base and med[base]:
        print(f"{n} / {base} = {med[n] / med[base]:.2f}")
EOF
echo "# end load $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT/runs.txt"
