#!/usr/bin/env python3
"""Shared data, fixtures and checks for the Rafka compatibility suite.

Everything a scenario expects is generated here, deterministically, so the
producer side (whatever client) and the checking side agree byte for byte.

Used two ways:
  * imported by the Python client drivers (clients/*_client.py);
  * as a command line by the bash drivers (kcat, Kafka Java tools):
      compat.py gen KIND [--client C]         lines to feed a line-based producer
      compat.py check KIND --format F ...      verify what a consumer printed
      compat.py create-topic / produce / ...   fixtures (confluent-kafka admin/producer)
Failures are reported as one line "FAIL: reason" on stdout and exit status 1;
success prints "OK: summary" and exits 0.
"""
import argparse
import hashlib
import json
import os
import re
import sys
import time

# ----------------------------------------------------------------------------
# deterministic data
# ----------------------------------------------------------------------------
ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.~+"
ROUNDTRIP_N = 10000
ROUNDTRIP_PARTITIONS = 3


def filler(i, n):
    """n printable ASCII characters that depend on i (no tab, newline, comma, colon)."""
    return "".join(ALPHABET[(i * 31 + j * 7) % len(ALPHABET)] for j in range(n))


def roundtrip_record(i):
    """Record i of roundtrip-10k: (key, value, headers) as bytes.

    Values mix ASCII and multi-byte UTF-8 and vary in length; they never
    contain tab or newline, so line-based tools can carry them."""
    key = ("key-%05d" % i).encode()
    value = ("value-%05d-\u00fcn\u00efc\u00f8d\u00e9-\u2713-" % i + filler(i, (i * 37) % 150)).encode("utf-8")
    headers = [("idx", str(i).encode()), ("src", b"compat")]
    return key, value, headers


# Headers kcat attaches: its producer can only set the same headers on every record.
KCAT_FIXED_HEADERS = [("src", b"compat"), ("producer", b"kcat")]


def compression_record(i):
    """Compressible records (repetitive text) for compression-*."""
    key = ("ck-%04d" % i).encode()
    value = (("compressible-%04d " % i) * 20 + filler(i, 40)).encode()
    return key, value


COMPRESSION_N = 500
LARGE_SIZE = 1024 * 1024


def large_value():
    """The 1 MiB value of large-record-1mib (printable ASCII, no newline)."""
    block = filler(7, 1024).encode()
    return (block * (LARGE_SIZE // len(block) + 1))[:LARGE_SIZE]


def simple_record(i, prefix="r"):
    return ("%s-key-%03d" % (prefix, i)).encode(), ("%s-value-%03d-%s" % (prefix, i, filler(i, 12))).encode()


def ondisk_record(i):
    """Records written to disk for dumplogsegments (~200-byte values).
    Every 10th record has a null key."""
    key = None if i % 10 == 3 else ("dk-%05d" % i).encode()
    value = ("dv-%05d-" % i + filler(i, 191)).encode()
    return key, value


ONDISK_N = 5000


def kwd_batches():
    """Batches produced to the real Kafka broker for kafka-written-dir.
    Returns [(compression, [(key, value), ...]), ...]."""
    out = []
    n = 0
    for codec in ["none", "gzip", "snappy", "lz4", "zstd", "none"]:
        recs = []
        for j in range(60):
            key = None if j % 4 == 1 else ("kw-%04d" % n).encode()
            value = ("kwv-%04d-%s-" % (n, codec) + filler(n, 20 + (n * 13) % 90)).encode()
            recs.append((key, value))
            n += 1
        out.append((codec, recs))
    return out


def records_for(kind, client=None):
    """(key, value, headers) triples a producer should send for a scenario."""
    if kind == "roundtrip":
        recs = [roundtrip_record(i) for i in range(ROUNDTRIP_N)]
        if client == "kcat":
            recs = [(k, v, list(KCAT_FIXED_HEADERS)) for k, v, _ in recs]
        return recs
    if kind == "compression":
        return [(k, v, []) for k, v in (compression_record(i) for i in range(COMPRESSION_N))]
    if kind == "large":
        return [(b"large-1", large_value(), [])]
    if kind == "idempotent":
        return [(k, v, []) for k, v in (simple_record(i, "idem") for i in range(100))]
    if kind == "ondisk":
        return [(k, v, []) for k, v in (ondisk_record(i) for i in range(ONDISK_N))]
    raise SystemExit("unknown record kind %r" % kind)


# ----------------------------------------------------------------------------
# line formats of the bash clients
# ----------------------------------------------------------------------------
def producer_lines(kind, client):
    """Input lines for kcat (-K TAB) or the Kafka console producer
    (parse.key, parse.headers with TAB delimiters, headers as k:v,k:v)."""
    out = []
    for k, v, h in records_for(kind, client):
        if client == "java" and h:
            hs = ",".join("%s:%s" % (hk, hv.decode()) for hk, hv in h).encode()
            out.append(hs + b"\t" + k + b"\t" + v)
        elif k is None:
            out.append(v)
        else:
            out.append(k + b"\t" + v)
    return b"\n".join(out) + b"\n"


class Rec:
    __slots__ = ("partition", "offset", "key", "value", "headers", "timestamp")

    def __init__(self, partition, offset, key, value, headers=(), timestamp=None):
        self.partition, self.offset, self.key, self.value = partition, offset, key, value
        self.headers = list(headers or [])
        self.timestamp = timestamp

    def __repr__(self):
        return "Rec(p=%s o=%s k=%r v=%r h=%r)" % (self.partition, self.offset, self.key,
                                                  (self.value or b"")[:40], self.headers)


def parse_kcat(data):
    """kcat -f 'P%p\\tO%o\\tT%T\\tK%k\\tH%h\\tV%s\\n' (value last; headers 'k=v,k=v')."""
    recs = []
    for line in data.split(b"\n"):
        if not line:
            continue
        parts = line.split(b"\t", 5)
        if len(parts) != 6 or not parts[0].startswith(b"P"):
            raise ValueError("unparseable kcat line: %r" % line[:200])
        p, o, t, k, h, v = parts
        headers = []
        if h[1:]:
            for item in h[1:].split(b","):
                hk, _, hv = item.partition(b"=")
                headers.append((hk.decode(), hv))
        recs.append(Rec(int(p[1:]), int(o[1:]), k[1:], v[1:], headers, int(t[1:])))
    return recs


def parse_java(data):
    """Kafka ConsoleConsumer with print.timestamp/partition/offset/headers/key:
    'CreateTime:T\\tPartition:P\\tOffset:O\\th:v,h:v\\tkey\\tvalue' (value last)."""
    recs = []
    for line in data.split(b"\n"):
        if not line:
            continue
        parts = line.split(b"\t", 5)
        if len(parts) != 6 or not parts[1].startswith(b"Partition:"):
            raise ValueError("unparseable console-consumer line: %r" % line[:200])
        t, p, o, h, k, v = parts
        headers = []
        if h != b"NO_HEADERS":
            for item in h.split(b","):
                hk, _, hv = item.partition(b":")
                headers.append((hk.decode(), hv))
        recs.append(Rec(int(p.split(b":")[1]), int(o.split(b":")[1]), None if k == b"null" else k,
                        v, headers, int(t.split(b":")[1])))
    return recs


# ----------------------------------------------------------------------------
# checks: return a list of problems (empty = pass)
# ----------------------------------------------------------------------------
def check_produced_set(expected, got, check_headers=True, partitions=None, what="records"):
    """expected: [(key, value, headers)] in production order; got: [Rec].
    Asserts the same records (key, value, headers) come back exactly once, and
    that inside each partition offsets ascend and production order is kept."""
    problems = []
    if len(got) != len(expected):
        problems.append("consumed %d %s, expected %d" % (len(got), what, len(expected)))
    index = {}
    for i, (k, v, h) in enumerate(expected):
        index[(k, v)] = (i, h)
    seen = set()
    per_part = {}
    for r in got:
        ent = index.get((r.key, r.value))
        if ent is None:
            problems.append("unexpected record %r" % r)
            continue
        i, h = ent
        if i in seen:
            problems.append("duplicate record #%d %r" % (i, r))
        seen.add(i)
        if check_headers and [(a, bytes(b) if b is not None else None) for a, b in r.headers] != h:
            problems.append("record #%d headers %r != expected %r" % (i, r.headers, h))
        per_part.setdefault(r.partition, []).append((r.offset, i))
    missing = len(expected) - len(seen)
    if missing:
        problems.append("%d expected %s never consumed" % (missing, what))
    for p, lst in sorted(per_part.items()):
        offs = [o for o, _ in lst]
        if offs != sorted(offs) or len(set(offs)) != len(offs):
            problems.append("partition %d: offsets not strictly ascending" % p)
        lst_sorted = sorted(lst)
        idx = [i for _, i in lst_sorted]
        if idx != sorted(idx):
            problems.append("partition %d: production order not preserved" % p)
    if partitions is not None and sorted(per_part) != list(range(partitions)):
        problems.append("records landed in partitions %s, expected all of 0..%d" % (sorted(per_part), partitions - 1))
    return problems[:8]


def check_roundtrip(got, client):
    exp = records_for("roundtrip", client)
    problems = check_produced_set(exp, got, partitions=ROUNDTRIP_PARTITIONS)
    for p in range(ROUNDTRIP_PARTITIONS):
        offs = sorted(r.offset for r in got if r.partition == p)
        if offs and offs != list(range(offs[0], offs[0] + len(offs))):
            problems.append("partition %d: offsets have gaps" % p)
    return problems


def check_kind(kind, got, client):
    if kind == "roundtrip":
        return check_roundtrip(got, client)
    exp = records_for(kind, client)
    return check_produced_set(exp, got, check_headers=(kind != "large"))


def check_sequence(got, expected_kv, what="records"):
    """Exact ordered match of (key, value) pairs, e.g. for a single partition."""
    gkv = [(r.key, r.value) for r in got]
    if gkv == expected_kv:
        return []
    if len(gkv) != len(expected_kv):
        return ["got %d %s, expected %d: first got %r" % (len(gkv), what, len(expected_kv), gkv[:2])]
    for n, (a, b) in enumerate(zip(gkv, expected_kv)):
        if a != b:
            return ["%s #%d is %r, expected %r" % (what, n, a, b)]
    return []


# consume-from / list-offsets / offset-out-of-range fixture records: 10 records,
# timestamps TS_BASE + i*1000 (an hour in the past, whole seconds).
SEEDED_N = 10


def seeded_ts_base():
    return (int(time.time()) - 3600) * 1000


def seeded_records(prefix, n=SEEDED_N):
    return [simple_record(i, prefix) for i in range(n)]


# ----------------------------------------------------------------------------
# fixtures (confluent-kafka, independent of the client under test)
# ----------------------------------------------------------------------------
def admin(bootstrap):
    from confluent_kafka.admin import AdminClient
    return AdminClient({"bootstrap.servers": bootstrap, "socket.timeout.ms": 10000})


def create_topic(bootstrap, name, partitions, configs=None, timeout=20.0):
    from confluent_kafka.admin import NewTopic
    a = admin(bootstrap)
    fs = a.create_topics([NewTopic(name, partitions, 1, config=dict(configs or {}))],
                         operation_timeout=timeout, request_timeout=timeout)
    fs[name].result(timeout=timeout)
    wait_topic_ready(a, name, partitions, timeout)


def wait_topic_ready(a, name, partitions, timeout=20.0):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        md = a.list_topics(topic=name, timeout=5)
        t = md.topics.get(name)
        if t is not None and t.error is None and len(t.partitions) == partitions \
                and all(p.leader >= 0 for p in t.partitions.values()):
            return
        last = t.error if t is not None else "absent"
        time.sleep(0.1)
    raise RuntimeError("topic %s not ready after %.0fs (%s)" % (name, timeout, last))


def fixture_producer(bootstrap, **extra):
    from confluent_kafka import Producer
    conf = {"bootstrap.servers": bootstrap, "linger.ms": 5, "enable.idempotence": False,
            "message.timeout.ms": 20000}
    conf.update(extra)
    return Producer(conf)


def produce_all(p, topic, recs, partition=None, timestamps=None, headers=False):
    """Produce (key, value[, headers]) tuples, flush, raise on any delivery error."""
    errors = []

    def cb(err, msg):
        if err is not None:
            errors.append(str(err))

    for n, r in enumerate(recs):
        kw = {"key": r[0], "value": r[1], "on_delivery": cb}
        if partition is not None:
            kw["partition"] = partition
        if timestamps is not None:
            kw["timestamp"] = timestamps[n]
        if headers and len(r) > 2 and r[2]:
            kw["headers"] = r[2]
        while True:
            try:
                p.produce(topic, **kw)
                break
            except BufferError:
                p.poll(0.1)
        p.poll(0)
    left = p.flush(30)
    if left:
        raise RuntimeError("%d records not delivered within 30s" % left)
    if errors:
        raise RuntimeError("delivery failed: %s" % errors[0])


def produce_seeded(bootstrap, topic, prefix, n=SEEDED_N, ts_base=None, spread=1):
    """Produce the seeded records one by one, record i into partition i % spread,
    with timestamp TS_BASE + i*1000; returns TS_BASE."""
    ts_base = ts_base or seeded_ts_base()
    p = fixture_producer(bootstrap, **{"linger.ms": 0})
    for i, r in enumerate(seeded_records(prefix, n)):
        produce_all(p, topic, [r], partition=i % spread, timestamps=[ts_base + i * 1000])
    return ts_base


def produce_markers(bootstrap, topic, max_seconds, interval, stop_pid=None):
    """Produce 'late-N' records every `interval` s until stop_pid exits (or max_seconds)."""
    p = fixture_producer(bootstrap, **{"linger.ms": 0})
    deadline = time.time() + max_seconds
    n = 0
    while time.time() < deadline:
        if stop_pid is not None:
            try:
                os.kill(stop_pid, 0)
            except OSError:
                break
        produce_all(p, topic, [(b"late-key-%03d" % n, b"late-value-%03d" % n)], partition=0)
        n += 1
        time.sleep(interval)
    return n


# consumer-group-handover: 10 records per partition and phase, each record naming
# its phase and partition, so a consumer's output shows where every record came from.
HANDOVER_PER_PARTITION = 10
HANDOVER_PARTITIONS = 4
HANDOVER_PHASES = 2


def handover_record(phase, partition, i):
    return (("ho-key-%d-p%d-%03d" % (phase, partition, i)).encode(),
            ("ho-value-%d-p%d-%03d-%s" % (phase, partition, i, filler(i, 10))).encode())


def handover_records(phase=None, partitions=None):
    """The records of one phase (or all), for the given partitions (or all)."""
    phases = [phase] if phase is not None else range(1, HANDOVER_PHASES + 1)
    parts = partitions if partitions is not None else range(HANDOVER_PARTITIONS)
    return [handover_record(ph, p, i) for ph in phases for p in parts
            for i in range(HANDOVER_PER_PARTITION)]


def produce_handover(bootstrap, topic, phase, partitions):
    """Each listed partition gets its 10 records of `phase`."""
    p = fixture_producer(bootstrap)
    for part in partitions:
        produce_all(p, topic, handover_records(phase, [part]), partition=part)


def check_handover(got):
    """Every record of both phases consumed exactly once (by one member or the other),
    each from the partition it was produced to. `got` is the leaving member's records
    followed by the remaining member's, so offsets must ascend per partition: the
    remaining member picked up each partition where the leaver had committed."""
    problems = check_produced_set([(k, v, []) for k, v in handover_records()], got,
                                  check_headers=False, partitions=HANDOVER_PARTITIONS)
    for r in got:
        m = re.match(rb"ho-value-\d-p(\d)-", r.value or b"")
        if m and int(m.group(1)) != r.partition:
            problems.append("record %r read from partition %d" % (r, r.partition))
            break
    return problems


def check_late_markers(got):
    """consume-from end: only records produced after the consumer started,
    consecutive, none of the seeded ones."""
    if not got:
        return ["consumed nothing after producing new records"]
    problems = []
    for r in got:
        if not (r.value or b"").startswith(b"late-value-"):
            problems.append("consumer started at end but got pre-existing record %r" % r)
            break
    nums = [int(r.value[len(b"late-value-"):]) for r in got if (r.value or b"").startswith(b"late-value-")]
    if nums and nums != list(range(nums[0], nums[0] + len(nums))):
        problems.append("late records not consecutive: %s" % nums)
    if got and got[0].offset < SEEDED_N:
        problems.append("first record at offset %d, expected >= %d" % (got[0].offset, SEEDED_N))
    return problems


# ----------------------------------------------------------------------------
# on-disk checks
# ----------------------------------------------------------------------------
def ondisk_input_lines():
    """stdin for `rafka log write`: 'key<TAB>value', or just 'value' for a null key."""
    out = []
    for k, v in (ondisk_record(i) for i in range(ONDISK_N)):
        out.append(v if k is None else k + b"\t" + v)
    return b"\n".join(out) + b"\n"


DLS_RECORD = re.compile(rb"^\| offset: (\d+) .*?(?: key: (.*?))? payload: (.*)$")


def check_dls_dump(data):
    """Output of DumpLogSegments --deep-iteration --print-data-log over .log,
    .index and .timeindex files."""
    problems = []
    batches = valid = 0
    for line in data.split(b"\n"):
        meta = line.split(b" payload: ", 1)[0].lower()  # payloads are ours; judge the rest
        for bad in (b"exception", b"mismatch", b"error", b"corrupt", b"invalid", b"isvalid: false"):
            if bad in meta:
                problems.append("DumpLogSegments printed %r: %r" % (bad.decode(), line[:200]))
                break
        if line.startswith(b"baseOffset: "):
            batches += 1
            valid += b" isvalid: true" in line
    if batches == 0 or valid != batches:
        problems.append("%d record batches, %d of them isvalid: true" % (batches, valid))
    recs = []
    for line in data.split(b"\n"):
        m = DLS_RECORD.match(line)
        if m:
            recs.append((int(m.group(1)), m.group(2), m.group(3)))
    expected = [ondisk_record(i) for i in range(ONDISK_N)]
    if len(recs) != len(expected):
        problems.append("DumpLogSegments showed %d records, expected %d" % (len(recs), len(expected)))
    for n, ((off, key, payload), (ek, ev)) in enumerate(zip(recs, expected)):
        if off != n or payload != ev or (ek is not None and key != ek) or (ek is None and key not in (None, b"", b"null")):
            problems.append("record #%d: offset %d key %r payload %r, expected key %r payload %r"
                            % (n, off, key, payload[:30], ek, ev[:30]))
            break
    for what in (b"Dumping", b".index", b".timeindex"):
        if what not in data:
            problems.append("no %r section in the DumpLogSegments output" % what.decode())
    return problems


def check_rafka_dump(data):
    """Output of `rafka log dump DIR`: '<offset>\\t<key>\\t<value>' per record."""
    expected = []
    for codec, recs in kwd_batches():
        expected.extend(recs)
    lines = [l for l in data.split(b"\n") if l]
    problems = []
    if len(lines) != len(expected):
        problems.append("rafka log dump printed %d records, expected %d" % (len(lines), len(expected)))
    for n, (line, (ek, ev)) in enumerate(zip(lines, expected)):
        parts = line.split(b"\t", 2)
        want = [str(n).encode(), b"null" if ek is None else ek, ev]
        if parts != want:
            problems.append("line %d is %r, expected %r" % (n + 1, line[:120], b"\t".join(want)[:120]))
            break
    return problems


def produce_kwd(bootstrap, topic):
    """kafka-written-dir fixture: one flush per batch group, each with its codec."""
    for codec, recs in kwd_batches():
        p = fixture_producer(bootstrap, **{"compression.type": codec, "linger.ms": 50,
                                           "batch.num.messages": 1000})
        produce_all(p, topic, recs, partition=0)


def produce_ondisk(bootstrap, topic):
    """dumplogsegments fixture for the Kafka target: batches of up to 100 records."""
    p = fixture_producer(bootstrap, **{"linger.ms": 100, "batch.num.messages": 100,
                                       "batch.size": 1000000})
    produce_all(p, topic, [(k, v) for k, v, _ in records_for("ondisk")], partition=0)


# ----------------------------------------------------------------------------
# command line
# ----------------------------------------------------------------------------
def report(problems, ok_msg):
    if problems:
        print("FAIL: " + "; ".join(problems))
        return 1
    print("OK: " + ok_msg)
    return 0


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)

    g = sub.add_parser("gen", help="producer input lines")
    g.add_argument("kind", choices=["roundtrip", "compression", "large", "idempotent", "ondisk-rafka"])
    g.add_argument("--client", default="kcat")

    c = sub.add_parser("check", help="verify consumed records read from stdin")
    c.add_argument("kind", choices=["roundtrip", "compression", "large", "idempotent", "seeded",
                                    "group", "handover", "late", "dls", "rafka-dump"])
    c.add_argument("--format", choices=["kcat", "java"], default="kcat")
    c.add_argument("--client", default="kcat")
    c.add_argument("--prefix", default="r")
    c.add_argument("--first", type=int, default=0, help="seeded: first expected index")
    c.add_argument("--count", type=int, default=SEEDED_N, help="seeded/group: number of records")
    c.add_argument("--ts-base", type=int, help="seeded: also check timestamps (TS_BASE + i*1000)")

    t = sub.add_parser("create-topic")
    t.add_argument("bootstrap")
    t.add_argument("topic")
    t.add_argument("--partitions", type=int, default=1)
    t.add_argument("--config", action="append", default=[])

    s = sub.add_parser("produce-seeded")
    s.add_argument("bootstrap")
    s.add_argument("topic")
    s.add_argument("--prefix", default="r")
    s.add_argument("--count", type=int, default=SEEDED_N)
    s.add_argument("--spread", type=int, default=1, help="record i goes to partition i %% spread")

    m = sub.add_parser("produce-markers")
    m.add_argument("bootstrap")
    m.add_argument("topic")
    m.add_argument("--stop-pid", type=int)
    m.add_argument("--max-seconds", type=float, default=30)
    m.add_argument("--interval", type=float, default=0.5)

    h = sub.add_parser("produce-handover")
    h.add_argument("bootstrap")
    h.add_argument("topic")
    h.add_argument("--phase", type=int, required=True)
    h.add_argument("--partitions", required=True, help="comma-separated partition numbers")

    for name in ("produce-kwd", "produce-ondisk"):
        x = sub.add_parser(name)
        x.add_argument("bootstrap")
        x.add_argument("topic")

    a = ap.parse_args(argv)
    out = sys.stdout.buffer
    if a.cmd == "gen":
        if a.kind == "ondisk-rafka":
            out.write(ondisk_input_lines())
        else:
            out.write(producer_lines(a.kind, a.client))
        return 0
    if a.cmd == "check":
        data = sys.stdin.buffer.read()
        if a.kind == "dls":
            return report(check_dls_dump(data), "DumpLogSegments shows all %d records, no errors" % ONDISK_N)
        if a.kind == "rafka-dump":
            return report(check_rafka_dump(data), "rafka log dump printed every Kafka-written record")
        try:
            got = parse_kcat(data) if a.format == "kcat" else parse_java(data)
        except ValueError as e:
            return report([str(e)], "")
        if a.kind == "seeded":
            exp = seeded_records(a.prefix, a.first + a.count)[a.first:]
            problems = check_sequence(got, exp)
            if a.ts_base is not None and not problems:
                ts = [r.timestamp for r in got]
                want = [a.ts_base + (a.first + i) * 1000 for i in range(a.count)]
                if ts != want:
                    problems.append("timestamps %s, expected %s" % (ts[:3], want[:3]))
            return report(problems, "%d records in order" % len(exp)
                          + (" with their timestamps" if a.ts_base is not None else ""))
        if a.kind == "group":
            exp = [(k, v, []) for k, v in seeded_records(a.prefix, a.count)]
            return report(check_produced_set(exp, got, check_headers=False),
                          "all %d records consumed exactly once" % a.count)
        if a.kind == "handover":
            return report(check_handover(got), "all %d records consumed exactly once across the handover"
                          % len(handover_records()))
        if a.kind == "late":
            return report(check_late_markers(got), "%d records produced after the consumer started, none older" % len(got))
        what = {"roundtrip": "%d records identical (key, value, headers) across 3 partitions, per-partition order kept",
                "compression": "%d compressed records consumed back identical",
                "large": "%d record of 1 MiB consumed back intact",
                "idempotent": "%d records read back"}[a.kind]
        return report(check_kind(a.kind, got, a.client), what % len(got))
    if a.cmd == "create-topic":
        cfg = dict(kv.split("=", 1) for kv in a.config)
        create_topic(a.bootstrap, a.topic, a.partitions, cfg)
        return 0
    if a.cmd == "produce-seeded":
        print(produce_seeded(a.bootstrap, a.topic, a.prefix, a.count, spread=a.spread))
        return 0
    if a.cmd == "produce-handover":
        produce_handover(a.bootstrap, a.topic, a.phase, [int(x) for x in a.partitions.split(",") if x])
        return 0
    if a.cmd == "produce-markers":
        produce_markers(a.bootstrap, a.topic, a.max_seconds, a.interval, a.stop_pid)
        return 0
    if a.cmd == "produce-kwd":
        produce_kwd(a.bootstrap, a.topic)
        return 0
    if a.cmd == "produce-ondisk":
        produce_ondisk(a.bootstrap, a.topic)
        return 0
    return 2


# ---------------------------------------------------- shared by the Python client drivers
class Fail(Exception):
    """A scenario's assertion about what the client observed did not hold."""


def expect(cond, msg):
    if not cond:
        raise Fail(msg)


def check(problems):
    if problems:
        raise Fail("; ".join(problems))


def restart_broker():
    """Restart the broker under test (same port and data dir) with the command run.sh
    gives in RESTART_BROKER; returns once it answers Metadata again."""
    import shlex
    import subprocess
    cmd = os.environ.get("RESTART_BROKER")
    if not cmd:
        raise Fail("RESTART_BROKER is not set (run the scenario through run.sh)")
    r = subprocess.run(shlex.split(cmd), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=150)
    if r.returncode != 0:
        raise Fail("broker restart failed (exit %d): %s" % (r.returncode, r.stderr.decode(errors="replace")
                                                            .strip().splitlines()[-1:]))


def wait_for(cond, timeout, what, step=None):
    """Calls step() (if given) until cond() holds; Fail(what()) after `timeout` s."""
    deadline = time.time() + timeout
    while not cond():
        if time.time() >= deadline:
            raise Fail(what())
        if step is not None:
            step()
        else:
            time.sleep(0.1)


def run_scenarios(scenarios, argv):
    """Runs scenario argv[1] of a driver; prints `OK: ...` or `FAIL: ...`, returns the exit code."""
    name = argv[1]
    if name not in scenarios:
        print("FAIL: scenario %s not implemented by this driver" % name)
        return 1
    try:
        msg = scenarios[name]()
    except Fail as e:
        print("FAIL: %s" % e)
        return 1
    except Exception as e:  # any client exception is a failed scenario
        while e.__cause__ is not None:  # report the client's own error, not a wrapper
            e = e.__cause__
        print("FAIL: %s: %s" % (type(e).__name__, e))
        return 1
    print("OK: %s" % msg)
    return 0


if __name__ == "__main__":
    sys.exit(main())
