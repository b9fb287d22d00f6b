#!/usr/bin/env python3
"""Scenario driver for the confluent-kafka Python client (librdkafka).

usage: confluent_kafka_client.py SCENARIO
env:   BOOTSTRAP=127.0.0.1:PORT  TOPIC=<topic name reserved for this case>
Prints "OK: ..." (exit 0) or "FAIL: ..." (exit 1) as its last line.
"""
import hashlib
import logging
import os
import re
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import compat  # noqa: E402
from compat import Fail, check, expect  # noqa: E402,F401
from confluent_kafka import (OFFSET_BEGINNING, OFFSET_END, Consumer, ConsumerGroupState,  # noqa: E402
                             ConsumerGroupTopicPartitions, KafkaError, KafkaException, Producer,
                             TopicCollection, TopicPartition)
from confluent_kafka.admin import AdminClient, NewTopic, OffsetSpec  # noqa: E402

BOOTSTRAP = os.environ["BOOTSTRAP"]
TOPIC = os.environ["TOPIC"]
TIMEOUT = 30.0


def producer(**extra):
    conf = {"bootstrap.servers": BOOTSTRAP, "linger.ms": 5,
            "message.timeout.ms": 20000}
    conf.update(extra)
    return Producer(conf)


def consumer(**extra):
    conf = {"bootstrap.servers": BOOTSTRAP, "group.id": TOPIC + "-reader", "enable.auto.commit": False,
            "enable.partition.eof": True, "auto.offset.reset": "error"}
    conf.update(extra)
    return Consumer(conf)


def produce(recs, **extra):
    p = producer(**extra)
    compat.produce_all(p, TOPIC, recs, headers=True)


def to_rec(m):
    return compat.Rec(m.partition(), m.offset(), m.key(), m.value(),
                      [(k, v) for k, v in (m.headers() or [])], m.timestamp()[1])


def read_until_eof(c, partitions, limit=None, timeout=TIMEOUT):
    """Poll until every partition in `partitions` reported EOF (or `limit` records)."""
    got, eof = [], set()
    deadline = time.time() + timeout
    while time.time() < deadline:
        m = c.poll(0.5)
        if m is None:
            continue
        if m.error():
            if m.error().code() == KafkaError._PARTITION_EOF:
                eof.add(m.partition())
                if eof >= set(partitions):
                    return got
                continue
            raise Fail("consumer error: %s" % m.error())
        got.append(to_rec(m))
        if limit is not None and len(got) >= limit:
            return got
    raise Fail("timed out after %.0fs with %d records, EOF on %s of %s" % (timeout, len(got), sorted(eof), partitions))


def consume_assigned(start_offsets, **extra):
    """start_offsets: {partition: offset}; returns records up to EOF on all."""
    c = consumer(**extra)
    try:
        c.assign([TopicPartition(TOPIC, p, o) for p, o in start_offsets.items()])
        return read_until_eof(c, list(start_offsets))
    finally:
        c.close()


# ------------------------------------------------------------------ scenarios
def s_metadata_brokers():
    compat.create_topic(BOOTSTRAP, TOPIC, 2)
    a = AdminClient({"bootstrap.servers": BOOTSTRAP})
    md = a.list_topics(timeout=10)
    host, port = BOOTSTRAP.rsplit(":", 1)
    brokers = {b.id: (b.host, b.port) for b in md.brokers.values()}
    expect(len(brokers) == 1, "expected 1 broker, metadata lists %s" % brokers)
    (bid, (bhost, bport)), = brokers.items()
    expect((bhost, bport) == (host, int(port)), "broker %d advertised as %s:%s, expected %s" % (bid, bhost, bport, BOOTSTRAP))
    t = md.topics.get(TOPIC)
    expect(t is not None and t.error is None, "topic %s missing from metadata: %s" % (TOPIC, t and t.error))
    leaders = sorted({p.leader for p in t.partitions.values()})
    expect(len(t.partitions) == 2 and leaders == [bid], "partitions %s leaders %s, expected 2 led by %d" % (sorted(t.partitions), leaders, bid))
    expect(md.controller_id == bid, "controller id %s, expected %d" % (md.controller_id, bid))
    return "broker id %d at %s:%d leads both partitions" % (bid, bhost, bport)


def s_topic_admin():
    a = AdminClient({"bootstrap.servers": BOOTSTRAP})
    fs = a.create_topics([NewTopic(TOPIC, 3, 1, config={"retention.ms": "3600000"})], operation_timeout=20)
    fs[TOPIC].result(timeout=TIMEOUT)
    compat.wait_topic_ready(a, TOPIC, 3)
    expect(TOPIC in a.list_topics(timeout=10).topics, "created topic not listed")
    d = a.describe_topics(TopicCollection([TOPIC]))[TOPIC].result(timeout=TIMEOUT)
    expect(d.name == TOPIC and len(d.partitions) == 3, "describe: %d partitions" % len(d.partitions))
    expect(all(p.leader is not None and p.leader.id >= 0 for p in d.partitions), "describe: a partition has no leader")
    expect(sorted(p.id for p in d.partitions) == [0, 1, 2], "describe: partition ids %s" % [p.id for p in d.partitions])
    a.delete_topics([TOPIC], operation_timeout=20)[TOPIC].result(timeout=TIMEOUT)
    deadline = time.time() + 20
    while TOPIC in a.list_topics(timeout=10).topics:
        expect(time.time() < deadline, "deleted topic still listed after 20s")
        time.sleep(0.2)
    return "created, listed, described (3 partitions), deleted"


def s_roundtrip_10k():
    compat.create_topic(BOOTSTRAP, TOPIC, 3)
    produce(compat.records_for("roundtrip", "confluent-kafka"), **{"batch.num.messages": 500})
    got = consume_assigned({0: OFFSET_BEGINNING, 1: OFFSET_BEGINNING, 2: OFFSET_BEGINNING})
    check(compat.check_kind("roundtrip", got, "confluent-kafka"))
    return "10000 records with headers identical, order kept in all 3 partitions"


def compression(codec):
    def run():
        compat.create_topic(BOOTSTRAP, TOPIC, 1)
        produce(compat.records_for("compression"), **{"compression.type": codec, "linger.ms": 50})
        got = consume_assigned({0: OFFSET_BEGINNING})
        check(compat.check_kind("compression", got, "confluent-kafka"))
        return "%d %s-compressed records identical" % (len(got), codec)
    return run


def seeded(n=compat.SEEDED_N):
    compat.create_topic(BOOTSTRAP, TOPIC, 1)
    return compat.produce_seeded(BOOTSTRAP, TOPIC, "cf", n)


def s_consume_beginning():
    seeded()
    got = consume_assigned({0: OFFSET_BEGINNING})
    check(compat.check_sequence(got, compat.seeded_records("cf")))
    return "10 records from offset 0"


def s_consume_end():
    seeded()
    c = consumer(**{"enable.partition.eof": False})
    p = compat.fixture_producer(BOOTSTRAP, **{"linger.ms": 0})
    got, n = [], 0
    try:
        c.assign([TopicPartition(TOPIC, 0, OFFSET_END)])
        deadline = time.time() + TIMEOUT
        while len(got) < 2 and time.time() < deadline:
            m = c.poll(0.5)
            if m is None:
                compat.produce_all(p, TOPIC, [(b"late-key-%03d" % n, b"late-value-%03d" % n)], partition=0)
                n += 1
                continue
            if m.error():
                raise Fail("consumer error: %s" % m.error())
            got.append(to_rec(m))
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
    try:
        tps = c.offsets_for_times([TopicPartition(TOPIC, 0, base + 5000)], timeout=10)
        expect(tps[0].error is None and tps[0].offset == 5, "offsets_for_times(ts of #5) = %s" % tps[0])
        c.assign(tps)
        got = read_until_eof(c, [0])
    finally:
        c.close()
    check(compat.check_sequence(got, compat.seeded_records("cf")[5:]))
    expect(got[0].timestamp == base + 5000, "record 5 timestamp %s, expected %d" % (got[0].timestamp, base + 5000))
    return "timestamp %d -> offset 5, records 5..9 with their timestamps" % (base + 5000)


def s_list_offsets():
    base = seeded()
    a = AdminClient({"bootstrap.servers": BOOTSTRAP})
    tp = TopicPartition(TOPIC, 0)
    specs = [("earliest", OffsetSpec.earliest(), 0), ("latest", OffsetSpec.latest(), 10),
             ("time of #5", OffsetSpec.for_timestamp(base + 5000), 5),
             ("time between #5 and #6", OffsetSpec.for_timestamp(base + 5500), 6),
             ("time after the last record", OffsetSpec.for_timestamp(base + 60000), -1)]
    seen = []
    for name, spec, want in specs:
        r = a.list_offsets({tp: spec}, request_timeout=10)[tp].result(timeout=TIMEOUT)
        expect(r.offset == want, "list_offsets %s = %s, expected %d" % (name, r.offset, want))
        seen.append("%s=%d" % (name.split()[0] if name[0] != "t" else name, r.offset))
    c = consumer()
    try:
        lo, hi = c.get_watermark_offsets(tp, timeout=10)
    finally:
        c.close()
    expect((lo, hi) == (0, 10), "watermarks %s, expected (0, 10)" % ((lo, hi),))
    return ", ".join(seen) + ", watermarks (0, 10)"


def s_large_record():
    compat.create_topic(BOOTSTRAP, TOPIC, 1, {"max.message.bytes": "2097152"})
    produce(compat.records_for("large"), **{"message.max.bytes": 2097152})
    got = consume_assigned({0: OFFSET_BEGINNING}, **{"fetch.max.bytes": 4194304})
    check(compat.check_kind("large", got, "confluent-kafka"))
    return "1 MiB record intact (sha256 %s...)" % hashlib.sha256(got[0].value).hexdigest()[:12]


def s_record_too_large():
    compat.create_topic(BOOTSTRAP, TOPIC, 1, {"max.message.bytes": "10000"})
    p = producer(**{"linger.ms": 0, "retries": 0})
    errs = []
    p.produce(TOPIC, key=b"big", value=b"x" * 20000, partition=0, on_delivery=lambda e, m: errs.append(e))
    expect(p.flush(30) == 0, "delivery report never came")
    expect(errs and errs[0] is not None, "a 20000-byte record was accepted by a topic with max.message.bytes=10000")
    expect(errs[0].code() == KafkaError.MSG_SIZE_TOO_LARGE, "delivery error %s, expected MSG_SIZE_TOO_LARGE" % errs[0])
    c = consumer()
    try:
        lo, hi = c.get_watermark_offsets(TopicPartition(TOPIC, 0), timeout=10)
    finally:
        c.close()
    expect(hi == 0, "high watermark %d after the rejected record, expected 0" % hi)
    return "delivery error %s (%s); nothing stored" % (errs[0].name(), errs[0].str())


def s_keyless_compacted():
    # Kafka's LogValidator refuses a batch for a compacted topic that holds a record
    # without a key: INVALID_RECORD, and (Produce v8+) record_errors naming those records,
    # which librdkafka uses to fail only them with INVALID_RECORD and the others of the
    # batch with _INVALID_DIFFERENT_RECORD (its test 0011_produce_batch)
    compat.create_topic(BOOTSTRAP, TOPIC, 1, {"cleanup.policy": "compact"})
    p = producer(**{"linger.ms": 200, "retries": 0, "enable.idempotence": False})
    keys = [b"k0", None, b"k2", None]
    errs = {}
    for i, k in enumerate(keys):
        p.produce(TOPIC, key=k, value=b"v%d" % i, partition=0,
                  on_delivery=lambda e, m, i=i: errs.__setitem__(i, e))
    expect(p.flush(30) == 0, "delivery reports never came")
    expect(len(errs) == 4, "%d delivery reports for 4 records" % len(errs))
    for i in (1, 3):
        e = errs[i]
        # (the record error's text is not in the Python delivery error: librdkafka's
        # generic string for the code is)
        expect(e is not None and e.code() == KafkaError.INVALID_RECORD,
               "keyless record %d: delivery error %s, expected INVALID_RECORD" % (i, e))
    for i in (0, 2):
        e = errs[i]
        # what librdkafka gives the records record_errors does not name: without them, every
        # record of the batch would be INVALID_RECORD
        expect(e is not None and e.code() == KafkaError._INVALID_DIFFERENT_RECORD,
               "keyed record %d of the refused batch: delivery error %s, expected _INVALID_DIFFERENT_RECORD" % (i, e))
    c = consumer()
    try:
        lo, hi = c.get_watermark_offsets(TopicPartition(TOPIC, 0), timeout=10)
    finally:
        c.close()
    expect(hi == 0, "high watermark %d after the refused batch, expected 0" % hi)
    ok = []
    p.produce(TOPIC, key=b"k", value=b"v", partition=0, on_delivery=lambda e, m: ok.append((e, m.offset())))
    expect(p.flush(30) == 0 and ok and ok[0][0] is None, "a keyed record afterwards: %s" % ok)
    return "keyless records 1, 3: %s; keyed ones of the batch: %s, %s; a keyed record then stored at offset %d" % (
        errs[1].name(), errs[0].name(), errs[2].name(), ok[0][1])


def s_unknown_topic():
    a = AdminClient({"bootstrap.servers": BOOTSTRAP})
    t = a.list_topics(topic=TOPIC, timeout=10).topics.get(TOPIC)
    expect(t is not None and t.error is not None and t.error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART,
           "metadata for a missing topic: %s, expected UNKNOWN_TOPIC_OR_PART" % (t and t.error))
    p = producer(**{"topic.metadata.propagation.max.ms": 1000, "message.timeout.ms": 10000})
    errs = []
    p.produce(TOPIC, value=b"nobody home", on_delivery=lambda e, m: errs.append(e))
    expect(p.flush(20) == 0, "no delivery report for a missing topic within 20s")
    expect(errs and errs[0] is not None, "producing to a missing topic succeeded")
    expect(errs[0].code() in (KafkaError.UNKNOWN_TOPIC_OR_PART, KafkaError._UNKNOWN_TOPIC),
           "produce error %s, expected (local) unknown topic" % errs[0])
    expect(TOPIC not in a.list_topics(timeout=10).topics, "the missing topic got created")
    return "metadata error %s, produce error %s; topic not created" % (t.error.name(), errs[0].name())


def s_offset_out_of_range():
    seeded(5)
    got = consume_assigned({0: 100}, **{"auto.offset.reset": "earliest"})
    check(compat.check_sequence(got, compat.seeded_records("cf", 5)))
    return "offset 100 reset to earliest, read records 0..4"


def s_group_resume():
    compat.create_topic(BOOTSTRAP, TOPIC, 3)
    recs = compat.seeded_records("grp", 30)
    p = compat.fixture_producer(BOOTSTRAP)
    for i, r in enumerate(recs):
        compat.produce_all(p, TOPIC, [r], partition=i % 3)
    group = TOPIC + "-group"
    conf = {"group.id": group, "auto.offset.reset": "earliest", "enable.partition.eof": False}
    c = consumer(**conf)
    first = []
    try:
        c.subscribe([TOPIC])
        deadline = time.time() + TIMEOUT
        while len(first) < 12 and time.time() < deadline:
            m = c.poll(0.5)
            if m is None:
                continue
            if m.error():
                raise Fail("consumer error: %s" % m.error())
            first.append(to_rec(m))
        expect(len(first) == 12, "first instance got %d of 12 records" % len(first))
        c.commit(asynchronous=False)
    finally:
        c.close()
    c = consumer(**{"group.id": group})
    try:
        committed = c.committed([TopicPartition(TOPIC, i) for i in range(3)], timeout=10)
        expect(sum(max(tp.offset, 0) for tp in committed) == 12, "committed offsets %s do not add up to 12" % [tp.offset for tp in committed])
    finally:
        c.close()
    c = consumer(**dict(conf, **{"enable.partition.eof": True}))
    try:
        c.subscribe([TOPIC])
        second = read_until_eof(c, [0, 1, 2])
    finally:
        c.close()
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


def read_and_commit(c, n, timeout=20):
    """Polls a subscribed consumer for n records, committing each synchronously."""
    got = []
    deadline = time.time() + timeout
    while len(got) < n and time.time() < deadline:
        m = c.poll(0.5)
        if m is None:
            continue
        if m.error():
            raise Fail("consumer error: %s" % m.error())
        got.append(to_rec(m))
        c.commit(message=m, asynchronous=False)
    expect(len(got) == n, "read %d of %d records" % (len(got), n))
    return got


def s_group_restart():
    recs = seed_group_topic()
    group = TOPIC + "-group"
    c = consumer(**{"group.id": group, "auto.offset.reset": "earliest", "enable.partition.eof": False})
    try:
        c.subscribe([TOPIC])
        first = read_and_commit(c, 12)
    finally:
        c.close()
    compat.restart_broker()
    # lost commits would show as duplicates: this instance would start over at offset 0
    c = consumer(**{"group.id": group, "auto.offset.reset": "earliest", "enable.partition.eof": True})
    try:
        c.subscribe([TOPIC])
        second = read_until_eof(c, [0, 1, 2], timeout=60)
    finally:
        c.close()
    check(compat.check_produced_set([(k, v, []) for k, v in recs], first + second, check_headers=False))
    return "12 records before the broker restart, the other 18 after it from the committed offsets"


class Member:
    """A group member that commits every record it reads (synchronously)."""

    def __init__(self, group, name, **extra):
        self.c = consumer(**{"group.id": group, "client.id": name, "auto.offset.reset": "earliest",
                             "enable.partition.eof": False, **extra})
        self.c.subscribe([TOPIC])
        self.got = []

    def step(self):
        m = self.c.poll(0.1)
        if m is None:
            return
        if m.error():
            raise Fail("consumer error: %s" % m.error())
        self.got.append(to_rec(m))
        self.c.commit(message=m, asynchronous=False)

    def owned(self):
        return sorted(tp.partition for tp in self.c.assignment())


def s_group_handover(**extra):
    """Two members split 4 partitions 2+2; A reads all of its share, B 5 records of its
    share and closes (commit, LeaveGroup); A then owns all 4 partitions and reads on from
    B's committed offsets, then 40 more records."""
    compat.create_topic(BOOTSTRAP, TOPIC, 4)
    group = TOPIC + "-group"
    a, b = Member(group, "member-a", **extra), Member(group, "member-b", **extra)
    b_open = True

    def both():
        a.step()
        b.step()

    try:
        compat.wait_for(lambda: len(a.owned()) == 2 and len(b.owned()) == 2, 20,
                        lambda: "no 2+2 split: A owns %s, B owns %s" % (a.owned(), b.owned()), both)
        pa, pb = a.owned(), b.owned()
        expect(sorted(pa + pb) == [0, 1, 2, 3], "A owns %s, B owns %s" % (pa, pb))
        compat.produce_handover(BOOTSTRAP, TOPIC, 1, pa)
        compat.wait_for(lambda: len(a.got) >= 20, TIMEOUT, lambda: "A read %d of 20" % len(a.got), both)
        compat.produce_handover(BOOTSTRAP, TOPIC, 1, pb)
        compat.wait_for(lambda: len(b.got) >= 5, TIMEOUT, lambda: "B read %d of 5" % len(b.got), b.step)
        b.c.close()
        b_open = False
        compat.wait_for(lambda: a.owned() == [0, 1, 2, 3], TIMEOUT,
                        lambda: "after B left, A owns %s" % a.owned(), a.step)
        compat.produce_handover(BOOTSTRAP, TOPIC, 2, [0, 1, 2, 3])
        compat.wait_for(lambda: len(a.got) >= 75, TIMEOUT, lambda: "A read %d of 75" % len(a.got), a.step)
        end = time.time() + 1  # anything more would be a duplicate
        while time.time() < end:
            a.step()
    finally:
        a.c.close()
        if b_open:
            b.c.close()
    expect(len(b.got) == 5 and len(a.got) == 75, "A read %d, B %d records; expected 75 and 5" % (len(a.got), len(b.got)))
    # B first: on each partition, what A read after the handover follows what B read
    check(compat.check_handover(b.got + a.got))
    return "split 2+2 (A %s, B %s); B read 5 and left; A took all 4 and read 75; all 80 exactly once" % (pa, pb)


def s_groups_admin():
    """AdminClient list/describe/offsets/alter/delete of a consumer group, checked
    against what its consumers read."""
    seed_group_topic()
    group = TOPIC + "-group"
    a = AdminClient({"bootstrap.servers": BOOTSTRAP})
    c = consumer(**{"group.id": group, "auto.offset.reset": "earliest", "enable.partition.eof": False})
    try:
        c.subscribe([TOPIC])
        first = read_and_commit(c, 12)
    finally:
        c.close()
    read = {}
    for r in first:
        read[r.partition] = max(read.get(r.partition, -1), r.offset + 1)

    listed = a.list_consumer_groups(request_timeout=10).result(timeout=TIMEOUT)
    states = {g.group_id: g.state for g in listed.valid}
    expect(states.get(group) == ConsumerGroupState.EMPTY, "list_consumer_groups: %s is %s, expected EMPTY"
           % (group, states.get(group, "absent")))
    d = a.describe_consumer_groups([group], request_timeout=10)[group].result(timeout=TIMEOUT)
    expect(d.state == ConsumerGroupState.EMPTY and not d.members, "describe: state %s, %d members" % (d.state, len(d.members)))

    def committed():
        req = [ConsumerGroupTopicPartitions(group)]
        res = a.list_consumer_group_offsets(req, request_timeout=10)[group].result(timeout=TIMEOUT)
        return {tp.partition: tp.offset for tp in res.topic_partitions if tp.topic == TOPIC and tp.offset >= 0}

    got = committed()
    expect(got == read, "committed offsets %s, but the consumer read up to %s" % (got, read))
    res = a.alter_consumer_group_offsets(
        [ConsumerGroupTopicPartitions(group, [TopicPartition(TOPIC, p, 0) for p in range(3)])],
        request_timeout=10)[group].result(timeout=TIMEOUT)
    expect(all(tp.error is None for tp in res.topic_partitions), "alter offsets: %s" % res.topic_partitions)
    got = committed()
    expect(got == {0: 0, 1: 0, 2: 0}, "committed offsets after the reset %s, expected 0 on all 3" % got)

    # auto.offset.reset=latest: only the reset commits can make it read from 0
    c = consumer(**{"group.id": group, "auto.offset.reset": "latest", "enable.partition.eof": True})
    try:
        c.subscribe([TOPIC])
        second = read_until_eof(c, [0, 1, 2])
        check(compat.check_produced_set([(k, v, []) for k, v in compat.seeded_records("grp", 30)], second,
                                        check_headers=False))
        d = a.describe_consumer_groups([group], request_timeout=10)[group].result(timeout=TIMEOUT)
        expect(d.state == ConsumerGroupState.STABLE and len(d.members) == 1,
               "describe an active group: state %s, %d members" % (d.state, len(d.members)))
        owned = sorted(tp.partition for tp in d.members[0].assignment.topic_partitions)
        expect(owned == [0, 1, 2], "describe: the member is assigned %s" % owned)
        try:
            a.delete_consumer_groups([group], request_timeout=10)[group].result(timeout=TIMEOUT)
            raise Fail("deleting a group with an active member succeeded")
        except KafkaException as e:
            expect(e.args[0].code() == KafkaError.NON_EMPTY_GROUP, "delete of an active group: %s" % e)
        c.commit(asynchronous=False)
    finally:
        c.close()
    got = committed()
    expect(got == {0: 10, 1: 10, 2: 10}, "committed offsets after reading all %s, expected 10 on all 3" % got)
    a.delete_consumer_groups([group], request_timeout=10)[group].result(timeout=TIMEOUT)
    listed = a.list_consumer_groups(request_timeout=10).result(timeout=TIMEOUT)
    expect(group not in {g.group_id for g in listed.valid}, "the deleted group is still listed")
    return ("list (EMPTY), describe, committed offsets = what the consumer read %s, alter to 0 (next member "
            "read all 30), delete refused while active (NON_EMPTY_GROUP), accepted after, then not listed" % read)


class Capture(logging.Handler):
    def __init__(self):
        super().__init__()
        self.lines = []

    def emit(self, record):
        self.lines.append(record.getMessage())


def s_idempotent():
    compat.create_topic(BOOTSTRAP, TOPIC, 1)
    cap = Capture()
    log = logging.getLogger("librdkafka-eos")
    log.propagate = False
    log.addHandler(cap)
    log.setLevel(logging.DEBUG)
    # debug=eos makes librdkafka log the ProducerId it acquires
    produce(compat.records_for("idempotent"), **{"enable.idempotence": True, "acks": "all",
                                                  "debug": "eos", "logger": log})
    pid = [m for m in cap.lines if "Acquired PID" in m]
    expect(pid, "the idempotent producer never logged 'Acquired PID'")
    got = consume_assigned({0: OFFSET_BEGINNING})
    check(compat.check_kind("idempotent", got, "confluent-kafka"))
    return "100 records from an idempotent producer (acks=all, %s) read back" % re.search(r"PID\{[^}]*\}", pid[0]).group(0)


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
    "keyless-compacted": s_keyless_compacted,
    "unknown-topic": s_unknown_topic,
    "offset-out-of-range": s_offset_out_of_range,
    "consumer-group-resume": s_group_resume,
    "consumer-group-restart": s_group_restart,
    "consumer-group-handover": s_group_handover,
    # the same with KIP-848's protocol: the broker assigns, the members reconcile
    "consumer-group-handover-kip848": lambda: s_group_handover(**{"group.protocol": "consumer"}),
    "consumer-groups-admin": s_groups_admin,
    "idempotent-default-producer": s_idempotent,
}


def main():
    return compat.run_scenarios(SCENARIOS, sys.argv)


if __name__ == "__main__":
    sys.exit(main())
