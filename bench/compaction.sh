#!/usr/bin/env bash
# Log cleaner throughput: Rafka's cleaner against Apache Kafka's on the same data (issue #16).
#
#   bench/compaction.sh            full run: 3 rounds x 3 passes of 512 MiB each, medians;
#                                  rewrites the generated part of docs/perf/compaction.md
#   bench/compaction.sh --smoke    CI: 16 MiB, one round of one pass; the report goes to a
#                                  temp dir and is printed, docs/ untouched
#   options: --rounds N, --passes N (topics cleaned per broker session), --mib N (per
#            pass), --out DIR (where compaction.md goes)
#
# Each round runs one session per broker, Apache Kafka then Rafka, one at a time on
# loopback, each on a fresh data dir under one temp dir (same filesystem). A session:
#   1. starts the broker (Kafka: one KRaft node from the jars, JVM -Xmx1G -Xms1G G1 as
#      kafka-server-start.sh; Rafka: `rafka serve`), both with log.cleaner.backoff.ms=100
#      (instead of 15 s, so the wall time is not mostly the cleaner's idle sleep) and every
#      other cleaner setting at its default (dedupe buffer 128 MiB, one cleaner thread,
#      no I/O throttle);
#   2. creates PASSES topics c1..cN: 1 partition, cleanup.policy=compact,
#      segment.bytes=SEGMENT_BYTES, min.cleanable.dirty.ratio=0.01 and
#      min.compaction.lag.ms=1 day, so the cleaner leaves them alone while they fill;
#   3. produces the same records to each (a small Java producer built from the Kafka jars,
#      CleanBench below: MIB MiB of key+value bytes, keys key-0000000..key-(KEYS-1) drawn
#      uniformly, values of VMIN..VMAX random bytes, all from one fixed seed; acks=1, no
#      idempotence, no compression, batch.size 128 KiB, linger.ms 10); then `sync`;
#   4. for each topic in turn: resets the broker's peak RSS (/proc/PID/clear_refs), sets
#      min.compaction.lag.ms=0 (IncrementalAlterConfigs: the trigger), and waits until the
#      partition's entry in cleaner-offset-checkpoint (both brokers write Kafka's file)
#      reaches the active segment's base offset: every closed segment cleaned.
#      Measured per pass: the broker's own pass report (Kafka's log cleaner stats, Rafka's
#      `cleaned log` INFO line: MiB rewritten, seconds, MiB/s, records in and out), the wall
#      time trigger -> checkpoint written (its mtime), the broker's peak RSS during that
#      time (VmHWM), and the bytes of .log files in the partition before and after. Then
#      the partition is read back (a consumer): the last value of every key must be the
#      one the producer wrote last (same digest), and no key may appear twice below the
#      cleaned offset.
# Results: docs/perf/compaction.md (medians per broker, ratios Rafka/Kafka, every pass).
#
# Environment: RAFKA_BIN (default target/release/rafka, built if missing), KAFKA_LIBS
# (Kafka 4.x jars; default compat-tests/.work/kafka-libs from compat-tests/setup.sh),
# TARGETS="kafka" (or "rafka") runs one side only; KEEP=1 keeps the temp dir;
# BROKER_PROPS="k=v k=v" adds broker settings to both (e.g.
# log.cleaner.dedupe.buffer.size=2097152 to see how many passes each broker's map needs).
# Exit status: 0 iff every pass of both brokers cleaned its log and was measured.
set -uo pipefail
BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
KAFKA_LIBS_FROM_ENV="${KAFKA_LIBS:-}"
source "$BENCH_DIR/../compat-tests/lib/common.sh"   # free_port, port_open, stop_pid, kafka_tool, machine_facts
[[ -n "$KAFKA_LIBS_FROM_ENV" ]] && KAFKA_LIBS="$KAFKA_LIBS_FROM_ENV"

MODE=full ROUNDS="" PASSES="" MIB="" OUT=""
while (($#)); do
    case "$1" in
        --smoke) MODE=smoke; shift ;;
        --rounds) ROUNDS="$2"; shift 2 ;;
        --passes) PASSES="$2"; shift 2 ;;
        --mib) MIB="$2"; shift 2 ;;
        --out) OUT="$2"; shift 2 ;;
        -h|--help) awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"; exit 0 ;;
        *) echo "compaction.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done

# ------------------------------------------------------------ sizes
SEED=16                       # issue #16
VMIN=100 VMAX=1000            # value bytes, uniform
if [[ $MODE == full ]]; then
    ROUNDS="${ROUNDS:-3}"
    PASSES="${PASSES:-3}"
    MIB="${MIB:-512}"
    SEGMENT_BYTES=$((16 << 20))
    KEYS=100000
else
    ROUNDS="${ROUNDS:-1}"
    PASSES="${PASSES:-1}"
    MIB="${MIB:-16}"
    SEGMENT_BYTES=$((1 << 20))  # Kafka's minimum: 16 segments
    KEYS=5000                   # ~30k records: each key ~6 times
fi
TARGETS="${TARGETS:-kafka rafka}"
LAG_MS=86400000               # min.compaction.lag.ms while producing
BACKOFF_MS=100                # log.cleaner.backoff.ms, both brokers
CLEAN_TIMEOUT=300             # seconds, one pass
START_TIMEOUT=120

KAFKA_JVM=(-Xmx1G -Xms1G -server -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35
    -XX:+ExplicitGCInvokesConcurrent)
TOOL_JVM=(-Xmx512M -XX:+UseG1GC -Djava.awt.headless=true
    "-Dlog4j2.configurationFile=$COMPAT_DIR/log4j2.properties" -Dcompat.log.level=WARN)

BENCH_START=$SECONDS
log() { printf '[%4ds] %s\n' "$((SECONDS - BENCH_START))" "$*"; }

# ------------------------------------------------------------ setup
compgen -G "$KAFKA_LIBS/kafka-clients-*.jar" >/dev/null \
    || { echo "compaction.sh: no Kafka jars in $KAFKA_LIBS: run compat-tests/setup.sh or set KAFKA_LIBS" >&2; exit 1; }
command -v javac >/dev/null || { echo "compaction.sh: no javac on PATH (a JDK is needed for the producer)" >&2; exit 1; }
RAFKA_BIN="${RAFKA_BIN:-$REPO_DIR/target/release/rafka}"
if [[ " $TARGETS " == *" rafka "* && ! -x "$RAFKA_BIN" ]]; then
    log "cargo build --release --bin rafka"
    (cd "$REPO_DIR" && CARGO_TERM_COLOR=never cargo build --release --bin rafka) >/tmp/compaction-bench-build.log 2>&1 \
        || { tail -20 /tmp/compaction-bench-build.log; echo "build failed"; exit 1; }
fi

# not /tmp/rafka-*: other jobs on shared machines sweep that pattern
RUN="$(mktemp -d "${TMPDIR:-/tmp}/compaction-bench.XXXXXX")"
RESULTS="$RUN/results.tsv"
: >"$RESULTS"
mkdir -p "$RUN/cb" "$RUN/logs"
if [[ -z "$OUT" ]]; then
    if [[ $MODE == full ]]; then OUT="$REPO_DIR/docs/perf"; else OUT="$RUN/out"; fi
fi
mkdir -p "$OUT"
TARGET="" ROUND=0 FAILS=0 BROKER_PID="" BOOTSTRAP="" SDIR="" LOGDIR="" BLOG=""

cleanup() {
    [[ -n "$BROKER_PID" ]] && { kill -KILL "$BROKER_PID" 2>/dev/null; wait "$BROKER_PID" 2>/dev/null; }
    if [[ "${KEEP:-0}" == 1 ]]; then echo "kept $RUN"; else rm -rf "$RUN"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

rec() { printf '%s\t%s\t%s\t%s\t%s\n' "$ROUND" "$TARGET" "$1" "$2" "$3" >>"$RESULTS"; }
fail() { FAILS=$((FAILS + 1)); log "FAIL [$TARGET round $ROUND] $*"; }
kv() { sed -n "s/.* $2=\([^ ]*\).*/\1/p" <<<" $1"; }

# ------------------------------------------------------------ the client (Java, Kafka's jars)
cat >"$RUN/cb/CleanBench.java" <<'JAVA'
import java.util.*;
import java.util.concurrent.atomic.*;
import java.security.MessageDigest;
import java.time.Duration;
import org.apache.kafka.clients.admin.*;
import org.apache.kafka.clients.consumer.*;
import org.apache.kafka.clients.producer.*;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;

// bench/compaction.sh's client: create a compacted topic, produce the same keyed records
// (fixed seed) to it, trigger its cleaning by setting min.compaction.lag.ms to 0, and
// read it back: the last value of each key must be the producer's.
public class CleanBench {
    // SHA-256 over key, value length, value of every key in key order (keys sort as numbers)
    static String digest(SortedMap<String, byte[]> last) throws Exception {
        MessageDigest md = MessageDigest.getInstance("SHA-256");
        for (Map.Entry<String, byte[]> e : last.entrySet()) {
            md.update(e.getKey().getBytes());
            md.update(new byte[] {0, (byte) (e.getValue().length >> 8), (byte) e.getValue().length});
            md.update(e.getValue());
        }
        return HexFormat.of().formatHex(md.digest()).substring(0, 16);
    }

    static Properties admin(String bootstrap) {
        Properties p = new Properties();
        p.put("bootstrap.servers", bootstrap);
        p.put("request.timeout.ms", "30000");
        p.put("default.api.timeout.ms", "60000");
        return p;
    }

    public static void main(String[] a) throws Exception {
        String cmd = a[0], bootstrap = a[1], topic = a[2];
        switch (cmd) {
            case "create": { // create BOOTSTRAP TOPIC SEGMENT_BYTES LAG_MS
                Map<String, String> cfg = new HashMap<>();
                cfg.put("cleanup.policy", "compact");
                cfg.put("segment.bytes", a[3]);
                cfg.put("min.cleanable.dirty.ratio", "0.01");
                cfg.put("min.compaction.lag.ms", a[4]);
                try (Admin ad = Admin.create(admin(bootstrap))) {
                    ad.createTopics(List.of(new NewTopic(topic, 1, (short) 1).configs(cfg))).all().get();
                }
                System.out.println("RESULT created=" + topic);
                break;
            }
            case "produce": { // produce BOOTSTRAP TOPIC BYTES KEYS VMIN VMAX SEED
                long total = Long.parseLong(a[3]);
                int keys = Integer.parseInt(a[4]), vmin = Integer.parseInt(a[5]), vmax = Integer.parseInt(a[6]);
                SplittableRandom rnd = new SplittableRandom(Long.parseLong(a[7]));
                byte[] pool = new byte[1 << 20];
                for (int i = 0; i < pool.length; i++) pool[i] = (byte) rnd.nextInt(256);
                Properties p = new Properties();
                p.put("bootstrap.servers", bootstrap);
                p.put("acks", "1");
                p.put("enable.idempotence", "false");
                p.put("linger.ms", "10");
                p.put("batch.size", "131072");
                p.put("buffer.memory", "67108864");
                p.put("compression.type", "none");
                p.put("key.serializer", ByteArraySerializer.class.getName());
                p.put("value.serializer", ByteArraySerializer.class.getName());
                AtomicLong errors = new AtomicLong();
                AtomicReference<Exception> firstError = new AtomicReference<>();
                Callback cb = (md, e) -> {
                    if (e != null) { errors.incrementAndGet(); firstError.compareAndSet(null, e); }
                };
                long records = 0, bytes = 0, t0 = System.nanoTime();
                int[] lastOff = new int[keys], lastLen = new int[keys];
                try (Producer<byte[], byte[]> pr = new KafkaProducer<>(p)) {
                    while (bytes < total) {
                        int key = rnd.nextInt(keys);
                        byte[] k = {'k', 'e', 'y', '-', '0', '0', '0', '0', '0', '0', '0'};
                        for (int n = key, d = 10; n > 0; n /= 10, d--) k[d] = (byte) ('0' + n % 10);
                        int len = vmin + rnd.nextInt(vmax - vmin + 1);
                        int off = rnd.nextInt(pool.length - len);
                        lastOff[key] = off;
                        lastLen[key] = len + 1; // 0: never written
                        pr.send(new ProducerRecord<>(topic, 0, k, Arrays.copyOfRange(pool, off, off + len)), cb);
                        records++;
                        bytes += k.length + len;
                    }
                    pr.flush();
                }
                double secs = (System.nanoTime() - t0) / 1e9;
                if (errors.get() > 0) {
                    System.err.println("produce errors: " + errors.get() + ", first: " + firstError.get());
                    System.exit(1);
                }
                SortedMap<String, byte[]> last = new TreeMap<>();
                for (int key = 0; key < keys; key++)
                    if (lastLen[key] > 0)
                        last.put(String.format("key-%07d", key), Arrays.copyOfRange(pool, lastOff[key], lastOff[key] + lastLen[key] - 1));
                System.out.printf(Locale.ROOT, "RESULT records=%d payload_bytes=%d secs=%.2f mb_s=%.1f keys=%d digest=%s%n",
                    records, bytes, secs, bytes / 1048576.0 / secs, last.size(), digest(last));
                break;
            }
            case "trigger": { // trigger BOOTSTRAP TOPIC: min.compaction.lag.ms=0
                try (Admin ad = Admin.create(admin(bootstrap))) {
                    ConfigResource r = new ConfigResource(ConfigResource.Type.TOPIC, topic);
                    ad.describeConfigs(List.of(r)).all().get(); // connected, metadata known
                    AlterConfigOp op = new AlterConfigOp(new ConfigEntry("min.compaction.lag.ms", "0"),
                        AlterConfigOp.OpType.SET);
                    long sent = System.currentTimeMillis();
                    ad.incrementalAlterConfigs(Map.of(r, List.of(op))).all().get();
                    System.out.println("RESULT trigger_ms=" + sent + " acked_ms=" + System.currentTimeMillis());
                }
                break;
            }
            case "digest": { // digest BOOTSTRAP TOPIC CLEANED_TO: read the partition back
                long cleanedTo = Long.parseLong(a[3]);
                Properties p = new Properties();
                p.put("bootstrap.servers", bootstrap);
                p.put("enable.auto.commit", "false");
                p.put("key.deserializer", ByteArrayDeserializer.class.getName());
                p.put("value.deserializer", ByteArrayDeserializer.class.getName());
                TopicPartition tp = new TopicPartition(topic, 0);
                SortedMap<String, byte[]> last = new TreeMap<>();
                Set<String> below = new HashSet<>();
                long records = 0, dupBelow = 0, prev = -1, misordered = 0;
                try (Consumer<byte[], byte[]> c = new KafkaConsumer<>(p)) {
                    c.assign(List.of(tp));
                    c.seekToBeginning(List.of(tp));
                    long end = c.endOffsets(List.of(tp)).get(tp);
                    long deadline = System.currentTimeMillis() + 120_000;
                    while (c.position(tp) < end && System.currentTimeMillis() < deadline) {
                        for (ConsumerRecord<byte[], byte[]> r : c.poll(Duration.ofMillis(500))) {
                            String k = new String(r.key());
                            if (r.offset() <= prev) misordered++;
                            prev = r.offset();
                            if (r.offset() < cleanedTo && !below.add(k)) dupBelow++;
                            last.put(k, r.value());
                            records++;
                        }
                    }
                    if (c.position(tp) < end) {
                        System.err.println("read to " + c.position(tp) + " of " + end);
                        System.exit(1);
                    }
                }
                System.out.printf("RESULT records=%d keys=%d digest=%s dup_below=%d misordered=%d%n",
                    records, last.size(), digest(last), dupBelow, misordered);
                break;
            }
            default:
                System.err.println("unknown command " + cmd);
                System.exit(2);
        }
    }
}
JAVA
log "javac CleanBench.java"
javac -cp "$KAFKA_LIBS/*" -d "$RUN/cb" "$RUN/cb/CleanBench.java" >"$RUN/logs/javac.out" 2>&1 \
    || { cat "$RUN/logs/javac.out" >&2; echo "compaction.sh: javac failed" >&2; exit 1; }
# cb OUT SECS ARGS...: one CleanBench command; its RESULT line on stdout
cb() {
    local out="$1" secs="$2"; shift 2
    timeout -k 5 "$secs" java "${TOOL_JVM[@]}" -cp "$RUN/cb:$KAFKA_LIBS/*" CleanBench "$@" >"$out" 2>&1 </dev/null \
        || { tail -5 "$out" >&2; return 1; }
    grep '^RESULT' "$out"
}

# ------------------------------------------------------------ the pass watcher (Python)
# watch.py PID LOGDIR TOPIC TRIGGER_OUT TIMEOUT: waits until TOPIC-0's cleaner checkpoint
# reaches its active segment; prints done_ms (the checkpoint's mtime), peak RSS, bytes.
cat >"$RUN/watch.py" <<'PY'
import os, sys, time
pid, logdir, topic, timeout = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
pdir = os.path.join(logdir, topic + "-0")
ckpt = os.path.join(logdir, "cleaner-offset-checkpoint")

def log_files():
    return [f for f in os.listdir(pdir) if f.endswith(".log")]

def active_base():
    return max(int(f[:-4]) for f in log_files())

def log_bytes():
    return sum(os.path.getsize(os.path.join(pdir, f)) for f in log_files())

def status(key):
    try:
        with open("/proc/%s/status" % pid) as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0

def checkpoint():
    try:
        st = os.stat(ckpt)
        with open(ckpt) as f:
            lines = f.read().split("\n")
    except OSError:
        return None, None
    for line in lines[2:]:
        p = line.split()
        if len(p) == 3 and p[0] == topic and p[1] == "0":
            return int(p[2]), st.st_mtime_ns // 1000000
    return None, None

cmd = sys.stdin.readline().strip()
if cmd == "before":
    # the broker's peak RSS restarts from its current RSS (Linux >= 4.0)
    try:
        with open("/proc/%s/clear_refs" % pid, "w") as f:
            f.write("5")
        reset = 1
    except OSError:
        reset = 0
    base = active_base()
    cleanable = sum(os.path.getsize(os.path.join(pdir, f)) for f in log_files() if int(f[:-4]) < base)
    print("RESULT active_base=%d log_bytes=%d cleanable_bytes=%d rss_kb=%d hwm_reset=%d"
          % (base, log_bytes(), cleanable, status("VmRSS"), reset))
    sys.exit(0)
target = active_base()
deadline = time.time() + timeout
peak = 0
while time.time() < deadline:
    peak = max(peak, status("VmRSS"))
    off, mtime = checkpoint()
    if off is not None and off >= target:
        hwm = status("VmHWM")
        print("RESULT done_ms=%d cleaned_to=%d log_bytes=%d peak_rss_kb=%d hwm_kb=%d" % (mtime, off, log_bytes(), peak, hwm))
        sys.exit(0)
    time.sleep(0.05)
off, _ = checkpoint()
print("TIMEOUT checkpoint=%s target=%d" % (off, target))
sys.exit(1)
PY

# ------------------------------------------------------------ brokers
broker_start() {
    SDIR="$RUN/$TARGET-$ROUND"
    mkdir -p "$SDIR"
    local port cport
    port="$(free_port)"; cport="$(free_port)"
    while [[ "$cport" == "$port" ]]; do cport="$(free_port)"; done
    BOOTSTRAP="127.0.0.1:$port"
    LOGDIR="$SDIR/data"
    BLOG="$SDIR/broker.log"
    if [[ $TARGET == kafka ]]; then
        cat >"$SDIR/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$cport
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://127.0.0.1:$port
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$LOGDIR
auto.create.topics.enable=false
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
log.cleaner.backoff.ms=$BACKOFF_MS
$(tr ' ' '\n' <<<"${BROKER_PROPS:-}")
PROPS
        local cid
        cid="$(python3 -c 'import base64, uuid
while True:
    s = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
    if not s.startswith("-"):
        print(s); break')"
        kafka_tool 120 kafka.tools.StorageTool format -t "$cid" -c "$SDIR/server.properties" \
            >"$SDIR/format.out" 2>&1 </dev/null || { cat "$SDIR/format.out" >&2; return 1; }
        # INFO: the log cleaner's per-pass stats go to this log
        java "${KAFKA_JVM[@]}" -Djava.awt.headless=true -Dfile.encoding=UTF-8 \
            -Dlog4j2.configurationFile="$COMPAT_DIR/log4j2.properties" -Dcompat.log.level=INFO \
            -cp "$KAFKA_LIBS/*" kafka.Kafka "$SDIR/server.properties" >"$BLOG" 2>&1 </dev/null &
    else
        local tport
        tport="$(free_port)"
        mkdir -p "$LOGDIR"
        local extra=() kv_
        for kv_ in ${BROKER_PROPS:-}; do extra+=(-o "$kv_"); done
        "$RAFKA_BIN" serve --listener "$BOOTSTRAP" --text-listener "127.0.0.1:$tport" --data-dir "$LOGDIR" \
            -o "log.cleaner.backoff.ms=$BACKOFF_MS" "${extra[@]}" >"$BLOG" 2>&1 </dev/null &
    fi
    BROKER_PID=$!
    local deadline=$((SECONDS + START_TIMEOUT))
    until port_open "$port"; do
        kill -0 "$BROKER_PID" 2>/dev/null || { echo "broker exited: $(tail -n 5 "$BLOG")" >&2; BROKER_PID=""; return 1; }
        ((SECONDS < deadline)) || { echo "broker does not listen" >&2; return 1; }
        sleep 0.2
    done
}

broker_stop() {
    [[ -n "$BROKER_PID" ]] && stop_pid "$BROKER_PID" 60 >/dev/null 2>&1
    wait "$BROKER_PID" 2>/dev/null
    BROKER_PID=""
}

# ------------------------------------------------------------ one session
session() {
    log "$TARGET round $ROUND: start"
    broker_start || { fail "broker did not start"; broker_stop; return; }
    local i topic line t0
    for ((i = 1; i <= PASSES; i++)); do
        topic="c$i"
        cb "$SDIR/create-$topic.out" 120 create "$BOOTSTRAP" "$topic" "$SEGMENT_BYTES" "$LAG_MS" >/dev/null \
            || { fail "create $topic"; broker_stop; return; }
    done
    for ((i = 1; i <= PASSES; i++)); do
        topic="c$i"
        log "$TARGET round $ROUND: produce $MIB MiB to $topic"
        line="$(cb "$SDIR/produce-$topic.out" 600 produce "$BOOTSTRAP" "$topic" "$((MIB << 20))" "$KEYS" "$VMIN" "$VMAX" "$SEED")" \
            || { fail "produce $topic"; broker_stop; return; }
        rec "$topic" produce_mb_s "$(kv "$line" mb_s)"
        rec "$topic" produced_records "$(kv "$line" records)"
        printf '%s\n' "$(kv "$line" digest)" >"$SDIR/digest-$topic"
    done
    sync
    sleep 2
    for ((i = 1; i <= PASSES; i++)); do
        topic="c$i"
        pass "$topic" || fail "pass $topic"
        sleep 2
    done
    log "$TARGET round $ROUND: stop"
    broker_stop
    [[ "${KEEP:-0}" == 1 ]] || rm -rf "$LOGDIR"
}

# pass TOPIC: trigger one topic's cleaning and measure it
pass() {
    local topic="$1" before trig done_line wpid
    before="$(python3 "$RUN/watch.py" "$BROKER_PID" "$LOGDIR" "$topic" 0 <<<before)" || return 1
    python3 "$RUN/watch.py" "$BROKER_PID" "$LOGDIR" "$topic" "$CLEAN_TIMEOUT" <<<wait >"$SDIR/watch-$topic.out" 2>&1 &
    wpid=$!
    trig="$(cb "$SDIR/trigger-$topic.out" 120 trigger "$BOOTSTRAP" "$topic")" || { kill "$wpid" 2>/dev/null; return 1; }
    log "$TARGET round $ROUND: $topic triggered: $(kv "$before" active_base) records, $(kv "$before" cleanable_bytes) bytes below the active segment"
    wait "$wpid"
    done_line="$(grep '^RESULT' "$SDIR/watch-$topic.out")" || { cat "$SDIR/watch-$topic.out" >&2; return 1; }
    # the broker's own report of the pass (Kafka logs it before the checkpoint, Rafka after)
    local i stats=""
    for ((i = 0; i < 100; i++)); do
        stats="$(python3 "$RUN/parse.py" "$TARGET" "$BLOG" "$topic" "$(kv "$trig" trigger_ms)" "$(kv "$before" cleanable_bytes)")" \
            && break
        sleep 0.1
    done
    [[ -n "$stats" ]] || { echo "no cleaner report for $topic in $BLOG" >&2; return 1; }
    local t0 t1
    t0="$(kv "$trig" trigger_ms)"; t1="$(kv "$done_line" done_ms)"
    rec "$topic" wall_s "$(python3 -c "print('%.3f' % (($t1 - $t0) / 1000))")"
    rec "$topic" wall_mb_s "$(python3 -c "print('%.1f' % ($(kv "$before" cleanable_bytes) / 1048576 / max(0.001, ($t1 - $t0) / 1000)))")"
    rec "$topic" trigger_ack_ms "$(($(kv "$trig" acked_ms) - t0))"
    rec "$topic" cleanable_mib "$(python3 -c "print('%.1f' % ($(kv "$before" cleanable_bytes) / 1048576))")"
    rec "$topic" log_mib_before "$(python3 -c "print('%.1f' % ($(kv "$before" log_bytes) / 1048576))")"
    rec "$topic" log_mib_after "$(python3 -c "print('%.1f' % ($(kv "$done_line" log_bytes) / 1048576))")"
    rec "$topic" rss_mib_before "$(python3 -c "print('%.1f' % ($(kv "$before" rss_kb) / 1024))")"
    local peak
    peak="$(kv "$done_line" peak_rss_kb)"
    [[ "$(kv "$before" hwm_reset)" == 1 ]] && peak="$(kv "$done_line" hwm_kb)"
    rec "$topic" peak_rss_mib "$(python3 -c "print('%.1f' % ($peak / 1024))")"
    local k
    for k in passes read_mib map_mib seconds mb_per_sec records kept seconds_approx; do
        [[ -n "$(kv "$stats" "$k")" ]] && rec "$topic" "$k" "$(kv "$stats" "$k")"
    done
    log "$TARGET round $ROUND: $topic cleaned: $stats wall_s=$(python3 -c "print('%.2f' % (($t1 - $t0) / 1000))")"
    # read it back: each key's last value is the producer's, each key once below the cleaned point
    local back want
    back="$(cb "$SDIR/digest-$topic.out" 180 digest "$BOOTSTRAP" "$topic" "$(kv "$done_line" cleaned_to)")" \
        || { echo "reading $topic back failed" >&2; return 1; }
    want="$(cat "$SDIR/digest-$topic")"
    rec "$topic" records_after "$(kv "$back" records)"
    if [[ "$(kv "$back" digest)" != "$want" || "$(kv "$back" dup_below)" != 0 || "$(kv "$back" misordered)" != 0 ]]; then
        echo "$topic read back: $back; the producer's digest: $want" >&2
        rec "$topic" data_ok 0
        return 1
    fi
    rec "$topic" data_ok 1
}

# ------------------------------------------------------------ the brokers' pass reports (Python)
# parse.py TARGET LOG TOPIC TRIGGER_MS CLEANABLE_BYTES: one line of key=value for TOPIC-0's passes
#   Kafka (LogCleaner's stats, INFO):
#     Log cleaner thread 0 cleaned log c1-0 (dirty section = [0, 123])
#     512.0 MB of log processed in 12.3 seconds (41.6 MB/sec).
#     Indexed 512.0 MB in 5.1 seconds (...)  ... Start size: 512.0 MB (N messages)
#     End size: 52.0 MB (M messages)
#   Rafka: `... cleaned log partition=c1-0 ... map_read=B read=B ... seconds=S mb_per_sec=X`
#   Rafka before its `cleaned log` line had map_read, seconds and mb_per_sec (ce46433 and
#   older): its `read` counted the map's reads too; then read_mib = the bytes of the
#   segments below the active one before the trigger (all rewritten in one pass),
#   map_mib = read - that, and seconds_approx = the line's time - the trigger (an upper
#   bound: it includes the cleaner's wake-up).
cat >"$RUN/parse.py" <<'PY'
import re, sys, datetime
target, path, topic, trigger_ms, cleanable = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
text = open(path, errors="replace").read()
num = lambda s: float(s.replace(",", ""))
out = {}
if target == "kafka":
    pat = re.compile(
        r"cleaned log " + re.escape(topic) + r"-0 \(dirty section = \[\d+, \d+\]\)\s*"
        r"([\d,.]+) MB of log processed in ([\d,.]+) seconds \(([\d,.]+) MB/sec\)\.\s*"
        r"Indexed ([\d,.]+) MB in ([\d,.]+) seconds.*?"
        r"Start size: ([\d,.]+) MB \(([\d,]+) messages\)\s*"
        r"End size: ([\d,.]+) MB \(([\d,]+) messages\)", re.S)
    ms = list(pat.finditer(text))
    if not ms:
        sys.exit(1)
    out["passes"] = len(ms)
    out["read_mib"] = sum(num(m.group(1)) for m in ms)
    out["seconds"] = sum(num(m.group(2)) for m in ms)
    # Kafka prints seconds with one decimal: its own MB/sec is the exact one
    out["mb_per_sec"] = num(ms[0].group(3)) if len(ms) == 1 else out["read_mib"] / max(out["seconds"], 1e-9)
    out["map_mib"] = sum(num(m.group(4)) for m in ms)
    out["records"] = sum(int(num(m.group(7))) for m in ms)
    out["kept"] = sum(int(num(m.group(9))) for m in ms)
else:
    lines = [l for l in text.splitlines() if "cleaned log" in l and re.search(r"partition=" + re.escape(topic) + r"-0\b", l)]
    if not lines:
        sys.exit(1)
    ansi = re.compile(r"\x1b\[[0-9;]*m")
    fields = [dict(re.findall(r"(\w+)=(\S+)", ansi.sub("", l))) for l in lines]
    out["passes"] = len(lines)
    read = sum(int(f["read"]) for f in fields)
    if all("map_read" in f for f in fields):
        out["read_mib"] = read / 1048576
        out["map_mib"] = sum(int(f["map_read"]) for f in fields) / 1048576
    else:
        out["read_mib"] = cleanable / 1048576
        out["map_mib"] = (read - cleanable) / 1048576
    out["records"] = sum(int(f["records"]) for f in fields)
    out["kept"] = sum(int(f["kept"]) for f in fields)
    if all("seconds" in f for f in fields):
        out["seconds"] = sum(float(f["seconds"]) for f in fields)
        out["mb_per_sec"] = float(fields[0]["mb_per_sec"]) if len(fields) == 1 else out["read_mib"] / max(out["seconds"], 1e-9)
    else:
        # the line's timestamp (tracing's RFC 3339, UTC) - the trigger: an upper bound
        ts = re.match(r"\s*(?:\x1b\[[0-9;]*m)*(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?)Z", lines[-1])
        if ts:
            t = ts.group(1)
            if "." in t:
                t = t[:26]
            dt = datetime.datetime.fromisoformat(t).replace(tzinfo=datetime.timezone.utc)
            out["seconds_approx"] = dt.timestamp() - trigger_ms / 1000
            out["mb_per_sec"] = out["read_mib"] / max(out["seconds_approx"], 1e-9)
fmt = lambda v: ("%.3f" % v) if isinstance(v, float) else str(v)
print(" ".join("%s=%s" % (k, fmt(v)) for k, v in out.items()))
PY

# ------------------------------------------------------------ main
{
    echo "MODE=$MODE"
    echo "DATE=$(date -u '+%Y-%m-%d %H:%M UTC')"
    machine_facts
    echo "FS=$(df -hT "$RUN" | awk 'NR == 2 {print $1 " " $2 ", " $3 " total, " $5 " free"}')"
    echo "KERNEL=$(uname -r)"
    echo "LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)"
    echo "KAFKA_VERSION=$(ls "$KAFKA_LIBS" | sed -n 's/^kafka-clients-\(.*\)\.jar$/\1/p' | head -1)"
    echo "JAVA_VERSION=$(java -version 2>&1 | sed -n '1s/.*version "\([^"]*\)".*/\1/p')"
    echo "RUSTC=$(rustc -V 2>/dev/null | cut -d' ' -f2)"
    echo "RAFKA_COMMIT=$(git -C "$REPO_DIR" rev-parse --short=12 HEAD 2>/dev/null) ($(git -C "$REPO_DIR" rev-parse --abbrev-ref HEAD 2>/dev/null)), src/ as of $(git -C "$REPO_DIR" log -1 --format=%h -- src Cargo.toml Cargo.lock 2>/dev/null)$(git -C "$REPO_DIR" diff --quiet HEAD -- src 2>/dev/null || echo ' + uncommitted changes')"
    echo "KAFKA_JVM=${KAFKA_JVM[*]}"
    echo "ROUNDS=$ROUNDS"; echo "PASSES=$PASSES"; echo "MIB=$MIB"; echo "SEGMENT_MIB=$((SEGMENT_BYTES >> 20))"
    echo "KEYS=$KEYS"; echo "VALUES=$VMIN-$VMAX"; echo "SEED=$SEED"; echo "BACKOFF_MS=$BACKOFF_MS"
    [[ -n "${BROKER_PROPS:-}" ]] && echo "BROKER_PROPS=$BROKER_PROPS"
} >"$RUN/machine.env"

log "$MODE: $ROUNDS round(s) x $PASSES pass(es) of $MIB MiB per broker ($TARGETS)"
for ((ROUND = 1; ROUND <= ROUNDS; ROUND++)); do
    for TARGET in $TARGETS; do session; done
done
TARGET=""
echo "LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)" >>"$RUN/machine.env"
echo "TOTAL_S=$((SECONDS - BENCH_START))" >>"$RUN/machine.env"

# ------------------------------------------------------------ report
cat >"$RUN/report.py" <<'PY'
import os, statistics, sys
results, machine, out = sys.argv[1], sys.argv[2], sys.argv[3]
env = dict(l.rstrip("\n").split("=", 1) for l in open(machine) if "=" in l)
data = {}  # (target, round, topic) -> {metric: value}
for line in open(results):
    r, t, topic, k, v = line.rstrip("\n").split("\t")
    try:
        data.setdefault((t, int(r), topic), {})[k] = float(v)
    except ValueError:
        pass
targets = [t for t in ("kafka", "rafka") if any(k[0] == t for k in data)]

def med(t, k):
    vs = [m[k] for (tt, _, _), m in data.items() if tt == t and k in m]
    return (statistics.median(vs), len(vs)) if vs else (None, 0)

rows = [
    ("cleaner throughput, the broker's own report (MiB/s rewritten over the pass)", "mb_per_sec", "%.1f", "higher"),
    ("pass time, the broker's own report (s)", "seconds", "%.2f", "lower"),
    ("pass time, approximate: log line - trigger (s)", "seconds_approx", "%.2f", "lower"),
    ("wall time, trigger -> checkpoint written (s)", "wall_s", "%.2f", "lower"),
    ("wall-clock throughput: MiB below the active segment / wall time", "wall_mb_s", "%.1f", "higher"),
    ("MiB rewritten (read while cleaning)", "read_mib", "%.1f", None),
    ("MiB below the active segment before the trigger", "cleanable_mib", "%.1f", None),
    ("MiB read to build the offset map", "map_mib", "%.1f", None),
    ("passes per trigger", "passes", "%.0f", None),
    ("peak RSS during the pass (MiB)", "peak_rss_mib", "%.0f", "lower"),
    ("RSS before the trigger (MiB)", "rss_mib_before", "%.0f", None),
    (".log bytes before (MiB)", "log_mib_before", "%.1f", None),
    (".log bytes after (MiB)", "log_mib_after", "%.1f", None),
    ("records read", "records", "%.0f", None),
    ("records kept", "kept", "%.0f", None),
    ("records read back after the pass (kept + the active segment's)", "records_after", "%.0f", None),
    ("producer, MiB/s of key+value (informative)", "produce_mb_s", "%.1f", None),
]
L = []
L.append("| metric | " + " | ".join(targets) + (" | Rafka/Kafka |" if len(targets) == 2 else " |"))
L.append("|---" * (len(targets) + 1 + (len(targets) == 2)) + "|")
for label, k, f, better in rows:
    vals = [med(t, k) for t in targets]
    if all(v is None for v, _ in vals):
        continue
    cells = [(f % v) if v is not None else "–" for v, n in vals]
    ratio = ""
    if len(targets) == 2 and all(v for v, _ in vals):
        ratio = "**%.2f**" % (vals[1][0] / vals[0][0]) if better else "%.2f" % (vals[1][0] / vals[0][0])
    L.append("| %s | %s |%s" % (label, " | ".join(cells), (" %s |" % ratio) if len(targets) == 2 else ""))
summary = "\n".join(L)

# per round: the two sessions ran minutes apart, so the spread of these ratios shows the noise
rounds = sorted({r for (_, r, _) in data})
R = ["| round | Kafka MiB/s | Rafka MiB/s | ratio | Kafka wall s | Rafka wall s | ratio |", "|---" * 7 + "|"]
for r in rounds:
    def m(t, k):
        vs = [mm[k] for (tt, rr, _), mm in data.items() if tt == t and rr == r and k in mm]
        return statistics.median(vs) if vs else None
    kt, rt, kw, rw = m("kafka", "mb_per_sec"), m("rafka", "mb_per_sec"), m("kafka", "wall_s"), m("rafka", "wall_s")
    f = lambda v, fmt: fmt % v if v is not None else "–"
    ratio = lambda a, b: "%.2f" % (b / a) if a and b else "–"
    R.append("| %d | %s | %s | %s | %s | %s | %s |" % (r, f(kt, "%.1f"), f(rt, "%.1f"), ratio(kt, rt),
                                                       f(kw, "%.2f"), f(rw, "%.2f"), ratio(kw, rw)))
per_round = "\n".join(R)

cols = ["mb_per_sec", "seconds", "seconds_approx", "wall_s", "wall_mb_s", "read_mib", "cleanable_mib", "map_mib", "passes", "peak_rss_mib",
        "rss_mib_before", "log_mib_before", "log_mib_after", "records", "kept", "records_after", "data_ok", "produce_mb_s"]
cols = [c for c in cols if any(c in m for m in data.values())]
P = ["| broker | round | topic | " + " | ".join(cols) + " |", "|---" * (3 + len(cols)) + "|"]
for (t, r, topic), m in sorted(data.items(), key=lambda x: (x[0][1], x[0][0], x[0][2])):
    P.append("| %s | %d | %s | %s |" % (t, r, topic, " | ".join(("%g" % m[c]) if c in m else "–" for c in cols)))
per_pass = "\n".join(P)
n = {t: sum(1 for k in data if k[0] == t and "wall_s" in data[k]) for t in targets}

gen = f"""<!-- generated by bench/compaction.sh ({env.get('MODE')}); everything up to the end marker is rewritten by it -->
# Log cleaner: Rafka against Apache Kafka (issue #16)

`bench/compaction.sh` ({env.get('MODE')} run, {env.get('DATE')}, {env.get('TOTAL_S')} s). Both brokers
clean the same data: a compacted topic of one partition, `segment.bytes`={env['SEGMENT_MIB']} MiB,
`min.cleanable.dirty.ratio`=0.01, filled while `min.compaction.lag.ms` is one day, then
cleaned once that is set to 0 (IncrementalAlterConfigs). The data: {env['MIB']} MiB of key and
value bytes, {env['KEYS']} distinct keys drawn uniformly, values of {env['VALUES']} random bytes,
seed {env['SEED']}: byte for byte the same records, in the same order, on both brokers
(batch boundaries are the producer's). `log.cleaner.backoff.ms`={env['BACKOFF_MS']} on both, every other
cleaner setting Kafka's default. {env['ROUNDS']} round(s), each a Kafka session then a Rafka
session, each session {env['PASSES']} pass(es) (one topic each): passes measured: {', '.join('%s %d' % (t, n[t]) for t in targets)}.

Medians over the passes; ratios are Rafka's median over Kafka's, from this one run (the
machine is shared and noisy: only ratios from one run compare). For throughput a ratio
above 1 means Rafka is faster; for times and memory, below 1 means Rafka takes less.
Both brokers' "MB" are MiB (Kafka's `mb()` divides by 1024 * 1024).

{summary}

- **cleaner throughput**: Kafka's `MB of log processed in X seconds (Y MB/sec)` from its
  log cleaner stats, Rafka's `mb_per_sec` from its `cleaned log` line: MiB read while
  rewriting, over the pass's whole time (offset map included).
- **wall time**: from the IncrementalAlterConfigs request to the mtime of
  `cleaner-offset-checkpoint` once the partition's entry reached the active segment (every
  closed segment cleaned). It includes the broker noticing the config change and its
  cleaner's next wake-up (`log.cleaner.backoff.ms`, {env['BACKOFF_MS']} ms).
- **peak RSS**: VmHWM of the broker process, reset (`/proc/PID/clear_refs`) just before the
  trigger. Kafka's JVM starts with `-Xms1G`, so its RSS is mostly heap already touched.
- **.log bytes**: the partition's `*.log` files only (Kafka's preallocated indexes and its
  `.deleted` files, removed 60 s later, are not counted).

## Per round (medians of the round's passes)

{per_round}

## Every pass

{per_pass}

## Machine

```
""" + "".join(l for l in open(machine)) + """```

## Reproduce

```sh
bench/compaction.sh            # this page (7 minutes on the machine above)
bench/compaction.sh --smoke    # CI: 16 MiB, one pass per broker, report printed only
```
<!-- end of generated part -->
"""
path = os.path.join(out, "compaction.md")
tail = ""
if os.path.exists(path):
    old = open(path).read()
    marker = "<!-- end of generated part -->\n"
    if marker in old:
        tail = old.split(marker, 1)[1]
open(path, "w").write(gen + tail)
PY
log "report -> $OUT/compaction.md"
python3 "$RUN/report.py" "$RESULTS" "$RUN/machine.env" "$OUT" || fail "report"
cat "$OUT/compaction.md"
for t in $TARGETS; do
    n="$(awk -F'\t' -v t="$t" '$2 == t && $4 == "wall_s"' "$RESULTS" | wc -l)"
    ((n == ROUNDS * PASSES)) || { FAILS=$((FAILS + 1)); log "FAIL $t: $n of $((ROUNDS * PASSES)) passes measured"; }
done
log "done in $((SECONDS - BENCH_START))s, $FAILS failure(s)"
if ((FAILS > 0)); then
    echo "compaction.sh: $FAILS failure(s)"
    exit 1
fi
