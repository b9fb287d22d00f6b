# What the Kafka-tool benchmarks (bench/transactions.sh, bench/tls.sh) share; sourced
# after compat-tests/lib/common.sh. The script sets HELP_LINES and DEFAULT_RECORDS
# (full) before calling bench_args "$@", and defines broker_start TARGET and
# run TARGET VARIANT before bench_rounds.

# the Java tools' JVM, quiet
TOOL_JVM=(-Xmx512M -server -XX:+UseG1GC -Djava.awt.headless=true
    "-Dlog4j2.configurationFile=$COMPAT_DIR/log4j2.properties" -Dcompat.log.level=WARN)
RECORD_SIZE=1024
PARTITIONS=4
STEP_TIMEOUT=300

START=$SECONDS
log() { printf '[%4ds] %s\n' "$((SECONDS - START))" "$*"; }

# bench_args "$@": --smoke (one round of 20,000 records), --rounds N, --records N, -h;
# sets MODE, ROUNDS, RECORDS, and leaves the script's own options in EXTRA_ARGS
bench_args() {
    MODE=full ROUNDS="" RECORDS="" EXTRA_ARGS=()
    while (($#)); do
        case "$1" in
            --smoke) MODE=smoke; shift ;;
            --rounds) ROUNDS="$2"; shift 2 ;;
            --records) RECORDS="$2"; shift 2 ;;
            -h|--help) sed -n "2,${HELP_LINES}p" "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
            *) EXTRA_ARGS+=("$1"); shift ;;
        esac
    done
    if [[ $MODE == full ]]; then
        ROUNDS="${ROUNDS:-3}" RECORDS="${RECORDS:-$DEFAULT_RECORDS}"
    else
        ROUNDS="${ROUNDS:-1}" RECORDS="${RECORDS:-20000}"
    fi
}

# bench_setup: the compat suite's tools (Kafka's jars), and RAFKA_BIN (built if not given)
bench_setup() {
    "$COMPAT_DIR/setup.sh" >/dev/null || { echo "compat-tests/setup.sh failed"; exit 1; }
    if [[ -z "${RAFKA_BIN:-}" ]]; then
        log "cargo build --release --bin rafka"
        (cd "$REPO_DIR" && CARGO_TERM_COLOR=never cargo build --release --bin rafka) >/dev/null 2>&1 \
            || { echo "build failed"; exit 1; }
    fi
    RAFKA_BIN="${RAFKA_BIN:-$REPO_DIR/target/release/rafka}"
}

# bench_run_dir PREFIX: a fresh work dir RUN (removed at exit, with any broker left
# running), Kafka's state file in it, RESULTS (empty), PID and FAILS
bench_run_dir() {
    RUN="$(mktemp -d "/tmp/rafka-$1.XXXXXX")"
    export KAFKA_REF_STATE="$RUN/kafka-ref.state"
    PID="" FAILS=0
    trap bench_cleanup EXIT
    RESULTS="$RUN/results.tsv"
    : >"$RESULTS"
}

bench_cleanup() {
    [[ -n "$PID" ]] && stop_pid "$PID" 30
    [[ -f "$KAFKA_REF_STATE" ]] && "$COMPAT_DIR/kafka-ref.sh" stop >/dev/null 2>&1
    rm -rf "$RUN"
}

# broker_stop TARGET: Kafka through kafka-ref.sh, Rafka's PID
broker_stop() {
    case "$1" in
        kafka) "$COMPAT_DIR/kafka-ref.sh" stop >/dev/null 2>&1 ;;
        rafka) stop_pid "$PID" 30; PID="" ;;
    esac
}

# bench_rounds VARIANT...: ROUNDS rounds, Kafka then Rafka in each (so a shared machine's
# noise hits both alike), every variant run on each started broker
bench_rounds() {
    local target variant
    for ((ROUND = 1; ROUND <= ROUNDS; ROUND++)); do
        for target in kafka rafka; do
            if ! broker_start "$target"; then
                log "FAIL $target did not start"; FAILS=$((FAILS + 1)); broker_stop "$target"; continue
            fi
            for variant in "$@"; do run "$target" "$variant"; done
            broker_stop "$target"
        done
    done
}
