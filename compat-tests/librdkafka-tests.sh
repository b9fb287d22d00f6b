#!/usr/bin/env bash
# librdkafka's own transactional regression tests, run against a broker (issue: "librdkafka's
# transactional tests that run against a real broker: 0103 and 0129, plus 0098"). The
# librdkafka 2.12.1 source is the rdkafka-sys crate's bundled copy in the cargo registry
# (`cargo fetch --manifest-path Cargo.toml` puts it there); nothing is downloaded.
#
#   compat-tests/librdkafka-tests.sh [--target kafka|rafka|both] [--tests 0103,0129,0098]
#
# 1. Build (cached): the librdkafka tree is copied to compat-tests/.work/librdkafka/src,
#    three test sources are adapted to a one-broker cluster (below), then
#    ./configure --disable-ssl --disable-gssapi --disable-curl --disable-zstd (no
#    --install-deps: nothing is fetched), `make libs`, `make -C tests test-runner`, and
#    the Java helpers of tests/java (TransactionProducerCli, for 0098) are compiled
#    against the kafka-clients jar of KAFKA_LIBS. A stamp holding the source path, the
#    flags and this script's adaptations keeps the build: the next run starts at once.
#    apt-get installs what is missing (gcc, g++, make, zlib1g-dev, rapidjson-dev: 0098
#    is compiled only with RapidJSON, else it SKIPs), as setup.sh does.
# 2. Per target, one broker: kafka = one KRaft node by kafka-ref.sh, rafka = `rafka serve`
#    by lib/rafka-serve.sh, both with librdkafka's "default" test scenario
#    (tests/scenarios/default.json): auto.create.topics.enable=true (0103's fenced
#    subtests produce to a topic nobody created) and num.partitions=4.
# 3. Per test, one `test-runner -L -p1` (TESTS=<n>; -L leaves out the tests that need no
#    broker, such as 0103_transactions_local; -p1: one test at a time), under
#    `timeout` (LIBRDKAFKA_TEST_TIMEOUT seconds, default 300), with RDKAFKA_TEST_CONF
#    naming a test.conf that holds bootstrap.servers=<the broker>, TEST_KAFKA_VERSION
#    (default 4.0.0: Kafka 4 behaviour, e.g. KIP-360 recovery in 0103), and KAFKA_PATH
#    naming a stand-in Kafka directory (libs/ = KAFKA_LIBS, bin/kafka-run-class.sh =
#    java -cp) through which 0098 starts its Java producer. Prints PASS or FAIL per test
#    (and per subtest, as test-runner reports them), its log in
#    compat-tests/.work/librdkafka-tests/TARGET/NNNN.log.
#
# The adaptations to a one-broker cluster (librdkafka's CI runs a 3-broker trivup cluster):
#   - 0103-transactions.c (7 topics) and 0098-consumer-txn.cpp (16): the topics the tests
#     create with replication factor 3 are created with replication factor 1;
#   - 0129-fetch_aborted_msgs.c: its topic's segment.bytes=20000 becomes
#     internal.segment.bytes=20000: Kafka 4.x refuses segment.bytes below 1 MiB (the
#     test's CreateTopics fails with INVALID_CONFIG) and takes the small segments the test
#     wants through that test-only key.
# Each is a counted substitution: a librdkafka whose sources differ fails the build.
#
# Exit status 0 iff every selected test passed on every target. Runtime (2 shared cores):
# the first build about 2 min 10 s; then Kafka about 3.5 min (its start 5-10 s, 0103
# ~50 s, 0129 ~14 s, 0098 ~140 s), Rafka with transactions (main at bc92589) about the
# same (193 s), without them about 15 s (each test fails at once); --target both 399 s. Every test is bounded by LIBRDKAFKA_TEST_TIMEOUT: a
# target takes at most 3 x 300 s plus its broker's start.
#
# Environment:
#   RAFKA=path                 the rafka binary (default: target/release/rafka)
#   KAFKA_LIBS=dir             Kafka 4.x jars (default compat-tests/.work/kafka-libs, setup.sh)
#   LIBRDKAFKA_SRC=dir         a librdkafka source tree (default: rdkafka-sys-4.10.0+2.12.1's,
#                              found in $CARGO_HOME/registry/src)
#   LIBRDKAFKA_TEST_TIMEOUT=s  the time limit of one test-runner run (default 300)
#   LIBRDKAFKA_MAKE_JOBS=n     make -j (default 2)
#   TEST_KAFKA_VERSION=x.y.z   the broker version test-runner assumes (default 4.0.0)
#   TEST_DEBUG=...             librdkafka debug contexts for every client (e.g. eos,protocol)
#   TEST_LEVEL=n               test-runner verbosity (default 2)
#   RUST_LOG=...               passed to rafka serve
set -uo pipefail

KAFKA_LIBS_FROM_ENV="${KAFKA_LIBS:-}"
# shellcheck source-path=SCRIPTDIR source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
[[ -n "$KAFKA_LIBS_FROM_ENV" ]] && KAFKA_LIBS="$KAFKA_LIBS_FROM_ENV"
export KAFKA_LIBS

ALL_TESTS=(0103 0129 0098)
TARGET=both
TESTS_ARG=""
while (($#)); do
    case "$1" in
        -h|--help) awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"; exit 0 ;;
        --target) [[ $# -ge 2 ]] || { echo "librdkafka-tests.sh: --target needs kafka, rafka or both" >&2; exit 1; }
                  TARGET="$2"; shift 2 ;;
        --target=*) TARGET="${1#--target=}"; shift ;;
        --tests) [[ $# -ge 2 ]] || { echo "librdkafka-tests.sh: --tests needs a list, e.g. 0103,0129" >&2; exit 1; }
                 TESTS_ARG="$2"; shift 2 ;;
        --tests=*) TESTS_ARG="${1#--tests=}"; shift ;;
        *) echo "librdkafka-tests.sh: unknown argument $1 (see --help)" >&2; exit 1 ;;
    esac
done
case "$TARGET" in
    kafka) TARGETS=(kafka) ;;
    rafka) TARGETS=(rafka) ;;
    both) TARGETS=(kafka rafka) ;;
    *) echo "librdkafka-tests.sh: --target $TARGET: not kafka, rafka or both" >&2; exit 1 ;;
esac
SELECTED=("${ALL_TESTS[@]}")
if [[ -n "$TESTS_ARG" ]]; then
    IFS=, read -r -a SELECTED <<<"$TESTS_ARG"
    for t in "${SELECTED[@]}"; do
        [[ " ${ALL_TESTS[*]} " == *" $t "* ]] \
            || { echo "librdkafka-tests.sh: --tests $t: not one of ${ALL_TESTS[*]}" >&2; exit 1; }
    done
fi

RAFKA="${RAFKA:-$REPO_DIR/target/release/rafka}"
TEST_TIMEOUT="${LIBRDKAFKA_TEST_TIMEOUT:-300}"
JOBS="${LIBRDKAFKA_MAKE_JOBS:-2}"
export TEST_KAFKA_VERSION="${TEST_KAFKA_VERSION:-4.0.0}"
BUILD_ROOT="$WORK_DIR/librdkafka"
BUILD="$BUILD_ROOT/src"
RUN_ROOT="$WORK_DIR/librdkafka-tests"
CONFIGURE_FLAGS=(--no-download --disable-ssl --disable-gssapi --disable-curl --disable-zstd)
T_ALL=$SECONDS

say() { printf '== %s\n' "$*"; }
die() { echo "FAIL: $*"; exit 1; }

# ------------------------------------------------------------ prerequisites
command -v java >/dev/null 2>&1 || die "no java on PATH (compat-tests/setup.sh installs it)"
command -v kcat >/dev/null 2>&1 || die "no kcat on PATH (compat-tests/setup.sh installs it)"
if ! compgen -G "$KAFKA_LIBS/kafka-clients-*.jar" >/dev/null || ! compgen -G "$KAFKA_LIBS/kafka_2.13-*.jar" >/dev/null; then
    die "no Kafka jars in $KAFKA_LIBS: run compat-tests/setup.sh first (or set KAFKA_LIBS)"
fi
for t in "${TARGETS[@]}"; do
    [[ "$t" == kafka || -x "$RAFKA" ]] || die "RAFKA=$RAFKA is not an executable (cargo build --release, or set RAFKA)"
done

# apt packages for what the build needs and the machine lacks (sudo when not root)
APT_PACKAGES=()
command -v gcc >/dev/null 2>&1 || APT_PACKAGES+=(gcc)
command -v g++ >/dev/null 2>&1 || APT_PACKAGES+=(g++)
command -v make >/dev/null 2>&1 || APT_PACKAGES+=(make)
command -v javac >/dev/null 2>&1 || APT_PACKAGES+=(default-jdk-headless)
[[ -f /usr/include/zlib.h ]] || APT_PACKAGES+=(zlib1g-dev)
[[ -f /usr/include/rapidjson/schema.h ]] || APT_PACKAGES+=(rapidjson-dev)
if ((${#APT_PACKAGES[@]})); then
    say "installing ${APT_PACKAGES[*]} (apt)"
    mkdir -p "$WORK_DIR"
    SUDO=(); [[ $(id -u) == 0 ]] || SUDO=(sudo)
    command -v apt-get >/dev/null 2>&1 || die "no apt-get: install ${APT_PACKAGES[*]} yourself"
    export DEBIAN_FRONTEND=noninteractive
    { timeout 300 "${SUDO[@]}" apt-get update -q \
        && timeout 600 "${SUDO[@]}" apt-get install -y -q "${APT_PACKAGES[@]}"; } >"$WORK_DIR/librdkafka-apt.log" 2>&1 \
        || { tail -n 20 "$WORK_DIR/librdkafka-apt.log"; die "apt-get install ${APT_PACKAGES[*]} failed"; }
fi

# ------------------------------------------------------------ the librdkafka source
if [[ -z "${LIBRDKAFKA_SRC:-}" ]]; then
    find_src() { compgen -G "${CARGO_HOME:-$HOME/.cargo}/registry/src/*/rdkafka-sys-4.10.0+2.12.1/librdkafka/tests/0103-transactions.c" | head -n 1; }
    f="$(find_src)"
    if [[ -z "$f" ]]; then
        say "librdkafka's source not in the cargo registry: cargo fetch"
        timeout 600 cargo fetch --manifest-path "$REPO_DIR/Cargo.toml" >"$WORK_DIR/librdkafka-cargo-fetch.log" 2>&1 \
            || { tail -n 5 "$WORK_DIR/librdkafka-cargo-fetch.log"; die "cargo fetch failed"; }
        f="$(find_src)"
    fi
    [[ -n "$f" ]] || die "no rdkafka-sys-4.10.0+2.12.1/librdkafka in ${CARGO_HOME:-$HOME/.cargo}/registry/src (set LIBRDKAFKA_SRC)"
    LIBRDKAFKA_SRC="${f%/tests/0103-transactions.c}"
fi
[[ -f "$LIBRDKAFKA_SRC/configure" && -f "$LIBRDKAFKA_SRC/tests/test.c" ]] \
    || die "LIBRDKAFKA_SRC=$LIBRDKAFKA_SRC is not a librdkafka source tree with its tests/"

# ------------------------------------------------------------ build (cached)
# subst FILE COUNT FROM TO: replace each of exactly COUNT occurrences of the fixed
# string FROM in FILE by TO, or fail
subst() {
    local file="$1" count="$2" from="$3" to="$4" n
    n="$(grep -cF -- "$from" "$file")"
    [[ "$n" == "$count" ]] || { echo "adapt: $file has $n lines with '$from', not $count" >&2; return 1; }
    FROM="$from" TO="$to" perl -0pi -e 's/\Q$ENV{FROM}\E/$ENV{TO}/g' "$file"
}
# adapt: the one-broker adaptations (see the header)
adapt() {
    (
        set -e
        cd "$BUILD/tests"
        subst 0103-transactions.c 7 ', 3, 5000);' ', 1, 5000);'
        subst 0098-consumer-txn.cpp 16 ', 3, 5000);' ', 1, 5000);'
        subst 0129-fetch_aborted_msgs.c 1 '"segment.bytes", "20000",' '"internal.segment.bytes", "20000",'
    )
}

STAMP="src=$LIBRDKAFKA_SRC
configure=${CONFIGURE_FLAGS[*]}
adapt=$(declare -f subst adapt | sha256sum | cut -c1-16)
rapidjson=$([[ -f /usr/include/rapidjson/schema.h ]] && echo y || echo n)
kafka-clients=$(basename "$(compgen -G "$KAFKA_LIBS/kafka-clients-*.jar" | head -n 1)")"
if [[ -x "$BUILD/tests/test-runner" && -f "$BUILD_ROOT/.built" && "$(cat "$BUILD_ROOT/.built")" == "$STAMP" ]]; then
    say "librdkafka $(sed -n 's/^RDKAFKA_VERSION_STR=[[:space:]]*//p' "$BUILD/Makefile.config" 2>/dev/null) and its test-runner: built already ($BUILD)"
else
    t0=$SECONDS
    rm -rf "$BUILD_ROOT"
    mkdir -p "$BUILD_ROOT"
    say "building librdkafka from $LIBRDKAFKA_SRC in $BUILD (make -j$JOBS; log $BUILD_ROOT/build.log)"
    cp -a "$LIBRDKAFKA_SRC" "$BUILD" || die "copying $LIBRDKAFKA_SRC failed"
    chmod -R u+w "$BUILD"
    adapt >"$BUILD_ROOT/adapt.log" 2>&1 || { cat "$BUILD_ROOT/adapt.log"; die "adapting the tests to one broker failed"; }
    (
        set -e
        cd "$BUILD"
        timeout 300 ./configure "${CONFIGURE_FLAGS[@]}"
        timeout 1800 make -j"$JOBS" libs
        timeout 1800 make -j"$JOBS" -C tests test-runner
    ) >"$BUILD_ROOT/build.log" 2>&1 || { tail -n 30 "$BUILD_ROOT/build.log"; die "building librdkafka or its test-runner failed (log $BUILD_ROOT/build.log)"; }
    grep -q '^WITH_RAPIDJSON=[[:space:]]*y' "$BUILD/Makefile.config" \
        || echo "warning: librdkafka configured without RapidJSON: 0098 will SKIP (and so FAIL here)"
    # the Java helpers (0098's TransactionProducerCli) against kafka-clients
    timeout 300 make -s -C "$BUILD/tests/java" KAFKA_JARS="$KAFKA_LIBS" >"$BUILD_ROOT/java.log" 2>&1 \
        || echo "warning: the Java helpers of tests/java did not compile (0098 will fail): $(tail -n 3 "$BUILD_ROOT/java.log")"
    printf '%s\n' "$STAMP" >"$BUILD_ROOT/.built"
    say "built in $((SECONDS - t0))s"
fi

# the stand-in KAFKA_PATH: test_run_java() runs `make -s java` (javac against
# $KAFKA_PATH/libs/kafka-clients-*.jar) and java/run-class.sh, which runs
# CLASSPATH=tests/java $KAFKA_PATH/bin/kafka-run-class.sh CLASS ARGS
KPATH="$BUILD_ROOT/kafka-path"
mkdir -p "$KPATH/bin"
ln -sfn "$KAFKA_LIBS" "$KPATH/libs"
{
    echo '#!/usr/bin/env bash'
    echo '# written by compat-tests/librdkafka-tests.sh: Kafka'"'"'s kafka-run-class.sh, for tests/java/run-class.sh'
    printf 'exec java'
    printf ' %q' "${KAFKA_TOOL_JVM_OPTS[@]}" "-Dcompat.log.level=WARN"
    # shellcheck disable=SC2016  # expanded by the script written, not here
    printf ' -cp "${CLASSPATH:+$CLASSPATH:}"%q' "$KAFKA_LIBS/*"
    echo ' "$@"'
} >"$KPATH/bin/kafka-run-class.sh"
chmod +x "$KPATH/bin/kafka-run-class.sh"

# ------------------------------------------------------------ one target
# librdkafka's default test scenario (tests/scenarios/default.json), less its 3 replicas
SCENARIO_PROPS=(auto.create.topics.enable=true num.partitions=4)

run_target() {
    local target="$1" tdir="$RUN_ROOT/$1" state out boot t0 t rc secs verdict why
    local -a results=()
    rm -rf "$tdir"
    mkdir -p "$tdir"
    state="$tdir/broker.state"
    t0=$SECONDS
    if [[ "$target" == kafka ]]; then
        out="$(KAFKA_REF_STATE="$state" KAFKA_REF_DIR="$tdir/kafka" \
            KAFKA_REF_PROPS="$(printf '%s\n' "${SCENARIO_PROPS[@]}")" \
            "$COMPAT_DIR/kafka-ref.sh" start 2>"$tdir/broker-start.err")" \
            || { echo "FAIL: the Kafka broker did not start: $(tail -n 3 "$tdir/broker-start.err")"; return 1; }
        BROKER_LOG="$tdir/kafka/broker.log"
    else
        local -a opts=()
        for p in "${SCENARIO_PROPS[@]}"; do opts+=(-o "$p"); done
        out="$(RAFKA_SERVE_STATE="$state" RAFKA_BIN="$RAFKA" RAFKA_SERVE_DATA="$tdir/rafka-data" \
            RAFKA_SERVE_LOG="$tdir/broker.log" RAFKA_SERVE_ARGS="${opts[*]}" \
            "$COMPAT_DIR/lib/rafka-serve.sh" start 2>"$tdir/broker-start.err")" \
            || { echo "FAIL: rafka serve did not start: $(tail -n 1 "$tdir/broker-start.err")"; return 1; }
        BROKER_LOG="$tdir/broker.log"
    fi
    STOP_STATE="$state" STOP_TARGET="$target"
    boot="$(tail -n 1 <<<"$out")"
    say "$target broker at $boot ($((SECONDS - t0))s; log $BROKER_LOG)"
    # test.conf: test-runner reads it (RDKAFKA_TEST_CONF) for every client it makes
    cat >"$tdir/test.conf" <<EOF
# written by compat-tests/librdkafka-tests.sh
bootstrap.servers=$boot
EOF

    local passed=0 failed=0 tst
    for tst in "${SELECTED[@]}"; do
        t=$SECONDS
        # (the outer 2>/dev/null: bash's own "Aborted" line, test-runner aborting after a
        # failure with librdkafka threads still running)
        {
            (
                cd "$BUILD/tests" || exit 1
                export LD_LIBRARY_PATH="../src:../src-cpp${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
                RDKAFKA_TEST_CONF="$tdir/test.conf" KAFKA_PATH="$KPATH" TESTS="$tst" RDKAFKA_GITVER="v2.12.1" \
                    exec timeout -k 10 "$TEST_TIMEOUT" ./test-runner -L -p1 </dev/null
            ) >"$tdir/$tst.log" 2>&1
        } 2>/dev/null
        rc=$?
        secs=$((SECONDS - t))
        # the statistics files test-runner writes to its directory, with the log
        mv -f "$BUILD/tests/stats_${tst}"_*.json "$tdir/" 2>/dev/null
        # the runner's own verdicts, without colours
        sed 's/\x1b\[[0-9;]*m//g' "$tdir/$tst.log" >"$tdir/$tst.txt"
        local tests_passed tests_failed tests_skipped
        tests_passed="$(grep -oE '=+ Test [0-9]{4}_[A-Za-z0-9_]+ PASSED' "$tdir/$tst.txt" | awk '{print $3}' | paste -sd, -)"
        tests_failed="$(grep -oE '=+ Test [0-9]{4}_[A-Za-z0-9_]+ FAILED' "$tdir/$tst.txt" | awk '{print $3}' | paste -sd, -)"
        tests_skipped="$(grep -oE '=+ Test [0-9]{4}_[A-Za-z0-9_]+ SKIPPED' "$tdir/$tst.txt" | awk '{print $3}' | paste -sd, -)"
        why=""
        if ((rc == 124 || rc == 137)); then
            why="timed out after ${TEST_TIMEOUT}s"
        elif ((rc != 0)); then
            why="test-runner exited $rc"
        elif [[ -z "$tests_passed" ]]; then
            why="test-runner ran no broker test matching $tst${tests_skipped:+ ($tests_skipped SKIPPED)}"
        elif [[ -n "$tests_skipped" ]]; then
            why="$tests_skipped SKIPPED"
        fi
        [[ -n "$tests_failed" ]] && why="$tests_failed FAILED${why:+; $why}"
        # the first failure test-runner reports: '### Test "NAME (SUBTEST)" failed at
        # FILE:LINE:FUNCTION() at DATE: ###' and the assertion on the next line
        local first
        first="$(awk '/^### Test ".*" failed at / && !/"<MAIN>"/ { split($0, a, "\""); f = a[2]; getline; print f ": " $0; exit }' "$tdir/$tst.txt" | cut -c1-400)"
        [[ -n "$why" && -n "$first" ]] && why="$why: $first"
        if [[ -z "$why" ]]; then
            verdict=PASS; passed=$((passed + 1))
        else
            verdict=FAIL; failed=$((failed + 1))
        fi
        echo "$verdict $tst ($target, ${secs}s)${why:+: $why}"
        # the subtests as test-runner reports them ("[ name: PASS (1.2s) ]", "[ name: SKIP:
        # why ]"); 0098 has no SUB_TEST: its section headers ("[ Consumer transaction tests
        # using java producer ... ]", "Test 0 - basic commit + abort"), the last one
        # printed being where a failure happened
        sed -nE 's/^\[[^]]*\] //; /^\[ .*: (PASS \([0-9.]+s\)|SKIP: .*) \]$|^\[ Consumer transaction tests using |^Test [0-9]+ - /p' \
            "$tdir/$tst.txt" | sed 's/^/    /'
        if [[ "$verdict" == FAIL ]]; then
            echo "    ---- the first failure lines of $tdir/$tst.log:"
            grep -E 'FAIL|### Test|Test .* failed|assert|Assertion|Exception|TXNERR' "$tdir/$tst.txt" \
                | grep -v '^\[ .*: PASS' | head -n 8 | cut -c1-400 | sed 's/^/    /'
            if ((rc == 124 || rc == 137)); then
                echo "    ---- where it was when the time ran out (last lines):"
                tail -n 8 "$tdir/$tst.txt" | cut -c1-400 | sed 's/^/    /'
            fi
        fi
        results+=("$tst $verdict ${secs}s")
        if ! kill -0 "$(sed -n 's/^PID=//p' "$state")" 2>/dev/null; then
            echo "FAIL: the $target broker exited during $tst: $(tail -n 3 "$BROKER_LOG")"
            failed=$((failed + 1))
            break
        fi
    done
    printf '%s\n' "${results[@]}" >"$tdir/results"
    stop_broker
    echo "== $target: $passed passed, $failed failed ($((SECONDS - t0))s; logs in $tdir)"
    ((failed == 0))
}

STOP_STATE="" STOP_TARGET=""
stop_broker() {
    [[ -n "$STOP_STATE" && -f "$STOP_STATE" ]] || return 0
    if [[ "$STOP_TARGET" == kafka ]]; then
        KAFKA_REF_STATE="$STOP_STATE" "$COMPAT_DIR/kafka-ref.sh" stop >/dev/null 2>&1
    else
        RAFKA_SERVE_STATE="$STOP_STATE" "$COMPAT_DIR/lib/rafka-serve.sh" stop >/dev/null 2>&1
    fi
    STOP_STATE=""
}
trap 'stop_broker' EXIT
trap 'exit 1' INT TERM

rc=0
declare -A TRC=()
for target in "${TARGETS[@]}"; do
    run_target "$target"
    TRC[$target]=$?
    ((TRC[$target] == 0)) || rc=1
done
if ((${#TARGETS[@]} > 1)); then
    printf '%-6s | %-20s | %-20s\n' test kafka rafka
    for tst in "${SELECTED[@]}"; do
        printf '%-6s | %-20s | %-20s\n' "$tst" \
            "$(awk -v t="$tst" '$1 == t { print $2 " " $3 }' "$RUN_ROOT/kafka/results" 2>/dev/null)" \
            "$(awk -v t="$tst" '$1 == t { print $2 " " $3 }' "$RUN_ROOT/rafka/results" 2>/dev/null)"
    done
fi
for target in "${TARGETS[@]}"; do
    ((TRC[$target] == 0)) || echo "FAIL: a librdkafka test failed against $target"
done
echo "librdkafka-tests ($TARGET): $(( ${#SELECTED[@]} * ${#TARGETS[@]} )) test runs, $((SECONDS - T_ALL))s in all: $( ((rc == 0)) && echo PASS || echo FAIL)"
exit "$rc"
