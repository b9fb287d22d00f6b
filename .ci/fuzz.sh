#!/usr/bin/env bash
# Fuzzing: builds the cargo-fuzz targets in fuzz/ (request: raw frames through the codec
# and dispatch on a real broker; record_batch: batch validation, decoding and the log
# append) and runs each from the seeds below plus whatever corpus earlier runs left in
# fuzz/corpus/<target>/. Fails if a target finds a crash, a panic, a sanitizer report, a
# timeout or an out-of-memory; its reproducer is left in fuzz/artifacts/<target>/ (replay:
# cargo +nightly fuzz run <target> <file>).
#
# Two forms:
#   .ci/fuzz.sh                     CI's: a fixed seed (FUZZ_SEED) and a fixed number of
#                                   inputs per target (FUZZ_RUNS), so a run is repeatable
#                                   on a fresh clone; FUZZ_BUILD=dev builds without
#                                   optimisation (minutes less to build, fewer inputs/s)
#   FUZZ_SECONDS=3600 .ci/fuzz.sh   the long form: a random seed, that long per target,
#                                   optimised build (FUZZ_BUILD=release, the default)
#
# Needs a nightly toolchain (FUZZ_TOOLCHAIN, default nightly); installs cargo-fuzz itself.
# AddressSanitizer is on in both forms.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never

seconds="${FUZZ_SECONDS:-}"
seed="${FUZZ_SEED:-20261206}"
build="${FUZZ_BUILD:-release}"
case "$build" in
    release) build_flag=() ;;
    dev) build_flag=(--dev) ;;
    *) echo "fuzz.sh: FUZZ_BUILD is release or dev, not $build" >&2; exit 2 ;;
esac
# inputs per target in the fixed form: record_batch runs in-process and is cheap, request
# goes through a broker's codec, dispatch and log for each input
runs_for() {
    case "$1" in
        record_batch) echo "${FUZZ_RUNS:-25000}" ;;
        *) echo "${FUZZ_RUNS:-6000}" ;;
    esac
}
toolchain="${FUZZ_TOOLCHAIN:-nightly}"
start=$(date +%s)
step() { printf '\n=== %s (%ss)\n' "$*" "$(( $(date +%s) - start ))"; }

step "toolchain"
if ! cargo "+$toolchain" --version; then
    echo "fuzz.sh: cargo-fuzz needs the $toolchain toolchain (rustup toolchain install $toolchain)" >&2
    exit 1
fi
if ! cargo fuzz --version 2>/dev/null; then
    step "cargo install --locked cargo-fuzz"
    cargo install --locked cargo-fuzz
fi

# The brokers and logs the targets open live here (tmpfs when there is one: produces with
# acks=all fsync), removed on exit.
scratch_base=/tmp
[ -d /dev/shm ] && [ -w /dev/shm ] && scratch_base=/dev/shm
RAFKA_FUZZ_DIR="$(mktemp -d "$scratch_base/rafka-fuzz.XXXXXX")"
export RAFKA_FUZZ_DIR
trap 'rm -rf "$RAFKA_FUZZ_DIR"' EXIT

step "seed corpus"
# One seed per line: target, name, bytes in hex. Well-formed inputs the fuzzer starts from
# (it would take far longer than a smoke run to find a Produce with a valid CRC-32C alone).
# request seeds are size-prefixed frames as a client sends them, on the topic "t" the
# target creates; record_batch seeds are v2 batches (uncompressed, each codec, control).
n=0
while read -r target name hex; do
    [ -n "$target" ] || continue
    mkdir -p "fuzz/corpus/$target"
    printf '%b' "$(sed 's/../\\x&/g' <<<"$hex")" >"fuzz/corpus/$target/seed-$name"
    n=$((n + 1))
done <<'SEEDS'
record_batch plain 000000000000000000000062ffffffff025cafed4f0000000000020000018bcfe568000000018bcfe56805ffffffffffffffffffffffffffff0000000314000000046b300476300010000a02010476310038000404046b321276616c75652074776f040268046876086e756c6c01
record_batch two-batches 000000000000000000000062ffffffff025cafed4f0000000000020000018bcfe568000000018bcfe56805ffffffffffffffffffffffffffff0000000314000000046b300476300010000a02010476310038000404046b321276616c75652074776f040268046876086e756c6c0100000000000000000000003affffffff024fcb511800000000000000000000000000050000000000000005ffffffffffffffffffffffffffff00000001100000000278027900
record_batch log-append-time 000000000000000000000062ffffffff0264019fd70008000000020000018bcfe568000000018bcfe56805ffffffffffffffffffffffffffff0000000314000000046b300476300010000a02010476310038000404046b321276616c75652074776f040268046876086e756c6c01
record_batch control 000000000000000000000042ffffffff02eed31f7a00300000000000000000000000000000000000000000ffffffffffffffffffffffffffff000000012000000008000000000c00000000000000
record_batch gzip 000000000000000000000079ffffffff02afe317490001000000020000018bcfe568000000018bcfe56805ffffffffffffffffffffffffffff000000031f8b08000000000000ff013100ceff14000000046b300476300010000a02010476310038000404046b321276616c75652074776f040268046876086e756c6c014276eaa531000000
record_batch snappy 000000000000000000000064ffffffff02c61306780002000000020000018bcfe568000000018bcfe56805ffffffffffffffffffffffffffff0000000331c014000000046b300476300010000a02010476310038000404046b321276616c75652074776f040268046876086e756c6c01
record_batch lz4 000000000000000000000071ffffffff022243a07b0003000000020000018bcfe568000000018bcfe56805ffffffffffffffffffffffffffff0000000304224d186040823100008014000000046b300476300010000a02010476310038000404046b321276616c75652074776f040268046876086e756c6c0100000000
record_batch zstd 000000000000000000000073ffffffff02a5bfeed10004000000020000018bcfe568000000018bcfe56805ffffffffffffffffffffffffffff0000000328b52ffd0438ad01001c030014000000046b300476300010000a02010476310038000404046b321276616c75652074776f040268046876086e756c6c01007d4d058a
record_batch snappy-xerial 000000000000000000000078ffffffff020e7c2b400002000000020000018bcfe568000000018bcfe56805ffffffffffffffffffffffffffff0000000382534e415050590000000001000000010000003331c014000000046b300476300010000a02010476310038000404046b321276616c75652074776f040268046876086e756c6c01
request api-versions-v0 0000000e0012000000000001000473656564
request api-versions-v3 000000170012000300000001000473656564000573656564023100
request api-versions-v4 000000170012000400000001000473656564000573656564023100
request metadata-v12-all 000000130003000c000000020004736565640000010000
request metadata-v1-t 00000015000300010000000200047365656400000001000174
request metadata-v4-autocreate 0000001900030004000000020004736565640000000100046175746f01
request produce-v3 000000970000000300000003000473656564ffffffff000003e80000000100017400000001000000000000006e000000000000000000000062ffffffff025cafed4f0000000000020000018bcfe568000000018bcfe56805ffffffffffffffffffffffffffff0000000314000000046b300476300010000a02010476310038000404046b321276616c75652074776f040268046876086e756c6c01
request produce-v9-two 000000d7000000090000000300047365656400000001000003e80202740200000001b501000000000000000000000062ffffffff025cafed4f0000000000020000018bcfe568000000018bcfe56805ffffffffffffffffffffffffffff0000000314000000046b300476300010000a02010476310038000404046b321276616c75652074776f040268046876086e756c6c0100000000000000000000003affffffff024fcb511800000000000000000000000000050000000000000005ffffffffffffffffffffffffffff00000001100000000278027900000000
request produce-v9-zstd 000000a2000000090000000300047365656400000001000003e802027402000000018001000000000000000000000073ffffffff02a5bfeed10004000000020000018bcfe568000000018bcfe56805ffffffffffffffffffffffffffff0000000328b52ffd0438ad01001c030014000000046b300476300010000a02010476310038000404046b321276616c75652074776f040268046876086e756c6c01007d4d058a000000
request produce-v11-acks0 000000a80000000b0000000300047365656400000000000003e802027402000000018601000000000000000000000079ffffffff02afe317490001000000020000018bcfe568000000018bcfe56805ffffffffffffffffffffffffffff000000031f8b08000000000000ff013100ceff14000000046b300476300010000a02010476310038000404046b321276616c75652074776f040268046876086e756c6c014276eaa531000000000000
request fetch-v4 0000003a0001000400000004000473656564ffffffff00000064000000010010000000000000010001740000000100000000000000000000000000100000
request fetch-v12 000000510001000c0000000400047365656400ffffffff0000006400000001001000000000000000ffffffff0202740200000000ffffffff0000000000000001ffffffffffffffffffffffff001000000000010100
request list-offsets-v1 000000290002000100000005000473656564ffffffff000000010001740000000100000000ffffffffffffffff
request list-offsets-v7 00000080000200070000000500047365656400ffffffff000202740700000000ffffffffffffffffffffffff0000000000fffffffffffffffffffffffe0000000000fffffffffffffffffffffffd0000000000fffffffffffffffffffffffc0000000000ffffffff00000000000000000000000000ffffffff0000018bcfe56801000000
request create-topics-v7 0000003900130007000000060004736565640002026e0000000200010102126d61782e6d6573736167652e627974657305323034380000000003e80000
request create-topics-v2 0000004100130002000000060004736565640000000100016e000000020001000000000000000100116d61782e6d6573736167652e6279746573000432303438000003e800
request delete-topics-v6 0000002800140006000000070004736565640002026e0000000000000000000000000000000000000003e800
request delete-topics-v1 0000001900140001000000070004736565640000000100016e000003e8
request delete-records-v2 00000026001500020000000800047365656400020274020000000000000000000000010000000003e800
request describe-configs-v4 0000002e00200004000000090004736565640003020274000004023102116c6f672e726574656e74696f6e2e6d7300010100
request create-partitions-v3 0000001e002500030000000a00047365656400020274000000030100000003e80000
request incremental-alter-configs-v1 0000003d002c00010000000b0004736565640002020274030d726574656e74696f6e2e6d7300063630303030000e7365676d656e742e6279746573010000000000
request describe-cluster-v1 00000012003c00010000000c00047365656400000100
request describe-topic-partitions-v0 00000019004b00000000000d00047365656400020274000000000aff00
request session 000000d7000000090000000300047365656400000001000003e80202740200000001b501000000000000000000000062ffffffff025cafed4f0000000000020000018bcfe568000000018bcfe56805ffffffffffffffffffffffffffff0000000314000000046b300476300010000a02010476310038000404046b321276616c75652074776f040268046876086e756c6c0100000000000000000000003affffffff024fcb511800000000000000000000000000050000000000000005ffffffffffffffffffffffffffff00000001100000000278027900000000000000510001000c0000000400047365656400ffffffff0000006400000001001000000000000000ffffffff0202740200000000ffffffff0000000000000001ffffffffffffffffffffffff00100000000001010000000080000200070000000500047365656400ffffffff000202740700000000ffffffffffffffffffffffff0000000000fffffffffffffffffffffffe0000000000fffffffffffffffffffffffd0000000000fffffffffffffffffffffffc0000000000ffffffff00000000000000000000000000ffffffff0000018bcfe568010000000000003900130007000000060004736565640002026e0000000200010102126d61782e6d6573736167652e627974657305323034380000000003e800000000002800140006000000070004736565640002026e0000000000000000000000000000000000000003e800
SEEDS
echo "$n seeds"

step "build (cargo fuzz build: $build profile, debug assertions, AddressSanitizer)"
cargo "+$toolchain" fuzz build "${build_flag[@]}"

failed=()
for target in $(cargo "+$toolchain" fuzz list); do
    # -timeout: one input running that long is a finding (a hang), as is using more than
    # -rss_limit_mb; both are libFuzzer defaults' scale, tightened for a short run.
    if [ -n "$seconds" ]; then
        step "fuzz $target for ${seconds}s (random seed)"
        bound=(-max_total_time="$seconds")
    else
        step "fuzz $target: $(runs_for "$target") inputs from seed $seed"
        bound=(-seed="$seed" -runs="$(runs_for "$target")")
    fi
    if ! cargo "+$toolchain" fuzz run "${build_flag[@]}" "$target" -- \
        "${bound[@]}" -timeout=25 -rss_limit_mb=2048 -print_final_stats=1; then
        echo "fuzz.sh: $target failed; reproducer in fuzz/artifacts/$target/" >&2
        failed+=("$target")
    fi
done

step "done"
if [ "${#failed[@]}" -gt 0 ]; then
    echo "fuzz.sh: crashes found by: ${failed[*]}" >&2
    exit 1
fi
echo "no crashes"
