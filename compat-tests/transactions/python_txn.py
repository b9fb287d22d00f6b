"""Transactions with the Python clients, against one broker (its bootstrap as argv[1]):
confluent-kafka (librdkafka) and kafka-python each commit 3 transactions and abort 2 on a
fresh topic, then a read_committed consumer of the same library must read exactly the
committed records in order, and a second producer with the same transactional id must
fence the first. Prints one PASS/FAIL line per client; exit status 0 iff both pass.
Run by compat-tests/transactions-python.sh."""
import sys
import time
import uuid

BOOT = sys.argv[1]


def expected(tag):
    return [f"{tag}-{t}-{i}" for t in range(5) if t % 5 not in (1, 3) for i in range(3)]


def confluent(topic, tid):
    from confluent_kafka import Consumer, KafkaException, Producer
    from confluent_kafka.admin import AdminClient, NewTopic
    admin = AdminClient({"bootstrap.servers": BOOT})  # kept: its futures need it alive
    for f in admin.create_topics([NewTopic(topic, 1, 1)]).values():
        f.result()
    p = Producer({"bootstrap.servers": BOOT, "transactional.id": tid})
    p.init_transactions(30)
    for t in range(5):
        p.begin_transaction()
        for i in range(3):
            p.produce(topic, value=f"ck-{t}-{i}".encode(), partition=0)
        p.flush(30)
        if t in (1, 3):
            p.abort_transaction(30)
        else:
            p.commit_transaction(30)
    # fencing: a second instance takes over, the first can no longer commit
    p.begin_transaction()
    p.produce(topic, value=b"zombie", partition=0)
    p.flush(30)
    p2 = Producer({"bootstrap.servers": BOOT, "transactional.id": tid})
    p2.init_transactions(30)
    fenced = False
    try:
        p.commit_transaction(30)
    except KafkaException as e:
        fenced = e.args[0].fatal() or "fenced" in str(e).lower() or "epoch" in str(e).lower()
    c = Consumer({"bootstrap.servers": BOOT, "group.id": "py-" + tid, "isolation.level": "read_committed",
                  "auto.offset.reset": "earliest", "enable.partition.eof": True})
    c.subscribe([topic])
    got, deadline = [], time.time() + 30
    while time.time() < deadline:
        m = c.poll(0.5)
        if m is None:
            continue
        if m.error():
            if m.error().code() == -191:  # _PARTITION_EOF
                break
            raise RuntimeError(m.error())
        got.append(m.value().decode())
    c.close()
    return got, expected("ck"), fenced


def kafka_python(topic, tid):
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition
    from kafka.admin import KafkaAdminClient, NewTopic
    from kafka.errors import KafkaError
    KafkaAdminClient(bootstrap_servers=BOOT).create_topics([NewTopic(topic, 1, 1)])
    p = KafkaProducer(bootstrap_servers=BOOT, transactional_id=tid)
    p.init_transactions()
    for t in range(5):
        p.begin_transaction()
        for i in range(3):
            p.send(topic, value=f"kp-{t}-{i}".encode(), partition=0)
        p.flush()
        if t in (1, 3):
            p.abort_transaction()
        else:
            p.commit_transaction()
    p.begin_transaction()
    p.send(topic, value=b"zombie", partition=0)
    p.flush()
    p2 = KafkaProducer(bootstrap_servers=BOOT, transactional_id=tid)
    p2.init_transactions()
    fenced = False
    try:
        p.commit_transaction()
    except KafkaError as e:
        fenced = True
        print(f"   kafka-python: first producer fenced: {type(e).__name__}", flush=True)
    c = KafkaConsumer(bootstrap_servers=BOOT, isolation_level="read_committed",
                      auto_offset_reset="earliest", consumer_timeout_ms=5000, enable_auto_commit=False)
    tp = TopicPartition(topic, 0)
    c.assign([tp])
    c.seek_to_beginning(tp)
    got = [m.value.decode() for m in c]
    c.close()
    return got, expected("kp"), fenced


ok = True
for name, fn in (("confluent-kafka", confluent), ("kafka-python", kafka_python)):
    run = uuid.uuid4().hex[:8]
    try:
        got, want, fenced = fn(f"pytxn-{name}-{run}", f"pytxn-{name}-{run}")
        good = got == want and fenced
        detail = f"read_committed read {len(got)} of {len(want)} committed records" + (
            "" if got == want else f" (got {got[:6]}...)") + ("; the first producer was fenced" if fenced else "; NOT fenced")
    except Exception as e:  # noqa: BLE001 - a failure of any kind is this client's FAIL
        good, detail = False, f"{type(e).__name__}: {e}"
    ok &= good
    print(f"{'PASS' if good else 'FAIL'} {name}: {detail}", flush=True)
sys.exit(0 if ok else 1)
