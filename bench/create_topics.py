#!/usr/bin/env python3
"""Times CreateTopics of one wide topic against a Kafka-protocol broker (stdlib only).

    create_topics.py wait BOOTSTRAP [TIMEOUT_S]
        polls Metadata v4 until the broker lists itself; exit 1 on timeout
    create_topics.py create BOOTSTRAP TOPIC PARTITIONS
        prints `rtt_ms=<CreateTopics round trip> ready_ms=<until Metadata lists every
        partition with a leader>`; exit 1 if the topic was not created

The request bytes are built here (CreateTopics v4, Metadata v4: both non-flexible, both
served by Kafka 4.x and Rafka), so the figure is one round trip on an already open
connection: no client start-up, no JVM, no librdkafka in it.

`rtt_ms` is what the broker takes to answer CreateTopics. On Kafka (KRaft) that answer
comes once the controller has committed the topic's records; the broker creates the
partition directories when it applies them, so `ready_ms` (the first Metadata answer
that lists every partition with a leader, polled every 2 ms on the same connection) is
printed too. Rafka creates every partition dir before it answers.
"""
import socket
import struct
import sys
import time

CLIENT_ID = b"create-topics-bench"


class Conn:
    def __init__(self, bootstrap, timeout=120.0):
        host, port = bootstrap.rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.correlation = 0

    def call(self, api_key, version, body):
        self.correlation += 1
        header = struct.pack(">hhih", api_key, version, self.correlation, len(CLIENT_ID)) + CLIENT_ID
        frame = header + body
        self.sock.sendall(struct.pack(">i", len(frame)) + frame)
        size = struct.unpack(">i", self.recv(4))[0]
        data = self.recv(size)
        (correlation,) = struct.unpack_from(">i", data, 0)
        if correlation != self.correlation:
            raise RuntimeError(f"correlation id {correlation}, expected {self.correlation}")
        return Reader(data, 4)

    def recv(self, n):
        out = bytearray()
        while len(out) < n:
            chunk = self.sock.recv(n - len(out))
            if not chunk:
                raise RuntimeError("connection closed by the broker")
            out += chunk
        return bytes(out)


class Reader:
    def __init__(self, data, pos):
        self.data, self.pos = data, pos

    def take(self, fmt):
        v = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += struct.calcsize(fmt)
        return v[0] if len(v) == 1 else v

    def string(self):
        n = self.take(">h")
        if n < 0:
            return None
        s = self.data[self.pos:self.pos + n].decode()
        self.pos += n
        return s


def string(s):
    b = s.encode()
    return struct.pack(">h", len(b)) + b


def metadata_v4(conn, topic=None):
    """(broker count, {partition: leader}) of TOPIC (None: no topics asked)."""
    body = struct.pack(">i", -1 if topic is None else 1)
    if topic is not None:
        body += string(topic)
    body += b"\x00"  # allow_auto_topic_creation = false
    r = conn.call(3, 4, body)
    r.take(">i")  # throttle
    brokers = r.take(">i")
    for _ in range(brokers):
        r.take(">i"); r.string(); r.take(">i"); r.string()
    r.string()  # cluster id
    r.take(">i")  # controller
    leaders = {}
    for _ in range(r.take(">i")):
        err = r.take(">h"); name = r.string(); r.take(">b")
        for _ in range(r.take(">i")):
            perr, index, leader = r.take(">hii")
            for _ in range(r.take(">i")):
                r.take(">i")
            for _ in range(r.take(">i")):
                r.take(">i")
            if name == topic and err == 0 and perr == 0:
                leaders[index] = leader
    return brokers, leaders


def create_v4(conn, topic, partitions):
    body = struct.pack(">i", 1) + string(topic) + struct.pack(">ihii", partitions, 1, 0, 0)
    body += struct.pack(">i", 120000) + b"\x00"  # timeout_ms, validate_only = false
    r = conn.call(19, 4, body)
    r.take(">i")  # throttle
    for _ in range(r.take(">i")):
        name = r.string(); err = r.take(">h"); msg = r.string()
        if name == topic:
            return err, msg
    return -1, "topic missing from the answer"


def main():
    mode = sys.argv[1]
    if mode == "wait":
        deadline = time.monotonic() + float(sys.argv[3] if len(sys.argv) > 3 else 120)
        while time.monotonic() < deadline:
            try:
                if metadata_v4(Conn(sys.argv[2], timeout=5))[0] > 0:
                    return 0
            except OSError:
                pass
            except RuntimeError:
                pass
            time.sleep(0.05)
        print("broker not ready", file=sys.stderr)
        return 1
    if mode == "create":
        bootstrap, topic, partitions = sys.argv[2], sys.argv[3], int(sys.argv[4])
        conn = Conn(bootstrap)
        metadata_v4(conn)  # connection warm, ApiVersions-free
        t0 = time.perf_counter_ns()
        err, msg = create_v4(conn, topic, partitions)
        t1 = time.perf_counter_ns()
        if err != 0:
            print(f"CreateTopics {topic}: error {err} {msg}", file=sys.stderr)
            return 1
        deadline = time.monotonic() + 120
        while True:
            _, leaders = metadata_v4(conn, topic)
            if len(leaders) == partitions and all(l >= 0 for l in leaders.values()):
                break
            if time.monotonic() > deadline:
                print(f"{topic}: {len(leaders)} of {partitions} partitions led after 120 s", file=sys.stderr)
                return 1
            time.sleep(0.002)
        t2 = time.perf_counter_ns()
        print(f"rtt_ms={(t1 - t0) / 1e6:.1f} ready_ms={(t2 - t0) / 1e6:.1f}")
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
