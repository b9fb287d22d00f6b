"""Client side of compat-tests/migration.sh (confluent-kafka, i.e. librdkafka).

    mig.py setup BOOTSTRAP SEGMENT_BYTES     topics, records in every codec, DeleteRecords, groups
    mig.py snapshot BOOTSTRAP OUT TOPIC...   every record and the offsets, as JSON
    mig.py compare A B [--prefix TOPIC]...   PASS/FAIL per item; exit 1 on a difference
    mig.py idem BOOTSTRAP TOPIC DIR          idempotent producer across the switch (see main)
    mig.py check-idem BOOTSTRAP TOPIC DIR    every acknowledged number once, in order
    mig.py k9 BOOTSTRAP TOPIC ACKS           acks=all producer until ACKS.stop exists or 20000 records
    mig.py commit BOOTSTRAP GROUP TOPIC:P:O...  manual commits (no subscription)
    mig.py pids BOOTSTRAP TOPIC N TAG        N idempotent producers, one record each
    mig.py hold BOOTSTRAP TOPIC DIR          an idempotent producer with an id from Kafka writing to Rafka
"""

import hashlib
import json
import os
import sys
import time

from confluent_kafka import Consumer, KafkaException, Producer, TopicCollection, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

CODECS = ["none", "gzip", "snappy", "lz4", "zstd"]


def java_hash(s):
    h = 0
    for c in s:
        h = (31 * h + ord(c)) & 0xFFFFFFFF
    return h - (1 << 32) if h >= 1 << 31 else h


def admin(bootstrap):
    return AdminClient({"bootstrap.servers": bootstrap})


def wait_futures(fs, what):
    for k, f in fs.items():
        try:
            f.result(timeout=30)
        except Exception as e:  # noqa: BLE001 - report and fail
            sys.exit(f"mig.py: {what} {k}: {e}")


def produce_batch(bootstrap, topic, codec, records, partition=None):
    p = Producer({"bootstrap.servers": bootstrap, "compression.type": codec, "linger.ms": 50,
                  "acks": "all", "enable.idempotence": False})
    errors = []

    def cb(err, _msg):
        if err is not None:
            errors.append(str(err))

    for key, value, headers in records:
        kw = {"key": key, "value": value, "headers": headers, "on_delivery": cb}
        if partition is not None:
            kw["partition"] = partition
        while True:
            try:
                p.produce(topic, **kw)
                break
            except BufferError:
                p.poll(0.1)
        p.poll(0)
    left = p.flush(60)
    if errors or left:
        sys.exit(f"mig.py: produce to {topic} ({codec}): {left} not delivered, errors {errors[:3]}")


def setup(bootstrap, segment_bytes):
    a = admin(bootstrap)
    topics = [
        NewTopic("mig-time", 3, 1, config={"retention.ms": "123456789", "segment.bytes": segment_bytes}),
        NewTopic("mig-compact", 2, 1, config={"cleanup.policy": "compact", "min.compaction.lag.ms": "86400000",
                                              "segment.bytes": segment_bytes}),
        NewTopic("mig-codecs", 1, 1),
        NewTopic("mig-idem", 1, 1),
        NewTopic("mig-pids", 1, 1),
    ]
    wait_futures(a.create_topics(topics, operation_timeout=30), "create topic")
    time.sleep(1)
    rnd = os.urandom
    # mig-time: enough uncompressed random bytes for a few segments per partition, plus
    # small records in every codec
    seg = int(segment_bytes)
    for part in range(3):
        n = max(3 * seg // 1024, 60)
        produce_batch(bootstrap, "mig-time", "none",
                      [(f"big-{part}-{i}".encode(), rnd(1000), [("h", b"big")]) for i in range(n)], part)
    for codec in CODECS:
        produce_batch(bootstrap, "mig-time", codec,
                      [(f"t-{codec}-{i}".encode(), f"time {codec} {i} ".encode() * 5,
                        [("codec", codec.encode()), ("i", str(i).encode())]) for i in range(30)])
        produce_batch(bootstrap, "mig-codecs", codec,
                      [(f"c-{codec}-{i}".encode() if i % 4 else None, f"codec {codec} {i} ".encode() * 20,
                        [("codec", codec.encode()), ("dup", b"1"), ("dup", b"2")] if i % 3 else [])
                       for i in range(40)])
        produce_batch(bootstrap, "mig-compact", codec,
                      [(f"k{i % 7}".encode(), f"compact {codec} {i}".encode() if i % 5 else None,
                        [("codec", codec.encode())]) for i in range(35)])
    # a log start offset above 0 on mig-time-1
    fs = a.delete_records([TopicPartition("mig-time", 1, 17)], operation_timeout=30)
    for tp, f in fs.items():
        f.result(timeout=30)
    # a classic consumer group that subscribed, consumed part and committed
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "mig-classic", "enable.auto.commit": False,
                  "auto.offset.reset": "earliest", "session.timeout.ms": 10000})
    c.subscribe(["mig-codecs", "mig-compact"])
    got = 0
    deadline = time.time() + 60
    while got < 120 and time.time() < deadline:
        m = c.poll(1.0)
        if m is not None and m.error() is None:
            got += 1
    if got < 120:
        sys.exit(f"mig.py: the classic group consumed {got} records in 60 s")
    c.commit(asynchronous=False)
    c.close()
    commit(bootstrap, "mig-manual", ["mig-time:0:5", "mig-time:1:20", "mig-time:2:44", "mig-codecs:0:100"])
    print(f"setup: groups mig-classic (hashCode {java_hash('mig-classic')}) and mig-manual "
          f"(hashCode {java_hash('mig-manual')}), classic group consumed {got}")


def pids(bootstrap, topic, n, tag):
    """N idempotent producers one after the other, one record each: N producer ids."""
    for i in range(int(n)):
        p = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "acks": "all"})
        p.produce(topic, value=f"{tag}-{i}".encode())
        if p.flush(30):
            sys.exit(f"mig.py: pids: {tag}-{i} not delivered")


def hold(bootstrap, topic, d):
    """An idempotent producer that gets its producer id now (from Kafka) and writes its only
    record when DIR/go appears (to Rafka): DIR/ready once it has its id."""
    p = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "acks": "all",
                  "message.timeout.ms": 120000, "reconnect.backoff.max.ms": 500, "debug": "eos"})
    deadline = time.time() + 5
    while time.time() < deadline:
        p.poll(0.1)
    open(os.path.join(d, "ready"), "w").close()
    deadline = time.time() + 400
    while not os.path.exists(os.path.join(d, "go")) and time.time() < deadline:
        p.poll(0.1)
    res = []
    p.produce(topic, value=b"hold-0", on_delivery=lambda err, msg: res.append(err))
    left = p.flush(90)
    print(f"hold: not delivered {left}, delivery error {res[0] if res else None}")
    sys.exit(0 if not left and res == [None] else 1)


def commit(bootstrap, group, specs):
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    tps = []
    for s in specs:
        t, p, o = s.rsplit(":", 2)
        tps.append(TopicPartition(t, int(p), int(o)))
    c.commit(offsets=tps, asynchronous=False)
    c.close()


def snapshot(bootstrap, out, topics):
    a = admin(bootstrap)
    desc = {}
    fs = a.describe_topics(TopicCollection(topics), request_timeout=30)
    for t, f in fs.items():
        d = f.result(timeout=30)
        desc[t] = {"topic_id": str(d.topic_id), "partitions": len(d.partitions)}
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "mig-snapshot-reader", "enable.auto.commit": False,
                  "enable.partition.eof": True, "auto.offset.reset": "earliest"})
    snap = {"topics": desc, "offsets": {}, "records": {}}
    for t in topics:
        for p in range(desc[t]["partitions"]):
            lo, hi = c.get_watermark_offsets(TopicPartition(t, p), timeout=30)
            key = f"{t}-{p}"
            snap["offsets"][key] = [lo, hi]
            recs = []
            if hi > lo:
                c.assign([TopicPartition(t, p, lo)])
                deadline = time.time() + 60
                while time.time() < deadline:
                    m = c.poll(1.0)
                    if m is None:
                        continue
                    if m.error() is not None:
                        if m.error().code() == -191:  # _PARTITION_EOF
                            if recs and recs[-1][0] >= hi - 1 or m.offset() >= hi:
                                break
                            continue
                        raise KafkaException(m.error())
                    v = m.value()
                    recs.append([m.offset(), None if m.key() is None else m.key().decode("latin-1"),
                                 None if v is None else (len(v), hashlib.sha1(v).hexdigest()[:16]),
                                 [[hk, None if hv is None else hv.decode("latin-1")] for hk, hv in (m.headers() or [])],
                                 list(m.timestamp())])
                    if m.offset() >= hi - 1:
                        break
                c.unassign()
            snap["records"][key] = recs
    c.close()
    with open(out, "w") as f:
        json.dump(snap, f, indent=0, sort_keys=True)
    n = sum(len(r) for r in snap["records"].values())
    print(f"snapshot: {len(topics)} topics, {len(snap['offsets'])} partitions, {n} records")


def compare(a_path, b_path, prefix_topics):
    a = json.load(open(a_path))
    b = json.load(open(b_path))
    bad = 0

    def line(ok, what):
        nonlocal bad
        print(("PASS " if ok else "FAIL ") + what)
        bad += 0 if ok else 1

    line(a["topics"] == b["topics"], f"topic ids and partition counts: {json.dumps(a['topics'])}"
         + ("" if a["topics"] == b["topics"] else f" vs {json.dumps(b['topics'])}"))
    for key in sorted(a["offsets"]):
        topic = key.rsplit("-", 1)[0]
        ao, bo = a["offsets"][key], b["offsets"].get(key)
        ar, br = a["records"][key], b["records"].get(key)
        if topic in prefix_topics:
            ok = bo is not None and bo[0] == ao[0] and bo[1] >= ao[1] and br[:len(ar)] == ar
            line(ok, f"{key}: log start {ao[0]}, the {len(ar)} records seen before the switch "
                     f"are the first ones after it (then {bo} / {len(br or [])} records)")
            continue
        line(ao == bo, f"{key}: earliest/latest offsets {ao}" + ("" if ao == bo else f" vs {bo}"))
        if ar == br:
            line(True, f"{key}: {len(ar)} records equal (offset, key, value, headers, timestamp)")
        else:
            first = next((i for i in range(min(len(ar), len(br or []))) if ar[i] != br[i]), None)
            detail = f"first difference at #{first}: {ar[first]} vs {br[first]}" if first is not None else ""
            line(False, f"{key}: records differ ({len(ar)} vs {len(br or [])}) {detail}")
    sys.exit(1 if bad else 0)


def idem(bootstrap, topic, d):
    """Numbered records, one every 20 ms, until DIR/stop exists; then 100 more, flush, exit.
    Acknowledged numbers go to DIR/acked (one a line), errors to DIR/errors; exit 1 on any."""
    acked = open(os.path.join(d, "acked"), "a", buffering=1)
    errlog = open(os.path.join(d, "errors"), "a", buffering=1)
    errors = [0]

    def cb(err, msg):
        if err is not None:
            errors[0] += 1
            errlog.write(f"{time.time():.3f} {msg.value().decode()} {err}\n")
        else:
            acked.write(f"{msg.value().decode()} {msg.offset()}\n")

    def on_error(err):
        errlog.write(f"{time.time():.3f} client error {err} fatal={err.fatal()}\n")
        if err.fatal():
            errors[0] += 1

    p = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "acks": "all",
                  "message.timeout.ms": 300000, "retries": 2147483647, "linger.ms": 5,
                  "reconnect.backoff.max.ms": 500, "error_cb": on_error,
                  # the leader epochs it is told ("Topic T [0] Leader L Epoch E") go to its log
                  "debug": os.environ.get("MIG_IDEM_DEBUG") or "metadata"})
    i = 0
    after = None
    while after is None or i < after:
        if after is None and os.path.exists(os.path.join(d, "stop")):
            after = i + 100
            open(os.path.join(d, "stop-at"), "w").write(f"{after - 100}\n")
        try:
            p.produce(topic, value=str(i).encode(), on_delivery=cb)
            i += 1
        except BufferError:
            pass
        p.poll(0.02)
    left = p.flush(60)
    print(f"idem: sent {i}, not delivered after flush {left}, errors {errors[0]}")
    sys.exit(1 if left or errors[0] else 0)


def check_idem(bootstrap, topic, d):
    acked = [int(line.split()[0]) for line in open(os.path.join(d, "acked")) if line.strip()]
    stop_at = int(open(os.path.join(d, "stop-at")).read())
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "mig-idem-reader", "enable.partition.eof": True,
                  "auto.offset.reset": "earliest", "enable.auto.commit": False})
    lo, hi = c.get_watermark_offsets(TopicPartition(topic, 0), timeout=30)
    c.assign([TopicPartition(topic, 0, lo)])
    seen = []
    deadline = time.time() + 60
    while time.time() < deadline and (not seen or seen[-1][1] < hi - 1) and hi > lo:
        m = c.poll(1.0)
        if m is None or m.error() is not None:
            continue
        seen.append((int(m.value()), m.offset()))
    c.close()
    nums = [n for n, _ in seen]
    dups = len(nums) - len(set(nums))
    in_order = all(x < y for x, y in zip(nums, nums[1:]))
    missing = sorted(set(acked) - set(nums))
    after = [n for n in acked if n >= stop_at]
    ok = dups == 0 and in_order and not missing and len(after) >= 100
    print(("PASS" if ok else "FAIL") + f" idempotent producer: {len(acked)} acknowledged ({len(after)} sent after "
          f"Rafka was up), the log holds {len(nums)} records (offsets {lo}..{hi}), {dups} duplicates, "
          f"in order: {in_order}, acknowledged but missing: {len(missing)} {missing[:5]}")
    sys.exit(0 if ok else 1)


def k9(bootstrap, topic, acks_path):
    acked = open(acks_path, "a", buffering=1)

    def cb(err, msg):
        if err is None:
            acked.write(f"{msg.partition()} {msg.offset()} {msg.value().decode()}\n")

    p = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 2, "message.timeout.ms": 5000,
                  "compression.type": "lz4"})
    for i in range(20000):
        if i % 50 == 0 and os.path.exists(acks_path + ".stop"):
            break
        while True:
            try:
                p.produce(topic, key=str(i % 11).encode(), value=f"k9-{i}".encode(), on_delivery=cb)
                break
            except BufferError:
                p.poll(0.05)
        p.poll(0.002)  # about 400 records a second: still writing when Kafka is killed
    p.flush(10)


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "setup":
        setup(args[0], args[1])
    elif cmd == "snapshot":
        snapshot(args[0], args[1], args[2:])
    elif cmd == "compare":
        prefix = [args[i + 1] for i in range(2, len(args) - 1) if args[i] == "--prefix"]
        compare(args[0], args[1], prefix)
    elif cmd == "idem":
        idem(*args)
    elif cmd == "check-idem":
        check_idem(*args)
    elif cmd == "k9":
        k9(*args)
    elif cmd == "hold":
        hold(*args)
    elif cmd == "pids":
        pids(*args)
    elif cmd == "commit":
        commit(args[0], args[1], args[2:])
    else:
        sys.exit(f"mig.py: unknown command {cmd}")


if __name__ == "__main__":
    main()
