#!/usr/bin/env bash
# Runs the Kafka-client compatibility scenarios against Rafka and/or the Apache
# Kafka reference broker, prints one line per scenario x client x target,
# writes docs/compat.md and ends with "N passed, N failed, N skipped".
#
#   compat-tests/run.sh [--target rafka|kafka|both] [--only REGEX] [--no-docs]
#
#   --only REGEX   run only scenarios whose name matches REGEX (bash =~);
#                  implies --no-docs
#   --no-docs      do not rewrite docs/compat.md
#
# Environment: RAFKA_BIN=path uses that binary instead of `cargo build --release`;
# EXPECTED_FAILURES=file replaces compat-tests/expected-failures.txt.
#
# Exit status 0 iff no scenario failed unexpectedly and no expected failure
# (expected-failures.txt) passed.
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

TARGET=both
ONLY=""
DOCS=1
while (($#)); do
    case "$1" in
        --target) TARGET="${2:-}"; shift 2 ;;
        --target=*) TARGET="${1#*=}"; shift ;;
        --only) ONLY="${2:-}"; DOCS=0; shift 2 ;;
        --no-docs) DOCS=0; shift ;;
        -h|--help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "run.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
case "$TARGET" in rafka|kafka|both) ;; *) echo "run.sh: --target must be rafka, kafka or both" >&2; exit 2 ;; esac

CASE_TIMEOUT=120          # seconds per scenario x client
WIRE_BUDGET=480           # seconds of wire scenarios per target before the rest are failed
RAFKA_WAIT=10             # seconds to wait for `rafka serve` to listen
CLIENTS=(kcat kafka-java confluent-kafka kafka-python franz-go)
SUITE_START=$SECONDS

# ------------------------------------------------------------ setup, cleanup
echo "== setup"
if ! "$COMPAT_DIR/setup.sh"; then
    echo "setup failed"
    echo "0 passed, 1 failed"
    exit 1
fi

RUN_DIR="$(mktemp -d /tmp/rafka-compat.XXXXXX)"
RESULTS="$RUN_DIR/results.tsv"
LAST_RUN="$WORK_DIR/last-run"      # kept after the run: results + logs of failed cases
rm -rf "$LAST_RUN"; mkdir -p "$LAST_RUN/failed"
: >"$RESULTS"
export KAFKA_REF_STATE="$RUN_DIR/kafka-ref.state"
export RAFKA_SERVE_STATE="$RUN_DIR/rafka-serve.state"

cleanup() {
    [[ -f "$KAFKA_REF_STATE" ]] && "$COMPAT_DIR/kafka-ref.sh" stop >/dev/null 2>&1
    [[ -f "$RAFKA_SERVE_STATE" ]] && "$COMPAT_DIR/lib/rafka-serve.sh" stop >/dev/null 2>&1
    cp -f "$RESULTS" "$LAST_RUN/results.tsv" 2>/dev/null
    rm -rf "$RUN_DIR"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ------------------------------------------------------------ scenario table
declare -a SC_NAMES=()
declare -A SC_KIND=() SC_TARGETS=() SC_CLIENTS=()
while read -r name kind targets clients _; do
    [[ -z "$name" || "$name" == \#* ]] && continue
    SC_NAMES+=("$name"); SC_KIND[$name]="$kind"; SC_TARGETS[$name]="$targets"; SC_CLIENTS[$name]=",$clients,"
done <"$COMPAT_DIR/scenarios.txt"

selected() { [[ -z "$ONLY" || "$1" =~ $ONLY ]]; }
any_wire_selected() {
    local s
    for s in "${SC_NAMES[@]}"; do [[ "${SC_KIND[$s]}" == wire ]] && selected "$s" && return 0; done
    return 1
}
applicable() {  # target scenario client
    [[ "${SC_TARGETS[$2]}" == both || "${SC_TARGETS[$2]}" == "$1" ]] && [[ "${SC_CLIENTS[$2]}" == *",$3,"* ]]
}

declare -A XFAIL=()
CONFIG_ERRORS=0
while read -r t s c extra; do
    [[ -z "$t" || "$t" == \#* ]] && continue
    if [[ ( -n "$extra" && "$extra" != flaky ) || -z "$c" ]]; then
        echo "expected-failures.txt: malformed line: $t $s $c $extra"; CONFIG_ERRORS=$((CONFIG_ERRORS + 1)); continue
    fi
    if [[ "$t" == kafka ]]; then
        echo "expected-failures.txt: '$t $s $c': nothing may be listed for the Kafka reference"; CONFIG_ERRORS=$((CONFIG_ERRORS + 1)); continue
    fi
    if [[ "$t" != rafka || -z "${SC_KIND[$s]:-}" ]] || ! applicable "$t" "$s" "$c"; then
        echo "expected-failures.txt: '$t $s $c' is not a scenario that runs (stale?)"; CONFIG_ERRORS=$((CONFIG_ERRORS + 1)); continue
    fi
    XFAIL["$t $s $c"]="${extra:-always}"
done <"${EXPECTED_FAILURES:-$COMPAT_DIR/expected-failures.txt}"

# ------------------------------------------------------------ result recording
# record TARGET SCENARIO CLIENT pass|fail|na SECONDS DETAIL
record() {
    local t="$1" s="$2" c="$3" outcome="$4" secs="$5" detail="$6" status
    local key="$t $s $c"
    case "$outcome" in
        pass)
            case "${XFAIL[$key]:-}" in
                "") status=PASS ;;
                flaky) status=PASS; detail="$detail [listed as flaky in expected-failures.txt]" ;;
                *) status=XPASS; detail="stale expected failure: now passes ($detail)" ;;
            esac ;;
        fail) if [[ -n "${XFAIL[$key]:-}" ]]; then status=XFAIL; else status=FAIL; fi ;;
        na) status=N/A ;;
    esac
    detail="$(printf '%s' "$detail" | tr '\t\n' '  ' | cut -c1-400)"
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$t" "$s" "$c" "$status" "$secs" "$detail" >>"$RESULTS"
    printf '%-6s %-6s %-28s %-16s %5ss  %s\n' "$status" "$t" "$s" "$c" "$secs" "$detail"
}

driver_cmd() {
    case "$1" in
        kcat) echo "$COMPAT_DIR/clients/kcat.sh" ;;
        kafka-java) echo "$COMPAT_DIR/clients/kafka-java.sh" ;;
        confluent-kafka) echo "$VENV_PY $COMPAT_DIR/clients/confluent_kafka_client.py" ;;
        kafka-python) echo "$VENV_PY $COMPAT_DIR/clients/kafka_python_client.py" ;;
        franz-go) echo "$COMPAT_DIR/clients/franz-go.sh" ;;
    esac
}

# restart_cmd TARGET: the command line a scenario runs (as RESTART_BROKER) to restart
# the broker under test on the same port and data dir; it returns once the broker
# answers Metadata again.
restart_cmd() {
    case "$1" in
        kafka) echo "$COMPAT_DIR/kafka-ref.sh restart" ;;
        rafka) echo "$COMPAT_DIR/lib/rafka-serve.sh restart" ;;
    esac
}

# run_case TARGET SCENARIO CLIENT [VAR=VALUE...]: run one driver, record its verdict.
run_case() {
    local t="$1" s="$2" c="$3"; shift 3
    local dir="$RUN_DIR/cases/$t/$s.$c" start=$SECONDS rc verdict
    mkdir -p "$dir"
    # shellcheck disable=SC2046
    env BOOTSTRAP="${BOOTSTRAP:-none}" TOPIC="$s-$c" CASE_DIR="$dir" RESTART_BROKER="$(restart_cmd "$t")" "$@" \
        timeout -k 10 "$CASE_TIMEOUT" $(driver_cmd "$c") "$s" >"$dir/driver.out" 2>"$dir/driver.err" </dev/null
    rc=$?
    verdict="$(grep -E '^(OK|FAIL): ' "$dir/driver.out" | tail -n 1)"
    if [[ $rc == 0 && "$verdict" == OK:* ]]; then
        record "$t" "$s" "$c" pass $((SECONDS - start)) "${verdict#OK: }"
        return
    fi
    if [[ $rc == 124 || $rc == 137 ]]; then
        verdict="timed out after ${CASE_TIMEOUT}s${verdict:+ ($verdict)}"
    elif [[ -z "$verdict" ]]; then
        verdict="driver exited $rc: $(grep -v '^\s' "$dir/driver.err" | tail -n 1)"
    else
        verdict="${verdict#FAIL: }"
    fi
    record "$t" "$s" "$c" fail $((SECONDS - start)) "$verdict"
    cp -r "$dir" "$LAST_RUN/failed/$t.$s.$c" 2>/dev/null
}

# run_wire TARGET [REASON]: all wire scenarios; with REASON they are failed without running.
run_wire() {
    local t="$1" reason="${2:-}" s c budget_end=$((SECONDS + WIRE_BUDGET))
    for s in "${SC_NAMES[@]}"; do
        [[ "${SC_KIND[$s]}" == wire ]] && selected "$s" || continue
        for c in "${CLIENTS[@]}"; do
            if ! applicable "$t" "$s" "$c"; then
                record "$t" "$s" "$c" na 0 "not applicable"
            elif [[ -n "$reason" ]]; then
                record "$t" "$s" "$c" fail 0 "$reason"
            elif ((SECONDS > budget_end)); then
                record "$t" "$s" "$c" fail 0 "not run: wire scenarios exceeded the ${WIRE_BUDGET}s budget"
            else
                run_case "$t" "$s" "$c"
            fi
        done
    done
}

# na_disk TARGET SCENARIO: the N/A rows of a disk scenario (clients other than its own).
# metadata_case TARGET SCENARIO METADATA_DIR LOG_SUBCOMMAND ARGS...: runs `rafka log
# LOG_SUBCOMMAND ARGS...` to write a __cluster_metadata-0, then the kafka-java case that
# decodes METADATA_DIR (with the command's output as WRITE_LOG); a failed write is the
# scenario's failure.
metadata_case() {
    local t="$1" scenario="$2" mdir="$3" sub="$4" rc
    shift 4
    local wlog="$RUN_DIR/rafka-$sub.log"
    if [[ -n "$build_err" ]]; then
        record "$t" "$scenario" kafka-java fail 0 "$build_err"
    else
        timeout -k 5 60 "$RAFKA_BIN" log "$sub" "$@" >"$wlog" 2>&1
        rc=$?
        if [[ $rc != 0 ]]; then
            record "$t" "$scenario" kafka-java fail 0 "rafka log $sub $* failed (exit $rc): $(tail -n 1 "$wlog" | cut -c1-200)"
        else
            run_case "$t" "$scenario" kafka-java METADATA_DIR="$mdir" WRITE_LOG="$wlog"
        fi
    fi
    na_rows "$t" "$scenario"
}

na_rows() {
    local t="$1" s="$2" c
    for c in "${CLIENTS[@]}"; do applicable "$t" "$s" "$c" || record "$t" "$s" "$c" na 0 "not applicable"; done
}

# ------------------------------------------------------------ Kafka reference helpers
KWD_DIR="$RUN_DIR/kafka-written-dir"   # copy of a partition dir written by Kafka
KWD_TOPIC=kafka-written-dir
DLS_TOPIC=dumplogsegments

# kafka_fixture_kwd BOOTSTRAP: produce the kafka-written-dir records (needs a running broker).
kafka_fixture_kwd() {
    "$VENV_PY" "$COMPAT_DIR/lib/compat.py" create-topic "$1" "$KWD_TOPIC" \
        && "$VENV_PY" "$COMPAT_DIR/lib/compat.py" produce-kwd "$1" "$KWD_TOPIC"
}

# after the broker stopped: keep a copy of the kafka-written-dir partition, and of the
# broker's metadata log (for kafka-written-metadata).
save_kwd() {
    local src="$RUN_DIR/kafka/data/$KWD_TOPIC-0"
    [[ -d "$src" ]] || return 1
    mkdir -p "$KWD_DIR" && cp -r "$src" "$KWD_DIR/" \
        && cp -r "$RUN_DIR/kafka/data/__cluster_metadata-0" "$KWD_DIR/"
}

# make_kwd: when no kafka-target run of this invocation saved the Kafka-written dirs,
# start the reference broker to make them now.
make_kwd() {
    [[ -d "$KWD_DIR/$KWD_TOPIC-0" ]] && return
    local kb
    if kb="$(start_kafka)"; then
        kafka_fixture_kwd "$kb" 2>"$RUN_DIR/kwd.err"
        stop_kafka && save_kwd
        rm -rf "$RUN_DIR/kafka"
    fi
}

# start_kafka: prints the bootstrap address; a second try covers a lost race for a free port.
start_kafka() {
    local try
    for try in 1 2; do
        rm -rf "$RUN_DIR/kafka"
        KAFKA_REF_DIR="$RUN_DIR/kafka" "$COMPAT_DIR/kafka-ref.sh" start 2>"$RUN_DIR/kafka-ref.err" && return 0
        echo "   reference broker did not start (try $try): $(tail -n 1 "$RUN_DIR/kafka-ref.err")" >&2
    done
    return 1
}

stop_kafka() {
    "$COMPAT_DIR/kafka-ref.sh" stop 2>>"$RUN_DIR/kafka-ref.err"
    grep -q "clean shutdown" "$RUN_DIR/kafka-ref.err"
}

need_kwd() { [[ "$TARGET" != kafka ]] && { selected kafka-written-dir || selected kafka-written-metadata; }; }

# ------------------------------------------------------------ target: kafka
run_kafka() {
    local t=kafka start=$SECONDS
    echo "== target kafka (Apache Kafka $(grep '^KAFKA_VERSION=' "$WORK_DIR/versions.env" | cut -d= -f2) reference broker)"
    if ! BOOTSTRAP="$(start_kafka)"; then
        local why
        why="reference broker did not start: $(tail -n 1 "$RUN_DIR/kafka-ref.err")"
        run_wire "$t" "$why"
        selected dumplogsegments && { record "$t" dumplogsegments kafka-java fail 0 "$why"; na_rows "$t" dumplogsegments; }
        return
    fi
    echo "   broker at $BOOTSTRAP"
    run_wire "$t"
    local dls_ok=0
    if selected dumplogsegments; then
        "$VENV_PY" "$COMPAT_DIR/lib/compat.py" create-topic "$BOOTSTRAP" "$DLS_TOPIC" 2>"$RUN_DIR/dls.err" \
            && "$VENV_PY" "$COMPAT_DIR/lib/compat.py" produce-ondisk "$BOOTSTRAP" "$DLS_TOPIC" 2>>"$RUN_DIR/dls.err" && dls_ok=1
    fi
    local kwd_ok=0
    need_kwd && kafka_fixture_kwd "$BOOTSTRAP" 2>"$RUN_DIR/kwd.err" && kwd_ok=1
    local clean=0
    stop_kafka && clean=1
    unset BOOTSTRAP
    if selected dumplogsegments; then
        if [[ $dls_ok != 1 ]]; then
            record "$t" dumplogsegments kafka-java fail 0 "could not produce the records: $(tail -n 1 "$RUN_DIR/dls.err")"
        elif [[ $clean != 1 ]]; then
            record "$t" dumplogsegments kafka-java fail 0 "the reference broker did not shut down cleanly"
        else
            run_case "$t" dumplogsegments kafka-java PARTITION_DIR="$RUN_DIR/kafka/data/$DLS_TOPIC-0" \
                SNAPSHOT_DIR="$RUN_DIR/kafka/data/idempotent-default-producer-kafka-java-0"
        fi
        na_rows "$t" dumplogsegments
    fi
    if selected offsets-decoder; then
        run_case "$t" offsets-decoder kafka-java OFFSETS_DATA_DIR="$RUN_DIR/kafka/data"
        na_rows "$t" offsets-decoder
    fi
    [[ $kwd_ok == 1 && $clean == 1 ]] && save_kwd
    selected kafka-written-dir && na_rows "$t" kafka-written-dir
    selected cluster-metadata-decoder && na_rows "$t" cluster-metadata-decoder
    selected quorum-metadata-decoder && na_rows "$t" quorum-metadata-decoder
    selected kafka-written-metadata && na_rows "$t" kafka-written-metadata
    rm -rf "$RUN_DIR/kafka"
    echo "   target kafka took $((SECONDS - start))s"
}

# ------------------------------------------------------------ target: rafka
# build_rafka: sets RAFKA_BIN, or BUILD_ERR to why there is no usable binary.
build_rafka() {
    BUILD_ERR=""
    if [[ -n "${RAFKA_BIN:-}" ]]; then
        echo "   using RAFKA_BIN=$RAFKA_BIN (no cargo build)"
        [[ -x "$RAFKA_BIN" ]] || BUILD_ERR="RAFKA_BIN=$RAFKA_BIN is not an executable"
        return
    fi
    RAFKA_BIN="$REPO_DIR/target/release/rafka"
    echo "   cargo build --release (log: compat-tests/.work/last-run/cargo-build.log)"
    (cd "$REPO_DIR" && CARGO_TERM_COLOR=never timeout -k 10 1200 "${CARGO:-cargo}" build --release) \
        >"$LAST_RUN/cargo-build.log" 2>&1
    local rc=$?
    if [[ $rc != 0 ]]; then
        BUILD_ERR="cargo build --release failed (exit $rc): $({ grep -m1 -E '^error' "$LAST_RUN/cargo-build.log" \
            || tail -n 1 "$LAST_RUN/cargo-build.log"; } | cut -c1-200)"
    elif [[ ! -x "$RAFKA_BIN" ]]; then
        BUILD_ERR="cargo build --release produced no $RAFKA_BIN"
    fi
}

run_rafka() {
    local t=rafka start=$SECONDS build_err
    echo "== target rafka"
    build_rafka
    build_err="$BUILD_ERR"
    echo "   build: ${build_err:-ok} ($((SECONDS - start))s)"

    # -- wire scenarios against `rafka serve`
    if ! any_wire_selected; then
        :
    elif [[ -n "$build_err" ]]; then
        run_wire "$t" "$build_err"
    else
        # lib/rafka-serve.sh: started on free ports, waited for (RAFKA_WAIT s to listen,
        # then a Metadata answer); restartable by scenarios through RESTART_BROKER.
        local bootstrap why=""
        if bootstrap="$(RAFKA_BIN="$RAFKA_BIN" RAFKA_SERVE_DATA="$RUN_DIR/rafka-data" \
                RAFKA_SERVE_LOG="$RUN_DIR/rafka-serve.log" RAFKA_WAIT="$RAFKA_WAIT" \
                "$COMPAT_DIR/lib/rafka-serve.sh" start 2>"$RUN_DIR/rafka-serve.err")"; then
            echo "   rafka serve on $bootstrap (pid $(sed -n 's/^PID=//p' "$RAFKA_SERVE_STATE")): answers Metadata"
        else
            why="$(tail -n 1 "$RUN_DIR/rafka-serve.err")"
            echo "   rafka serve: ${why:=broker not reachable}"
        fi
        BOOTSTRAP="${bootstrap:-none}" run_wire "$t" "$why"
        "$COMPAT_DIR/lib/rafka-serve.sh" stop
        cp -f "$RUN_DIR/rafka-serve.log" "$LAST_RUN/rafka-serve.log" 2>/dev/null
    fi

    # -- dumplogsegments: Kafka's DumpLogSegments reads what `rafka log write` wrote
    if selected dumplogsegments; then
        local pdir="$RUN_DIR/rafka-disk/$DLS_TOPIC-0"
        mkdir -p "$pdir"
        if [[ -n "$build_err" ]]; then
            record "$t" dumplogsegments kafka-java fail 0 "$build_err"
        elif ! "$VENV_PY" "$COMPAT_DIR/lib/compat.py" gen ondisk-rafka 2>/dev/null \
                | timeout -k 5 120 "$RAFKA_BIN" log write "$pdir" --records-per-batch 100 \
                >"$RUN_DIR/rafka-write.log" 2>&1; then
            record "$t" dumplogsegments kafka-java fail 0 "rafka log write $pdir --records-per-batch 100 failed (exit ${PIPESTATUS[1]}): $(tail -n 1 "$RUN_DIR/rafka-write.log" | cut -c1-200)"
        else
            run_case "$t" dumplogsegments kafka-java PARTITION_DIR="$pdir" \
                SNAPSHOT_DIR="$RUN_DIR/rafka-data/idempotent-default-producer-kafka-java-0"
        fi
        na_rows "$t" dumplogsegments
    fi

    # -- cluster-metadata-decoder: Kafka's decoder of KRaft records reads what
    #    `rafka log write-metadata` wrote (a fixed 3-broker cluster, batches stamped with
    #    partition leader epoch 3)
    if selected cluster-metadata-decoder; then
        rm -rf "$RUN_DIR/rafka-metadata"
        metadata_case "$t" cluster-metadata-decoder "$RUN_DIR/rafka-metadata/__cluster_metadata-0" \
            write-metadata "$RUN_DIR/rafka-metadata/__cluster_metadata-0" --leader-epoch 3
    fi

    # -- quorum-metadata-decoder: the same sample, written through a one-voter openraft
    #    quorum (Raft's control batches, a .checkpoint snapshot), decoded by Kafka
    if selected quorum-metadata-decoder; then
        rm -rf "$RUN_DIR/rafka-quorum"
        metadata_case "$t" quorum-metadata-decoder "$RUN_DIR/rafka-quorum/__cluster_metadata-0" \
            write-quorum "$RUN_DIR/rafka-quorum"
    fi

    # -- offsets-decoder: what `rafka serve` wrote to __consumer_offsets for the groups
    if selected offsets-decoder; then
        if [[ -n "$build_err" ]]; then
            record "$t" offsets-decoder kafka-java fail 0 "$build_err"
        else
            run_case "$t" offsets-decoder kafka-java OFFSETS_DATA_DIR="$RUN_DIR/rafka-data"
        fi
        na_rows "$t" offsets-decoder
    fi

    # -- kafka-written-dir: `rafka log dump` reads a partition Kafka wrote
    if selected kafka-written-dir; then
        make_kwd
        if [[ ! -d "$KWD_DIR/$KWD_TOPIC-0" ]]; then
            record "$t" kafka-written-dir kafka-java fail 0 "could not make the Kafka-written partition: $(tail -n 1 "$RUN_DIR/kwd.err" "$RUN_DIR/kafka-ref.err" 2>/dev/null | grep -v '^=' | tail -n 1)"
        elif [[ -n "$build_err" ]]; then
            record "$t" kafka-written-dir kafka-java fail 0 "$build_err"
        else
            run_case "$t" kafka-written-dir kafka-java PARTITION_DIR="$KWD_DIR/$KWD_TOPIC-0" RAFKA_BIN="$RAFKA_BIN"
        fi
        na_rows "$t" kafka-written-dir
    fi

    # -- kafka-written-metadata: `rafka log dump-metadata` decodes Kafka's own metadata log
    if selected kafka-written-metadata; then
        make_kwd
        if [[ ! -d "$KWD_DIR/__cluster_metadata-0" ]]; then
            record "$t" kafka-written-metadata kafka-java fail 0 "could not keep the reference broker's __cluster_metadata-0: $(tail -n 1 "$RUN_DIR/kwd.err" "$RUN_DIR/kafka-ref.err" 2>/dev/null | grep -v '^=' | tail -n 1)"
        elif [[ -n "$build_err" ]]; then
            record "$t" kafka-written-metadata kafka-java fail 0 "$build_err"
        else
            run_case "$t" kafka-written-metadata kafka-java METADATA_DIR="$KWD_DIR/__cluster_metadata-0" \
                RAFKA_BIN="$RAFKA_BIN" KWD_TOPIC="$KWD_TOPIC"
        fi
        na_rows "$t" kafka-written-metadata
    fi
    echo "   target rafka took $((SECONDS - start))s"
}

# ------------------------------------------------------------ main
[[ "$TARGET" == kafka || "$TARGET" == both ]] && run_kafka
[[ "$TARGET" == rafka || "$TARGET" == both ]] && run_rafka

count() { awk -F'\t' -v s="$1" '$4 == s' "$RESULTS" | wc -l; }
PASS=$(count PASS); FAIL=$(count FAIL); XFAILN=$(count XFAIL); XPASS=$(count XPASS); NA=$(count N/A)

if [[ $DOCS == 1 ]]; then
    "$VENV_PY" "$COMPAT_DIR/lib/report.py" --results "$RESULTS" --scenarios "$COMPAT_DIR/scenarios.txt" \
        --versions "$WORK_DIR/versions.env" --targets "$TARGET" --out "$REPO_DIR/docs/compat.md" \
        && echo "== wrote docs/compat.md" || { echo "== could not write docs/compat.md"; CONFIG_ERRORS=$((CONFIG_ERRORS + 1)); }
fi

echo "== $(date -u +%H:%M:%S) total $((SECONDS - SUITE_START))s: $PASS pass, $FAIL unexpected failures," \
     "$XPASS stale expected failures, $XFAILN expected failures, $NA not applicable, $CONFIG_ERRORS config errors"
if ((FAIL + XPASS > 0)); then
    echo "== unexpected results (logs of failed cases: compat-tests/.work/last-run/failed/):"
    awk -F'\t' '$4 == "FAIL" || $4 == "XPASS" {printf "   %s %s %s %s: %s\n", $4, $1, $2, $3, $6}' "$RESULTS"
fi
echo "$PASS passed, $((FAIL + XPASS + CONFIG_ERRORS)) failed, $((XFAILN + NA)) skipped"
((FAIL + XPASS + CONFIG_ERRORS == 0))
