"""confluent-kafka for compat-tests/tls.sh: writes N records or reads N back, over whatever
security the client properties (a JSON object: security.protocol, ssl.*, sasl.*) say.

    ck_records.py produce BOOTSTRAP TOPIC PREFIX N PROPS   -> PREFIX-1 .. PREFIX-N, acks=all,
                                                              idempotent; exit 1 on any error
    ck_records.py consume BOOTSTRAP TOPIC N PROPS           -> partition 0 from offset 0, one
                                                              value per line (at most 40 s)
    ck_records.py login BOOTSTRAP PROPS                     -> the first broker's host:port in
                                                              the metadata, or "refused"
"""
import json
import sys
import time

from confluent_kafka import Consumer, Producer, TopicPartition

mode, bootstrap, topic = sys.argv[1], sys.argv[2], sys.argv[3]
if mode == "login":
    p = Producer({"bootstrap.servers": bootstrap, **json.loads(sys.argv[3])})
    try:
        brokers = p.list_topics(timeout=8).brokers
        print(min(f"{b.host}:{b.port}" for b in brokers.values()) if brokers else "refused")
    except Exception:  # an authentication failure ends the metadata request
        print("refused")
elif mode == "produce":
    prefix, n, props = sys.argv[4], int(sys.argv[5]), json.loads(sys.argv[6])
    p = Producer({"bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": True, **props})
    errors = []
    for i in range(1, n + 1):
        p.produce(topic, f"{prefix}-{i}".encode(), on_delivery=lambda e, m: e and errors.append(e))
    left = p.flush(30)
    sys.exit(1 if errors or left else 0)
elif mode == "consume":
    n, props = int(sys.argv[4]), json.loads(sys.argv[5])
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "compat-ck",
                  "enable.auto.commit": False, **props})
    c.assign([TopicPartition(topic, 0, 0)])
    got = []
    deadline = time.monotonic() + 40
    while len(got) < n and time.monotonic() < deadline:
        m = c.poll(0.5)
        if m is not None and not m.error():
            got.append(m.value().decode())
    c.close()
    print("\n".join(got))
else:
    sys.exit(f"ck_records.py: produce or consume, not {mode}")
