#!/usr/bin/env bash
# Kafka transactions with real clients, Apache Kafka as the oracle: the same steps run
# against a Rafka broker and against an Apache Kafka 4.x broker, and each step must pass
# on both. Builds nothing but the Java sources in compat-tests/transactions/ (javac, into
# compat-tests/.work/transactions/classes, again only when they change).
#
#   compat-tests/transactions.sh [--target rafka|kafka|both] [--only STEP[,STEP...]]
#
# Per target, one broker under test (rafka: `rafka serve` by lib/rafka-serve.sh; kafka:
# one KRaft node by kafka-ref.sh, transaction.state.log.num.partitions=1), the topics
# made with the Admin client, then (kafka-clients 4.x, transactions/TxnScenarios.java):
#   commit-abort  a transactional producer runs 15 transactions of 10 records over a
#                 3-partition topic (record i to partition i % 3): 10 commit, 5 abort
#                 (flushed first, so their records are in the log), interleaved. A
#                 read_committed consumer must read exactly the 100 committed records, in
#                 order per partition; a read_uncommitted one all 150, in order.
#   fencing       producer A (transactional.id txn-fence) begins a transaction and writes
#                 a-1; producer B with the same id calls initTransactions (the coordinator
#                 aborts A's transaction and bumps the epoch); A's next send must fail with
#                 InvalidProducerEpochException and its commitTransaction throw
#                 InvalidProducerEpochException (what Kafka 4.3.1 answers: the partition
#                 refuses A's old epoch; not ProducerFencedException); B commits b-1;
#                 read_committed reads only b-1, read_uncommitted a-1 and b-1.
#   consume-transform-produce  a group consumer (read_committed, 5 records a poll) and a
#                 transactional producer: each transaction writes the polled records
#                 upper-cased and sendOffsetsToTransaction; after the first (committed)
#                 the group's committed offset (Admin.listConsumerGroupOffsets,
#                 requireStable) is 5; the second is aborted: still 5; the consumer seeks
#                 back and the next ones commit (10, 15, 20); the output topic then holds
#                 each input upper-cased exactly once, in order.
#   tools         a producer holds a transaction open (txn-open, one record in txn-tools-0)
#                 while Kafka's kafka-transactions.sh (org.apache.kafka.tools.TransactionsCommand)
#                 runs: `list` shows txn-open Ongoing and the ids of the steps above in
#                 their final states (txn-commit-abort CompleteAbort, txn-fence and txn-ctp
#                 CompleteCommit); `describe` shows txn-open Ongoing, timeout 60000, on
#                 txn-tools-0; `describe-producers` shows its producer id with an open
#                 transaction from offset 0; after the producer commits, `describe` shows
#                 CompleteCommit with no partitions and the epoch bumped by one (Kafka 4.x
#                 clients use transaction.version 2, where every commit bumps the epoch);
#                 `describe` of an unknown id fails ("could not be found").
#   streams-eos   a Kafka Streams word count (transactions/WordCount.java, kafka-streams
#                 jar, processing.guarantee=exactly_once_v2, commit.interval.ms=100, a
#                 repartition topic and a changelogged RocksDB store, state dir in the work
#                 dir): 20,000 lines (Python, seed 2026; 239 distinct words, 89,964 in all)
#                 in wc-in (3 partitions) from a plain producer; the application is started,
#                 and kill -9'd once committed output exists in wc-out and it has
#                 processed 6,000 lines (each line sleeps 1 ms first, so that is well
#                 before the end: the kill falls inside one of its transactions);
#                 started again on the same state dir (without the sleep); a read_committed consumer of
#                 wc-out then waits until the last count of every word equals the count
#                 Python computed from the lines (a count above it fails at once: a line
#                 counted twice). TXN_STREAMS_BUDGET seconds at most (default 180).
# Prints one line per step (PASS/FAIL, seconds, what was seen), then `TARGET: N passed, N
# failed`; exit status 0 iff every step passed on every target run. With --target both:
# rafka, then kafka, and a table of both; a step failing on kafka means the oracle (or
# this script) is broken. Logs stay in compat-tests/.work/transactions/TARGET/ (the
# broker's, each step's output and JVM logs), wiped at the start of the next run of that
# target. About 2 minutes against Kafka.
#
# Environment:
#   RAFKA=path            the rafka binary (default: target/release/rafka)
#   KAFKA_LIBS=dir        Kafka 4.x jars with kafka-streams (default compat-tests/.work/kafka-libs,
#                         from setup.sh)
#   TXN_STEP_BUDGET=s     time limit of each client step (default 90)
#   TXN_STREAMS_BUDGET=s  time limit of the streams-eos step (default 180)
#   TXN_STREAMS_GUARANTEE=at_least_once  runs the word count without transactions, to see
#                         the step catch the lines counted twice after the kill -9

# shellcheck disable=SC2317  # the wait_for predicates are called indirectly
set -uo pipefail

KAFKA_LIBS_FROM_ENV="${KAFKA_LIBS:-}"
# shellcheck source-path=SCRIPTDIR source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
[[ -n "$KAFKA_LIBS_FROM_ENV" ]] && KAFKA_LIBS="$KAFKA_LIBS_FROM_ENV"
export KAFKA_LIBS

ALL_STEPS=(commit-abort fencing consume-transform-produce tools streams-eos)
TARGET=both
ONLY=""
STEP=""   # internal: run one step against a broker that is already up
while (($#)); do
    case "$1" in
        -h|--help) awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"; exit 0 ;;
        --target) [[ $# -ge 2 ]] || { echo "transactions.sh: --target needs rafka, kafka or both" >&2; exit 1; }
                  TARGET="$2"; shift 2 ;;
        --target=*) TARGET="${1#--target=}"; shift ;;
        --only) [[ $# -ge 2 ]] || { echo "transactions.sh: --only needs a step (${ALL_STEPS[*]})" >&2; exit 1; }
                ONLY="$2"; shift 2 ;;
        --only=*) ONLY="${1#--only=}"; shift ;;
        --step) STEP="$2"; shift 2 ;;
        *) echo "transactions.sh: unknown argument $1 (see --help)" >&2; exit 1 ;;
    esac
done
case "$TARGET" in
    rafka|kafka|both) ;;
    *) echo "transactions.sh: --target $TARGET: not rafka, kafka or both" >&2; exit 1 ;;
esac
STEPS=("${ALL_STEPS[@]}")
if [[ -n "$ONLY" ]]; then
    IFS=, read -r -a STEPS <<<"$ONLY"
    for s in "${STEPS[@]}"; do
        [[ " ${ALL_STEPS[*]} " == *" $s "* ]] \
            || { echo "transactions.sh: --only $s: not one of ${ALL_STEPS[*]}" >&2; exit 1; }
    done
fi

RAFKA="${RAFKA:-$REPO_DIR/target/release/rafka}"
STEP_BUDGET="${TXN_STEP_BUDGET:-90}"
STREAMS_BUDGET="${TXN_STREAMS_BUDGET:-180}"
TX_WORK="$WORK_DIR/transactions"
SRC_DIR="$COMPAT_DIR/transactions"
CLASSES="$TX_WORK/classes"
TOOL_TIMEOUT=40
# the client JVMs: small heap, fast-starting JIT (the machine's two cores are shared),
# WARN and up of the clients' logs on stderr
CLIENT_JVM_OPTS=("${KAFKA_TOOL_JVM_OPTS[@]}" -Dcompat.log.level=WARN)
# the Streams application's JVM: a little more heap for RocksDB's and the cache's buffers
STREAMS_JVM_OPTS=(-Xms64m -Xmx384m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Djava.awt.headless=true
    -Dfile.encoding=UTF-8 "-Dlog4j2.configurationFile=$COMPAT_DIR/log4j2.properties" -Dcompat.log.level=WARN
    "-Dwordcount.guarantee=${TXN_STREAMS_GUARANTEE:-exactly_once_v2}")

say() { printf '== %s\n' "$*"; }

# ------------------------------------------------------------ both: one run per target
if [[ "$TARGET" == both && -z "$STEP" ]]; then
    T0=$SECONDS
    rc=0
    only_args=()
    [[ -n "$ONLY" ]] && only_args=(--only "$ONLY")
    for t in rafka kafka; do
        bash "$0" --target "$t" "${only_args[@]}" 2>&1 | sed -u "s/^/[$t] /"
        rc_t=${PIPESTATUS[0]}
        declare "rc_$t=$rc_t"
        ((rc_t == 0)) || rc=1
    done
    echo "== both targets, $((SECONDS - T0))s in all"
    printf '%-26s | %-14s | %-14s\n' step rafka kafka
    for s in "${STEPS[@]}"; do
        r="$(awk -v s="$s" '$1 == s { print $2 " " $3 "s" }' "$TX_WORK/rafka/results" 2>/dev/null)"
        k="$(awk -v s="$s" '$1 == s { print $2 " " $3 "s" }' "$TX_WORK/kafka/results" 2>/dev/null)"
        printf '%-26s | %-14s | %-14s\n' "$s" "${r:-not run}" "${k:-not run}"
    done
    # shellcheck disable=SC2154
    ((rc_kafka == 0)) || echo "FAIL: a step failed against Apache Kafka: the oracle itself (or this script) is broken"
    # shellcheck disable=SC2154
    ((rc_rafka == 0)) || echo "FAIL: a step failed against Rafka"
    total_p="$(cat "$TX_WORK"/{rafka,kafka}/results 2>/dev/null | awk '$2 == "PASS"' | wc -l)"
    total_f="$(cat "$TX_WORK"/{rafka,kafka}/results 2>/dev/null | awk '$2 == "FAIL"' | wc -l)"
    ((rc == 0 || total_f > 0)) || total_f=1   # a target that failed before its steps
    echo "transactions: $total_p passed, $total_f failed"
    exit "$rc"
fi

TDIR="$TX_WORK/$TARGET"
BROKER_STATE="$TDIR/broker.state"

# tool OUT CLASS ARGS...: one Kafka command-line tool (bounded), its output in OUT.
tool() {
    local out="$1"; shift
    kafka_tool "$TOOL_TIMEOUT" "$@" >"$out" 2>&1 </dev/null
}

# scenario SECONDS ARGS...: TxnScenarios ARGS (bounded); its stdout on ours, its stderr
# (the clients' warnings) appended to $SDIR/java.err.
scenario() {
    local secs="$1"; shift
    timeout -k 5 "$secs" java "${CLIENT_JVM_OPTS[@]}" -cp "$CLASSES:$KAFKA_LIBS/*" TxnScenarios "$@" \
        2>>"${SDIR:-$TDIR}/java.err" </dev/null
}

# compile_java: javac the sources into $CLASSES unless they are already compiled.
compile_java() {
    local sum
    sum="$(cat "$SRC_DIR/TxnScenarios.java" "$SRC_DIR/WordCount.java" | sha256sum | cut -c1-16)"
    [[ -f "$CLASSES/.sum" && "$(cat "$CLASSES/.sum")" == "$sum" ]] && return 0
    rm -rf "$CLASSES.tmp"
    mkdir -p "$CLASSES.tmp"
    javac -Xlint:-options -d "$CLASSES.tmp" -cp "$KAFKA_LIBS/*" \
        "$SRC_DIR/TxnScenarios.java" "$SRC_DIR/WordCount.java" >"$TX_WORK/javac.log" 2>&1 \
        || { cat "$TX_WORK/javac.log"; return 1; }
    echo "$sum" >"$CLASSES.tmp/.sum"
    rm -rf "$CLASSES"
    mv "$CLASSES.tmp" "$CLASSES"
}

# ------------------------------------------------------------ the broker under test
# broker_start: starts the target broker, sets BOOTSTRAP.
broker_start() {
    local out
    if [[ "$TARGET" == rafka ]]; then
        out="$(RAFKA_SERVE_STATE="$BROKER_STATE" RAFKA_BIN="$RAFKA" RAFKA_SERVE_DATA="$TDIR/rafka-data" \
            RAFKA_SERVE_LOG="$TDIR/broker.log" "$COMPAT_DIR/lib/rafka-serve.sh" start 2>"$TDIR/broker-start.err")" \
            || { echo "FAIL: rafka serve did not start: $(tail -n 1 "$TDIR/broker-start.err")"; return 1; }
    else
        out="$(KAFKA_REF_STATE="$BROKER_STATE" KAFKA_REF_DIR="$TDIR/kafka" \
            "$COMPAT_DIR/kafka-ref.sh" start 2>"$TDIR/broker-start.err")" \
            || { echo "FAIL: the Kafka broker did not start: $(tail -n 3 "$TDIR/broker-start.err")"; return 1; }
    fi
    BOOTSTRAP="$(tail -n 1 <<<"$out")"
}

broker_stop() {
    [[ -f "$BROKER_STATE" ]] || return 0
    if [[ "$TARGET" == rafka ]]; then
        RAFKA_SERVE_STATE="$BROKER_STATE" "$COMPAT_DIR/lib/rafka-serve.sh" stop >/dev/null 2>&1
    else
        KAFKA_REF_STATE="$BROKER_STATE" "$COMPAT_DIR/kafka-ref.sh" stop >/dev/null 2>&1
    fi
}

# ------------------------------------------------------------ helpers for the steps
# Each step runs as `transactions.sh --target T --step NAME` in its own process (under
# timeout); the JVMs it starts in the background are killed when it exits. It prints
# "OK: ..." or "FAIL: ..." as its last line.
declare -a STEP_PIDS=()
step_cleanup() {
    local p
    for p in "${STEP_PIDS[@]}"; do
        kill -KILL -- "-$p" 2>/dev/null || kill -KILL "$p" 2>/dev/null || true
    done
}

# step_fail MESSAGE [FILE...]: say why, show the last lines of each FILE, exit 1.
step_fail() {
    local f
    echo "FAIL: $1"
    shift
    for f in "$@"; do
        [[ -s "$f" ]] || continue
        echo "---- $f (last 25 lines)"
        tail -n 25 "$f"
    done
    exit 1
}

# wait_for SECONDS COMMAND...: run COMMAND every 0.2 s until it succeeds (0) or fails
# for good (2); returns 1 after SECONDS.
wait_for() {
    local secs="$1" rc; shift
    local deadline=$((SECONDS + secs))
    while true; do
        "$@"; rc=$?
        ((rc == 0 || rc == 2)) && return "$rc"
        ((SECONDS < deadline)) || return 1
        sleep 0.2
    done
}

# bg_jvm LOG CLASS ARGS...: a JVM in its own process group (killed when the step ends),
# output in LOG; sets BG_PID.
bg_jvm() {
    local log="$1"; shift
    local opts=("${CLIENT_JVM_OPTS[@]}")
    [[ "$1" == WordCount ]] && opts=("${STREAMS_JVM_OPTS[@]}")
    setsid java "${opts[@]}" -cp "$CLASSES:$KAFKA_LIBS/*" "$@" >"$log" 2>&1 </dev/null &
    BG_PID=$!
    STEP_PIDS+=("$BG_PID")
}

# run_scenario NAME ARGS...: a step that is one TxnScenarios run.
run_scenario() {
    scenario "$STEP_BUDGET" "$@"
    local rc=$?
    ((rc == 124 || rc == 137)) && step_fail "TxnScenarios $1 ran out of time (${STEP_BUDGET}s)" "$SDIR/java.err"
    ((rc == 0)) && return 0
    [[ -s "$SDIR/java.err" ]] && { echo "---- $SDIR/java.err (last 15 lines)"; tail -n 15 "$SDIR/java.err"; }
    exit 1
}

# ------------------------------------------------------------ steps
step_commit-abort() { run_scenario commit-abort "$BOOTSTRAP" txn-ca; }

step_fencing() { run_scenario fencing "$BOOTSTRAP" txn-fence; }

step_consume-transform-produce() { run_scenario ctp "$BOOTSTRAP" ctp-in ctp-out ctp-group; }

# col FILE NAME [ROW_KEY]: the value in column NAME (a header of TransactionsCommand's
# tab-separated table) of the first row, or of the row whose first column is ROW_KEY.
col() {
    awk -F'\t' -v name="$2" -v key="${3:-}" '
        function trim(s) { gsub(/^ +| +$/, "", s); return s }
        NR == 1 { for (i = 1; i <= NF; i++) if (trim($i) == name) c = i; next }
        c && (key == "" || trim($1) == key) { print trim($c); exit }' "$1"
}

# header FILE: the header row's names, one space between
header() { head -n 1 "$1" | tr '\t' '\n' | sed 's/ *$//' | grep -v '^$' | paste -sd' '; }

hold_ready() {
    grep -q '^READY' "$SDIR/hold.out" && return 0
    kill -0 "$HOLD_PID" 2>/dev/null || return 2
    return 1
}

step_tools() {
    local tc=org.apache.kafka.tools.TransactionsCommand h pid epoch state id want
    rm -f "$SDIR/release"
    bg_jvm "$SDIR/hold.out" TxnScenarios hold-open "$BOOTSTRAP" txn-tools txn-open "$SDIR/release"
    HOLD_PID=$BG_PID
    wait_for 45 hold_ready || step_fail "the producer did not open its transaction (it exited, or 45 s passed)" "$SDIR/hold.out"
    say "txn-open: a transaction is open with one record in txn-tools-0"

    tool "$SDIR/01-list.out" "$tc" --bootstrap-server "$BOOTSTRAP" list \
        || step_fail "kafka-transactions list failed" "$SDIR/01-list.out"
    h="$(header "$SDIR/01-list.out")"
    [[ "$h" == "TransactionalId Coordinator ProducerId TransactionState" ]] \
        || step_fail "kafka-transactions list: header '$h'" "$SDIR/01-list.out"
    state="$(col "$SDIR/01-list.out" TransactionState txn-open)"
    [[ "$state" == Ongoing ]] || step_fail "kafka-transactions list: txn-open is '${state:-not listed}', not Ongoing" "$SDIR/01-list.out"
    pid="$(col "$SDIR/01-list.out" ProducerId txn-open)"
    # the ids of the steps that passed before this one, in their final states
    for id in txn-commit-abort:CompleteAbort:commit-abort txn-fence:CompleteCommit:fencing \
              txn-ctp:CompleteCommit:consume-transform-produce; do
        IFS=: read -r id want h <<<"$id"
        grep -q "^$h PASS" "$TDIR/results" 2>/dev/null || continue
        state="$(col "$SDIR/01-list.out" TransactionState "$id")"
        [[ "$state" == "$want" ]] || step_fail "kafka-transactions list: $id is '${state:-not listed}', not $want" "$SDIR/01-list.out"
    done
    say "list: $(tail -n +2 "$SDIR/01-list.out" | awk -F'\t' '{ gsub(/ /, ""); printf "%s%s %s", sep, $1, $4; sep = ", " }')"

    tool "$SDIR/02-describe-open.out" "$tc" --bootstrap-server "$BOOTSTRAP" describe --transactional-id txn-open \
        || step_fail "kafka-transactions describe --transactional-id txn-open failed" "$SDIR/02-describe-open.out"
    h="$(header "$SDIR/02-describe-open.out")"
    [[ "$h" == "CoordinatorId TransactionalId ProducerId ProducerEpoch TransactionState TransactionTimeoutMs CurrentTransactionStartTimeMs TransactionDurationMs TopicPartitions" ]] \
        || step_fail "kafka-transactions describe: header '$h'" "$SDIR/02-describe-open.out"
    for want in TransactionalId=txn-open "ProducerId=$pid" TransactionState=Ongoing TransactionTimeoutMs=60000 TopicPartitions=txn-tools-0; do
        state="$(col "$SDIR/02-describe-open.out" "${want%%=*}")"
        [[ "$state" == "${want#*=}" ]] || step_fail "kafka-transactions describe txn-open: ${want%%=*} is '$state', not '${want#*=}'" "$SDIR/02-describe-open.out"
    done
    epoch="$(col "$SDIR/02-describe-open.out" ProducerEpoch)"
    say "describe txn-open: Ongoing, producer $pid epoch $epoch, timeout 60000, on txn-tools-0"

    tool "$SDIR/03-describe-producers.out" "$tc" --bootstrap-server "$BOOTSTRAP" describe-producers --topic txn-tools --partition 0 \
        || step_fail "kafka-transactions describe-producers failed" "$SDIR/03-describe-producers.out"
    for want in "ProducerId=$pid" "ProducerEpoch=$epoch" CurrentTransactionStartOffset=0 LastSequence=0; do
        state="$(col "$SDIR/03-describe-producers.out" "${want%%=*}")"
        [[ "$state" == "${want#*=}" ]] || step_fail "kafka-transactions describe-producers txn-tools-0: ${want%%=*} is '$state', not '${want#*=}'" "$SDIR/03-describe-producers.out"
    done
    say "describe-producers txn-tools-0: producer $pid, an open transaction from offset 0"

    touch "$SDIR/release"
    wait "$HOLD_PID"
    grep -q '^OK: ' "$SDIR/hold.out" || step_fail "the producer did not commit its transaction" "$SDIR/hold.out"
    tool "$SDIR/04-describe-committed.out" "$tc" --bootstrap-server "$BOOTSTRAP" describe --transactional-id txn-open \
        || step_fail "kafka-transactions describe --transactional-id txn-open (committed) failed" "$SDIR/04-describe-committed.out"
    for want in TransactionState=CompleteCommit "ProducerId=$pid" "ProducerEpoch=$((epoch + 1))" TopicPartitions=; do
        state="$(col "$SDIR/04-describe-committed.out" "${want%%=*}")"
        [[ "$state" == "${want#*=}" ]] || step_fail "kafka-transactions describe txn-open after its commit: ${want%%=*} is '$state', not '${want#*=}'" "$SDIR/04-describe-committed.out"
    done
    say "describe txn-open after its commit: CompleteCommit, epoch $((epoch + 1)), no partitions"

    if tool "$SDIR/05-describe-unknown.out" "$tc" --bootstrap-server "$BOOTSTRAP" describe --transactional-id no-such-txn; then
        step_fail "kafka-transactions describe of an unknown id succeeded" "$SDIR/05-describe-unknown.out"
    fi
    grep -q 'could not be found' "$SDIR/05-describe-unknown.out" \
        || step_fail "kafka-transactions describe of an unknown id did not say it could not be found" "$SDIR/05-describe-unknown.out"
    say "describe no-such-txn: $(grep -o 'failed because the ID could not be found' "$SDIR/05-describe-unknown.out")"
    echo "OK: list, describe (Ongoing, then CompleteCommit with epoch +1), describe-producers and an unknown id as Kafka shows them"
}

# processed_at_least N: the (first) Streams JVM printed `processed N` or more; 2 if it died
processed_at_least() {
    local n
    n="$(grep -o '^processed [0-9]*' "$SDIR/app-1.log" | tail -n 1 | cut -d' ' -f2)"
    kill -0 "$APP_PID" 2>/dev/null || return 2
    ((${n:-0} >= $1))
}

step_streams-eos() {
    local t0=$SECONDS n left
    python3 - "$SDIR/lines.txt" "$SDIR/expected.txt" <<'PY' || step_fail "the input could not be generated"
import collections, random, sys
rng = random.Random(2026)
syllables = ["ka", "fo", "ri", "zu", "me", "tal", "bro", "ne", "qui", "lo", "sa", "pe"]
vocab = sorted({"".join(rng.choice(syllables) for _ in range(rng.randint(1, 3))) for _ in range(400)})
lines = [" ".join(vocab[min(int(rng.expovariate(1 / 60)), len(vocab) - 1)] for _ in range(rng.randint(1, 8)))
         for _ in range(20000)]
with open(sys.argv[1], "w") as f:
    f.write("".join(l + "\n" for l in lines))
counts = collections.Counter(w for l in lines for w in l.split(" "))
with open(sys.argv[2], "w") as f:
    f.write("".join(f"{w} {n}\n" for w, n in sorted(counts.items())))
PY
    say "input: $(wc -l <"$SDIR/lines.txt") lines, $(wc -l <"$SDIR/expected.txt") distinct words, $(awk '{ s += $2 } END { print s }' "$SDIR/expected.txt") in all"
    scenario 60 produce-lines "$BOOTSTRAP" wc-in "$SDIR/lines.txt" >"$SDIR/produce.out" \
        || step_fail "producing the lines failed" "$SDIR/produce.out" "$SDIR/java.err"
    say "$(tail -n 1 "$SDIR/produce.out" | sed 's/^OK: //')"

    bg_jvm "$SDIR/app-1.log" WordCount "$BOOTSTRAP" wc-in wc-out "$SDIR/state" 1000
    APP_PID=$BG_PID
    scenario 70 wait-committed "$BOOTSTRAP" wc-out 60 "$APP_PID" >"$SDIR/committed.out" \
        || step_fail "$(grep '^FAIL: ' "$SDIR/committed.out" | sed 's/^FAIL: //')" "$SDIR/app-1.log"
    say "$(tail -n 1 "$SDIR/committed.out" | sed 's/^OK: //') ($((SECONDS - t0))s)"
    wait_for 60 processed_at_least 6000 \
        || step_fail "the Streams application did not get to 6000 lines within 60 s more (or exited)" "$SDIR/app-1.log"
    kill -KILL -- "-$APP_PID" 2>/dev/null
    wait "$APP_PID" 2>/dev/null
    n="$(grep -o '^processed [0-9]*' "$SDIR/app-1.log" | tail -n 1 | cut -d' ' -f2)"
    ((n < 20000)) || step_fail "the application had processed all the lines before it was killed: not mid-stream"
    say "kill -9 of the Streams JVM after $n lines processed, with committed output ($((SECONDS - t0))s)"

    bg_jvm "$SDIR/app-2.log" WordCount "$BOOTSTRAP" wc-in wc-out "$SDIR/state" 0
    APP_PID=$BG_PID
    left=$((STREAMS_BUDGET - (SECONDS - t0) - 10))
    ((left > 10)) || left=10
    scenario $((left + 10)) wait-counts "$BOOTSTRAP" wc-out "$SDIR/expected.txt" "$left" >"$SDIR/check.out"
    local rc=$?
    grep -Ev '^(OK|FAIL): ' "$SDIR/check.out"
    if ((rc != 0)); then
        kill -0 "$APP_PID" 2>/dev/null || echo "(the restarted Streams application had exited)"
        step_fail "$(grep '^FAIL: ' "$SDIR/check.out" | sed 's/^FAIL: //')" "$SDIR/app-2.log"
    fi
    say "restarted; every count exact $((SECONDS - t0))s after the start"
    echo "OK: killed after $n of 20000 lines, restarted: $(tail -n 1 "$SDIR/check.out" | sed 's/^OK: //')"
}

# ------------------------------------------------------------ one step (internal)
if [[ -n "$STEP" ]]; then
    SDIR="$TDIR/$STEP"
    BOOTSTRAP="${TXN_BOOTSTRAP:?}"
    trap step_cleanup EXIT
    trap 'echo "FAIL: step $STEP ran out of time"; exit 1' TERM INT
    "step_$STEP"
    exit 0
fi

# ------------------------------------------------------------ one target
[[ "$TARGET" == kafka || -x "$RAFKA" ]] || { echo "FAIL: RAFKA=$RAFKA is not an executable (cargo build --release)"; exit 1; }
for c in java javac python3; do
    command -v "$c" >/dev/null 2>&1 || { echo "FAIL: no $c on PATH (compat-tests/setup.sh installs java)"; exit 1; }
done
for j in kafka-clients kafka-tools kafka-streams; do
    compgen -G "$KAFKA_LIBS/$j-[0-9]*.jar" >/dev/null \
        || { echo "FAIL: no $j jar in $KAFKA_LIBS: run compat-tests/setup.sh (or set KAFKA_LIBS)"; exit 1; }
done

rm -rf "$TDIR"
mkdir -p "$TDIR"
: >"$TDIR/results"
trap 'broker_stop' EXIT
trap 'exit 1' INT TERM
T0=$SECONDS
compile_java || { echo "FAIL: javac of $SRC_DIR failed"; exit 1; }
broker_start || exit 1
say "$TARGET broker at $BOOTSTRAP ($((SECONDS - T0))s; log $TDIR/$([[ $TARGET == kafka ]] && echo kafka/)broker.log)"
SDIR="$TDIR" scenario 60 create-topics "$BOOTSTRAP" txn-ca:3 txn-fence:1 ctp-in:1 ctp-out:1 txn-tools:1 wc-in:3 wc-out:3 \
    >"$TDIR/create-topics.out"
grep -q '^OK: ' "$TDIR/create-topics.out" \
    || { echo "FAIL: the topics could not be created: $(tail -n 1 "$TDIR/create-topics.out") (see $TDIR/java.err)"; exit 1; }
passed=0 failed=0
for s in "${STEPS[@]}"; do
    mkdir -p "$TDIR/$s"
    t=$SECONDS
    budget="$STEP_BUDGET"
    [[ "$s" == streams-eos ]] && budget=$((STREAMS_BUDGET + 20))
    TXN_BOOTSTRAP="$BOOTSTRAP" timeout -k 20 "$budget" bash "$0" --target "$TARGET" --step "$s" \
        >"$TDIR/$s/step.out" 2>&1 </dev/null
    rc=$?
    secs=$((SECONDS - t))
    grep '^== ' "$TDIR/$s/step.out"
    last="$(grep -E '^(OK|FAIL): ' "$TDIR/$s/step.out" | head -n 1)"
    if ((rc == 0)) && [[ "$last" == OK:* ]]; then
        passed=$((passed + 1))
        echo "$s PASS $secs ${last#OK: }" >>"$TDIR/results"
        echo "PASS $s ($TARGET, ${secs}s): ${last#OK: }"
    else
        failed=$((failed + 1))
        ((rc == 124 || rc == 137)) && [[ -z "$last" ]] && last="FAIL: step ran out of time (${budget}s)"
        echo "$s FAIL $secs ${last#FAIL: }" >>"$TDIR/results"
        echo "FAIL $s ($TARGET, ${secs}s): ${last#FAIL: }"
        sed -n '/^---- /,$p' "$TDIR/$s/step.out" | head -n 60
        echo "(logs in $TDIR/$s/)"
    fi
    if [[ "$TARGET" == rafka ]] && ! kill -0 "$(sed -n 's/^PID=//p' "$BROKER_STATE")" 2>/dev/null; then
        echo "FAIL: rafka serve exited: $(tail -n 3 "$TDIR/broker.log")"
        failed=$((failed + 1))
        break
    fi
done
echo "== $TARGET: $((SECONDS - T0))s in all"
echo "$TARGET: $passed passed, $failed failed"
((failed == 0))
