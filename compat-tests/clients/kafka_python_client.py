#!/usr/bin/env python3
"""Scenario driver for the kafka-python client (pure Python).

usage: kafka_python_client.py SCENARIO
env:   BOOTSTRAP=127.0.0.1:PORT  TOPIC=<topic name reserved for this case>
Prints "OK: ..." (exit 0) or "FAIL: ..." (exit 1) as its last line.
"""
import hashlib
import logging
import os
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import compat  # noqa: E402
from compat import Fail, check, expect  # noqa: E402,F401
import kafka.errors as Errors  # noqa: E402
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition  # noqa: E402
from kafka.admin import NewTopic, OffsetSpec  # noqa: E402
from kafka.structs import OffsetAndMetadata  # noqa: E402

BOOTSTRAP = os.environ["BOOTSTRAP"]
TOPIC = os.environ["TOPIC"]
TIMEOUT = 30.0
logging.basicConfig(level=logging.CRITICAL)
if os.environ.get("COMPAT_DEBUG"):
    logging.basicConfig(level=logging.DEBUG, force=True, format="%(asctime)s %(threadName)s %(name)s %(message)s")
    for n in ("kafka.conn", "kafka.client", "kafka.metrics", "kafka.protocol", "kafka.consumer.fetcher"):
        logging.getLogger(n).setLevel(logging.INFO)


def producer(**extra):
    conf = dict(bootstrap_servers=BOOTSTRAP, linger_ms=5,
                request_timeout_ms=20000, max_block_ms=20000)
    conf.update(extra)
    return KafkaProducer(**conf)


def consumer(**extra):
    conf = dict(bootstrap_servers=BOOTSTRAP, enable_auto_commit=False, auto_offset_reset="earliest",
                request_timeout_ms=30000)
    conf.update(extra)
    return KafkaConsumer(**conf)


def admin():
    return KafkaAdminClient(bootstrap_servers=BOOTSTRAP, request_timeout_ms=20000)


def produce(recs, **extra):
    p = producer(**extra)
    futures = [p.send(TOPIC, key=k, value=v, headers=h or None) for k, v, h in recs]
    p.flush(timeout=TIMEOUT)
    for f in futures:
        f.get(timeout=TIMEOUT)
    p.close(timeout=10)


def to_rec(m):
    return compat.Rec(m.partition, m.offset, m.key, m.value, list(m.headers or []), m.timestamp)


def drain(c, tps, limit=None, timeout=TIMEOUT):
    """Poll an assigned consumer until its position reaches the end offset of
    every partition in `tps` (end offsets taken now), or `limit` records."""
    end = c.end_offsets(tps)
    got = []
    deadline = time.time() + timeout
    while time.time() < deadline:
        if limit is None and all(c.position(tp) >= end[tp] for tp in tps):
            return got
        for tp, ms in c.poll(timeout_ms=500).items():
            got.extend(to_rec(m) for m in ms)
        if limit is not None and len(got) >= limit:
            return got
    raise Fail("timed out after %.0fs with %d records" % (timeout, len(got)))


def consume_assigned(start_offsets, **extra):
    """start_offsets: {partition: offset or 'beginning'}."""
    c = consumer(**extra)
    try:
        tps = [TopicPartition(TOPIC, p) for p in start_offsets]
        c.assign(tps)
        for tp in tps:
            o = start_offsets[tp.partition]
            if o == "beginning":
                c.seek_to_beginning(tp)
            else:
                c.seek(tp, o)
        return drain(c, tps)
    finally:
        c.close()


# ------------------------------------------------------------------ scenarios
def s_metadata_brokers():
    compat.create_topic(BOOTSTRAP, TOPIC, 2)
    a = admin()
    try:
        cl = a.describe_cluster()
        brokers = cl["brokers"]
        host, port = BOOTSTRAP.rsplit(":", 1)
        expect(len(brokers) == 1, "expected 1 broker, got %s" % brokers)
        b = brokers[0]
        expect((b["host"], b["port"]) == (host, int(port)),
               "broker %s advertised as %s:%s, expected %s" % (b["broker_id"], b["host"], b["port"], BOOTSTRAP))
        bid = b["broker_id"]
        expect(cl["controller_id"] == bid, "controller id %s, expected %s" % (cl["controller_id"], bid))
        (t,) = a.describe_topics([TOPIC])
        expect(t["error_code"] == 0, "describe_topics error %s" % t["error_code"])
        leaders = sorted({p["leader_id"] for p in t["partitions"]})
        expect(len(t["partitions"]) == 2 and leaders == [bid], "partitions %s leaders %s" % (len(t["partitions"]), leaders))
    finally:
        a.close()
    return "broker id %d at %s:%d leads both partitions" % (bid, b["host"], b["port"])


def s_topic_admin():
    a = admin()
    try:
        a.create_topics([NewTopic(TOPIC, 3, 1, topic_configs={"retention.ms": "3600000"})], timeout_ms=20000)
        compat.wait_topic_ready(compat.admin(BOOTSTRAP), TOPIC, 3)
        expect(TOPIC in a.list_topics(), "created topic not listed")
        (t,) = a.describe_topics([TOPIC])
        expect(t["error_code"] == 0 and t["name"] == TOPIC, "describe: %s" % t)
        expect(sorted(p["partition_index"] for p in t["partitions"]) == [0, 1, 2], "describe: partitions %s" % t["partitions"])
        expect(all(p["leader_id"] >= 0 for p in t["partitions"]), "describe: a partition has no leader")
        a.delete_topics([TOPIC], timeout_ms=20000)
        deadline = time.time() + 20
        while TOPIC in a.list_topics():
            expect(time.time() < deadline, "deleted topic still listed after 20s")
            time.sleep(0.2)
    finally:
        a.close()
    return "created, listed, described (3 partitions), deleted"


def s_roundtrip_10k():
    compat.create_topic(BOOTSTRAP, TOPIC, 3)
    produce(compat.records_for("roundtrip", "kafka-python"))
    got = consume_assigned({0: "beginning", 1: "beginning", 2: "beginning"})
    check(compat.check_kind("roundtrip", got, "kafka-python"))
    return "10000 records with headers identical, order kept in all 3 partitions"


def compression(codec):
    def run():
        compat.create_topic(BOOTSTRAP, TOPIC, 1)
        produce(compat.records_for("compression"), compression_type=codec, linger_ms=50)
        got = consume_assigned({0: "beginning"})
        check(compat.check_kind("compression", got, "kafka-python"))
        return "%d %s-compressed records identical" % (len(got), codec)
    return run


def seeded(n=compat.SEEDED_N):
    compat.create_topic(BOOTSTRAP, TOPIC, 1)
    return compat.produce_seeded(BOOTSTRAP, TOPIC, "cf", n)


def s_consume_beginning():
    seeded()
    got = consume_assigned({0: "beginning"})
    check(compat.check_sequence(got, compat.seeded_records("cf")))
    return "10 records from offset 0"


def s_consume_end():
    seeded()
    c = consumer()
    p = compat.fixture_producer(BOOTSTRAP, **{"linger.ms": 0})
    tp = TopicPartition(TOPIC, 0)
    got, n = [], 0
    try:
        c.assign([tp])
        c.seek_to_end(tp)
        deadline = time.time() + TIMEOUT
        while len(got) < 2 and time.time() < deadline:
            batch = c.poll(timeout_ms=500)
            if not batch:
                compat.produce_all(p, TOPIC, [(b"late-key-%03d" % n, b"late-value-%03d" % n)], partition=0)
                n += 1
            for ms in batch.values():
                got.extend(to_rec(m) for m in ms)
    finally:
        c.close()
    check(compat.check_late_markers(got))
    return "got %d new records starting at offset %d, none of the 10 older ones" % (len(got), got[0].offset)


def s_consume_offset():
    seeded()
    got = consume_assigned({0: 5})
    check(compat.check_sequence(got, compat.seeded_records("cf")[5:]))
    return "records 5..9 from offset 5"


def s_consume_timestamp():
    base = seeded()
    c = consumer()
    tp = TopicPartition(TOPIC, 0)
    try:
        r = c.offsets_for_times({tp: base + 5000})[tp]
        expect(r is not None and r.offset == 5, "offsets_for_times(ts of #5) = %s" % (r,))
        c.assign([tp])
        c.seek(tp, r.offset)
        got = drain(c, [tp])
    finally:
        c.close()
    check(compat.check_sequence(got, compat.seeded_records("cf")[5:]))
    expect(got[0].timestamp == base + 5000, "record 5 timestamp %s, expected %d" % (got[0].timestamp, base + 5000))
    return "timestamp %d -> offset 5, records 5..9 with their timestamps" % (base + 5000)


def s_list_offsets():
    base = seeded()
    c = consumer()
    tp = TopicPartition(TOPIC, 0)
    try:
        lo = c.beginning_offsets([tp])[tp]
        hi = c.end_offsets([tp])[tp]
        at5 = c.offsets_for_times({tp: base + 5000})[tp]
        mid = c.offsets_for_times({tp: base + 5500})[tp]
        after = c.offsets_for_times({tp: base + 60000})[tp]
    finally:
        c.close()
    expect(lo == 0, "beginning offset %s, expected 0" % lo)
    expect(hi == 10, "end offset %s, expected 10" % hi)
    expect(at5 is not None and (at5.offset, at5.timestamp) == (5, base + 5000), "offset for time of #5: %s" % (at5,))
    expect(mid is not None and (mid.offset, mid.timestamp) == (6, base + 6000), "offset for time between #5/#6: %s" % (mid,))
    expect(after is None, "offset for a time after the last record: %s, expected None" % (after,))
    return "earliest=0, latest=10, time of #5 -> 5, between #5/#6 -> 6, after last -> None"


def s_large_record():
    compat.create_topic(BOOTSTRAP, TOPIC, 1, {"max.message.bytes": "2097152"})
    produce(compat.records_for("large"), max_request_size=2097152)
    got = consume_assigned({0: "beginning"}, max_partition_fetch_bytes=2097152, fetch_max_bytes=4194304)
    check(compat.check_kind("large", got, "kafka-python"))
    return "1 MiB record intact (sha256 %s...)" % hashlib.sha256(got[0].value).hexdigest()[:12]


def s_record_too_large():
    compat.create_topic(BOOTSTRAP, TOPIC, 1, {"max.message.bytes": "10000"})
    p = producer(retries=0, linger_ms=0)
    try:
        p.send(TOPIC, key=b"big", value=b"x" * 20000, partition=0).get(timeout=TIMEOUT)
        raise Fail("a 20000-byte record was accepted by a topic with max.message.bytes=10000")
    except Errors.MessageSizeTooLargeError as e:
        err = e
    finally:
        p.close(timeout=5)
    c = consumer()
    tp = TopicPartition(TOPIC, 0)
    try:
        hi = c.end_offsets([tp])[tp]
    finally:
        c.close()
    expect(hi == 0, "end offset %d after the rejected record, expected 0" % hi)
    return "%s (error %d); nothing stored" % (type(err).__name__, err.errno)


def s_unknown_topic():
    a = admin()
    try:
        try:
            res = a.describe_topics([TOPIC])
            codes = [t["error_code"] for t in res]
            expect(codes == [Errors.UnknownTopicOrPartitionError.errno],
                   "describe_topics error codes %s, expected [3]" % codes)
            meta = "error_code 3"
        except Errors.UnknownTopicOrPartitionError as e:
            meta = type(e).__name__
        p = producer(max_block_ms=3000)
        try:
            p.send(TOPIC, value=b"nobody home").get(timeout=10)
            raise Fail("producing to a missing topic succeeded")
        except (Errors.KafkaTimeoutError, Errors.UnknownTopicOrPartitionError) as e:
            perr = type(e).__name__
        finally:
            p.close(timeout=5)
        expect(TOPIC not in a.list_topics(), "the missing topic got created")
    finally:
        a.close()
    return "describe_topics: %s; send: %s; topic not created" % (meta, perr)


def s_offset_out_of_range():
    seeded(5)
    c = consumer(auto_offset_reset="earliest")
    tp = TopicPartition(TOPIC, 0)
    try:
        c.assign([tp])
        c.seek(tp, 100)
        got = drain(c, [tp], limit=5)
        for ms in c.poll(timeout_ms=500).values():  # anything extra would be a duplicate
            got.extend(to_rec(m) for m in ms)
    finally:
        c.close()
    check(compat.check_sequence(got, compat.seeded_records("cf", 5)))
    return "offset 100 reset to earliest, read records 0..4"


def s_group_resume():
    compat.create_topic(BOOTSTRAP, TOPIC, 3)
    recs = compat.seeded_records("grp", 30)
    p = compat.fixture_producer(BOOTSTRAP)
    for i, r in enumerate(recs):
        compat.produce_all(p, TOPIC, [r], partition=i % 3)
    group = TOPIC + "-group"
    tps = [TopicPartition(TOPIC, i) for i in range(3)]
    c = consumer(group_id=group, max_poll_records=1)
    first = []
    try:
        subscribe(c)
        deadline = time.time() + TIMEOUT
        while len(first) < 12 and time.time() < deadline:
            for ms in c.poll(timeout_ms=500, max_records=12 - len(first)).values():
                first.extend(to_rec(m) for m in ms)
        expect(len(first) == 12, "first instance got %d of 12 records" % len(first))
        c.commit()
        committed = sum(c.committed(tp) or 0 for tp in tps)
        expect(committed == 12, "committed offsets add up to %s, expected 12" % committed)
    finally:
        c.close(autocommit=False)
    c = consumer(group_id=group)
    second = []
    try:
        subscribe(c)
        deadline = time.time() + TIMEOUT
        while len(second) < 18 and time.time() < deadline:
            for ms in c.poll(timeout_ms=500).values():
                second.extend(to_rec(m) for m in ms)
        for ms in c.poll(timeout_ms=1000).values():  # anything extra would be a duplicate
            second.extend(to_rec(m) for m in ms)
    finally:
        c.close(autocommit=False)
    check(compat.check_produced_set([(k, v, []) for k, v in recs], first + second, check_headers=False))
    return "first instance consumed+committed 12, second resumed with the other 18"


def seed_group_topic():
    """3 partitions, the 30 seeded 'grp' records (record i in partition i % 3)."""
    compat.create_topic(BOOTSTRAP, TOPIC, 3)
    recs = compat.seeded_records("grp", 30)
    p = compat.fixture_producer(BOOTSTRAP)
    for i, r in enumerate(recs):
        compat.produce_all(p, TOPIC, [r], partition=i % 3)
    return recs


def subscribe(c):
    """Subscribes `c` to TOPIC once it has the topic's metadata: kafka-python 3.0.12 can
    lose a leader's assignment when it rejoins only because that metadata came after
    its first assignment (compat-tests/FINDINGS.md), on either broker."""
    expect(c.partitions_for_topic(TOPIC), "no metadata for %s" % TOPIC)
    c.subscribe([TOPIC])


class Member:
    """A subscribed group member that commits every record it reads (synchronously)."""

    def __init__(self, group, name=None, **extra):
        self.c = consumer(group_id=group, client_id=name or "kafka-python", **extra)
        subscribe(self.c)
        self.got = []

    def step(self):
        for tp, ms in self.c.poll(timeout_ms=100, max_records=1).items():
            for m in ms:
                try:
                    self.c.commit({tp: OffsetAndMetadata(m.offset + 1, None, -1)})
                except (Errors.RebalanceInProgressError, Errors.CommitFailedError):
                    # the group is rebalancing (either broker may say so, e.g. as a
                    # restarted coordinator loads): the record is not counted, and is read
                    # again from the committed offset once the group has settled
                    return
                self.got.append(to_rec(m))

    def read(self, n, timeout=TIMEOUT):
        compat.wait_for(lambda: len(self.got) >= n, timeout,
                        lambda: "read %d of %d records" % (len(self.got), n), self.step)

    def owned(self):
        return sorted(tp.partition for tp in self.c.assignment())

    def close(self):
        self.c.close(autocommit=False)


def s_group_restart():
    recs = seed_group_topic()
    group = TOPIC + "-group"
    m = Member(group)
    try:
        m.read(12)
    finally:
        m.close()
    first = m.got
    compat.restart_broker()
    # lost commits would show as duplicates: this instance would start over at offset 0
    m = Member(group)
    try:
        m.read(18, timeout=60)
        end = time.time() + 1  # anything more would be a duplicate
        while time.time() < end:
            m.step()
    finally:
        m.close()
    check(compat.check_produced_set([(k, v, []) for k, v in recs], first + m.got, check_headers=False))
    return "12 records before the broker restart, the other 18 after it from the committed offsets"


class Runner(threading.Thread):
    """Polls one Member from a thread of its own, as an application runs a consumer, until
    stopped or until it has read `limit` records; then closes it (LeaveGroup) in that
    same thread: a KafkaConsumer is not thread-safe."""

    def __init__(self, member, limit=None):
        super().__init__(daemon=True)
        self.m, self.limit = member, limit
        self.owned = []
        self.error = None
        self.stop = threading.Event()

    def run(self):
        try:
            while not self.stop.is_set() and (self.limit is None or len(self.m.got) < self.limit):
                self.m.step()
                self.owned = self.m.owned()
        except Exception as e:  # reported by finish()
            self.error = e
        finally:
            self.m.close()

    def finish(self):
        self.stop.set()
        self.join(30)
        if self.error is not None:
            raise Fail("%s: %s" % (type(self.error).__name__, self.error))


def s_group_handover():
    """Two members split 4 partitions 2+2; A reads all of its share, B 5 records of its
    share and closes (LeaveGroup); A then owns all 4 partitions and reads on from B's
    committed offsets, then 40 more records. Each member polls from its own thread:
    kafka-python collects a JoinGroup/SyncGroup only in that consumer's own poll(), so
    two consumers polled in turn from one thread can rebalance forever
    (compat-tests/FINDINGS.md)."""
    compat.create_topic(BOOTSTRAP, TOPIC, 4)
    group = TOPIC + "-group"
    a = Runner(Member(group, "member-a"))
    b = Runner(Member(group, "member-b"), limit=5)
    a.start()
    b.start()
    try:
        compat.wait_for(lambda: len(a.owned) == 2 and len(b.owned) == 2, TIMEOUT,
                        lambda: "no 2+2 split: A owns %s, B owns %s" % (a.owned, b.owned))
        pa, pb = a.owned, b.owned
        expect(sorted(pa + pb) == [0, 1, 2, 3], "A owns %s, B owns %s" % (pa, pb))
        compat.produce_handover(BOOTSTRAP, TOPIC, 1, pa)
        compat.wait_for(lambda: len(a.m.got) >= 20, TIMEOUT, lambda: "A read %d of 20" % len(a.m.got))
        compat.produce_handover(BOOTSTRAP, TOPIC, 1, pb)
        # B stops by itself after 5 records and leaves the group
        b.join(TIMEOUT)
        expect(not b.is_alive(), "B read %d of 5 and did not leave" % len(b.m.got))
        b.finish()
        compat.wait_for(lambda: a.owned == [0, 1, 2, 3], TIMEOUT, lambda: "after B left, A owns %s" % a.owned)
        compat.produce_handover(BOOTSTRAP, TOPIC, 2, [0, 1, 2, 3])
        compat.wait_for(lambda: len(a.m.got) >= 75, TIMEOUT, lambda: "A read %d of 75" % len(a.m.got))
        time.sleep(1)  # anything more would be a duplicate
    finally:
        b.stop.set()
        a.finish()
        b.finish()
    expect(len(b.m.got) == 5 and len(a.m.got) == 75,
           "A read %d, B %d records; expected 75 and 5" % (len(a.m.got), len(b.m.got)))
    # B first: on each partition, what A read after the handover follows what B read
    check(compat.check_handover(b.m.got + a.m.got))
    return "split 2+2 (A %s, B %s); B read 5 and left; A took all 4 and read 75; all 80 exactly once" % (pa, pb)


def s_groups_admin():
    """KafkaAdminClient list/describe/offsets/reset/delete of a consumer group, checked
    against what its consumers read."""
    recs = seed_group_topic()
    group = TOPIC + "-group"
    tps = [TopicPartition(TOPIC, p) for p in range(3)]
    m = Member(group)
    try:
        m.read(12)
    finally:
        m.close()
    read = {}
    for r in m.got:
        read[r.partition] = max(read.get(r.partition, -1), r.offset + 1)
    a = admin()
    try:
        def state():
            return {g["group_id"]: g.get("group_state") for g in a.list_groups()}.get(group)

        expect(state() == "Empty", "list_groups: %s is %s, expected Empty" % (group, state()))
        d = a.describe_groups([group])[group]
        expect(d["group_state"] == "Empty" and not d["members"], "describe: %s" % d)

        def committed():
            offs = a.list_group_offsets({group: None})[group]
            return {tp.partition: om.offset for tp, om in offs.items() if tp.topic == TOPIC and om.offset >= 0}

        got = committed()
        expect(got == read, "committed offsets %s, but the consumer read up to %s" % (got, read))
        res = a.reset_group_offsets(group, {tp: OffsetSpec.EARLIEST for tp in tps})
        expect(all(getattr(e, "errno", 0) == 0 for e in res.values()), "reset_group_offsets: %s" % res)
        got = committed()
        expect(got == {0: 0, 1: 0, 2: 0}, "committed offsets after the reset %s, expected 0 on all 3" % got)

        # auto_offset_reset=latest: only the reset commits can make it read from 0
        m = Member(group, auto_offset_reset="latest")
        try:
            m.read(30)
            check(compat.check_produced_set([(k, v, []) for k, v in recs], m.got, check_headers=False))
            d = a.describe_groups([group])[group]
            expect(d["group_state"] == "Stable" and len(d["members"]) == 1,
                   "describe an active group: %s, %d members" % (d["group_state"], len(d["members"])))
            assignment = d["members"][0]["member_assignment"]
            owned = sorted(p for t in assignment["assigned_partitions"] if t["topic"] == TOPIC for p in t["partitions"])
            expect(owned == [0, 1, 2], "describe: the member is assigned %s" % owned)
            res = a.delete_groups([group])  # {group: 'OK' or the error's class name}
            expect(res == {group: Errors.NonEmptyGroupError.__name__}, "delete of an active group: %s" % res)
        finally:
            m.close()
        got = committed()
        expect(got == {0: 10, 1: 10, 2: 10}, "committed offsets after reading all %s, expected 10 on all 3" % got)
        res = a.delete_groups([group])
        expect(res == {group: "OK"}, "delete_groups: %s" % res)
        expect(state() is None, "the deleted group is still listed (%s)" % state())
    finally:
        a.close()
    return ("list (Empty), describe, committed offsets = what the consumer read %s, reset to earliest (next "
            "member read all 30), delete refused while active (NonEmptyGroupError), accepted after, then not listed"
            % read)


def s_idempotent():
    compat.create_topic(BOOTSTRAP, TOPIC, 1)
    # kafka-python's defaults: enable_idempotence=True, acks='all'
    p = KafkaProducer(bootstrap_servers=BOOTSTRAP, request_timeout_ms=20000, max_block_ms=20000)
    expect(p.config["enable_idempotence"] and p.config["acks"] in (-1, "all"),
           "defaults are not idempotent/acks=all: %s %s" % (p.config["enable_idempotence"], p.config["acks"]))
    fs = [p.send(TOPIC, key=k, value=v) for k, v, _ in compat.records_for("idempotent")]
    p.flush(timeout=TIMEOUT)
    for f in fs:
        f.get(timeout=TIMEOUT)
    pid = p._transaction_manager.producer_id_and_epoch  # private, but the only place it shows
    p.close(timeout=10)
    expect(pid.producer_id >= 0, "the producer has no ProducerId: %s" % (pid,))
    got = consume_assigned({0: "beginning"})
    check(compat.check_kind("idempotent", got, "kafka-python"))
    return "100 records from the default (idempotent, acks=all) producer, ProducerId %d epoch %d, read back" % (
        pid.producer_id, pid.epoch)


SCENARIOS = {
    "metadata-brokers": s_metadata_brokers,
    "topic-admin": s_topic_admin,
    "roundtrip-10k": s_roundtrip_10k,
    "compression-gzip": compression("gzip"),
    "compression-snappy": compression("snappy"),
    "compression-lz4": compression("lz4"),
    "compression-zstd": compression("zstd"),
    "consume-from-beginning": s_consume_beginning,
    "consume-from-end": s_consume_end,
    "consume-from-offset": s_consume_offset,
    "consume-from-timestamp": s_consume_timestamp,
    "list-offsets": s_list_offsets,
    "large-record-1mib": s_large_record,
    "record-too-large": s_record_too_large,
    "unknown-topic": s_unknown_topic,
    "offset-out-of-range": s_offset_out_of_range,
    "consumer-group-resume": s_group_resume,
    "consumer-group-restart": s_group_restart,
    "consumer-group-handover": s_group_handover,
    "consumer-groups-admin": s_groups_admin,
    "idempotent-default-producer": s_idempotent,
}


def main():
    return compat.run_scenarios(SCENARIOS, sys.argv)


if __name__ == "__main__":
    sys.exit(main())
