#!/usr/bin/env python3
"""Input, model and checks of compat-tests/compaction.sh (plain python3, no packages).

  oracle.py gen SEED N KEYS TOMBSTONE_PERCENT TRAILER PREFIX OUT
      N records over KEYS keys (k000..), TOMBSTONE_PERCENT of them tombstones (a null
      value), then TRAILER more records with values (never tombstones) over the same
      keys: lines "key<TAB>value" for kcat -P -K'\\t' -Z (an empty value is sent as
      null). Values vary in length (so that segments roll at data-dependent offsets),
      start with PREFIX and the record's index, and never are "NULL" nor empty.
  oracle.py gen-cycle N KEYS PREFIX OUT
      N records with the keys k000 .. k(KEYS-1) in turn, values PREFIX, index, "-cycle".
  oracle.py stable CONSUMED BASE [--no-tombstones]
      exit 0 iff no key appears twice below offset BASE in CONSUMED (kcat -Z lines
      "offset<TAB>key<TAB>value"); with --no-tombstones also no null value below BASE.
      Prints what is left to clean.
  oracle.py model INPUT... --base BASE --consumed CONSUMED [--no-tombstones]
      the model: the INPUT files, in order, were produced at offsets 0, 1, 2, ...;
      below BASE exactly the last record of each key survives (with --no-tombstones,
      none whose last record is a tombstone), at its offset; at and above BASE every
      record is untouched. Exit 0 iff CONSUMED is exactly that; else print the first
      differences.
  oracle.py diff KAFKA_READ RAFKA_READ
      the two reads (or dump-records outputs) side by side, by offset: how many records only one has, how many
      differ, and the first 20 differing offsets.
  oracle.py dump-records DUMP_OUTPUT BATCHES_OUT
      DumpLogSegments --deep-iteration --print-data-log output -> one line per record,
      "offset<TAB>key<TAB>payload<TAB>horizon" (horizon: whether its batch has a
      deleteHorizonMs, KIP-534), sorted by offset; and in BATCHES_OUT one line per batch,
      "baseOffset<TAB>header fields<TAB>horizon value", its header without what differs
      from one broker to another by nature (position, CreateTime, crc, the producer id's
      value: "pid" or -1, the horizon's value: SET or -); exit 1 if a batch is invalid or
      a line is not understood.
"""
import random
import re
import sys

NULL = "NULL"  # how kcat -Z prints a null value


def gen(seed, n, keys, tomb_pct, trailer, prefix, out):
    rnd = random.Random(int(seed))
    n, keys, tomb_pct, trailer = int(n), int(keys), float(tomb_pct), int(trailer)
    with open(out, "w") as f:
        for i in range(n + trailer):
            key = "k%03d" % rnd.randrange(keys)
            if i < n and rnd.random() * 100 < tomb_pct:
                f.write("%s\t\n" % key)
                continue
            pad = "".join(rnd.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(rnd.randrange(4, 60)))
            f.write("%s\t%s%05d-%s\n" % (key, prefix, i, pad))


def gen_cycle(n, keys, prefix, out):
    """n records with keys k000, k001, ... k(keys-1), k000, ... in turn."""
    with open(out, "w") as f:
        for i in range(int(n)):
            f.write("k%03d\t%s%05d-cycle\n" % (i % int(keys), prefix, i))


def read_consumed(path):
    recs = []
    with open(path) as f:
        for line in f:
            line = line.rstrip("\n")
            if not line:
                continue
            parts = line.split("\t")
            if len(parts) != 3:
                sys.exit("cannot read consumed line %r" % line)
            recs.append((int(parts[0]), parts[1], parts[2]))
    return recs


def stable(consumed, base, no_tombstones=False):
    base = int(base)
    seen, dups, tombs = set(), set(), 0
    for off, key, val in read_consumed(consumed):
        if off >= base:
            break
        if key in seen:
            dups.add(key)
        seen.add(key)
        if val == NULL:
            tombs += 1
    left = []
    if dups:
        left.append("%d keys twice below %d" % (len(dups), base))
    if no_tombstones and tombs:
        left.append("%d tombstones below %d" % (tombs, base))
    if left:
        print(", ".join(left))
        return 1
    return 0


def read_input(paths):
    recs = []
    for p in paths:
        with open(p) as f:
            for line in f:
                key, _, val = line.rstrip("\n").partition("\t")
                recs.append((len(recs), key, val if val else NULL))
    return recs


def expected(inputs, base, no_tombstones):
    recs = read_input(inputs)
    last = {}
    for off, key, val in recs:
        if off < base:
            last[key] = off
    keep = []
    for off, key, val in recs:
        if off >= base:
            keep.append((off, key, val))
        elif last[key] == off and not (no_tombstones and val == NULL):
            keep.append((off, key, val))
    return keep


def model(args):
    no_t = "--no-tombstones" in args
    args = [a for a in args if a != "--no-tombstones"]
    base = int(args[args.index("--base") + 1])
    consumed = args[args.index("--consumed") + 1]
    inputs = args[: min(args.index("--base"), args.index("--consumed"))]
    want = expected(inputs, base, no_t)
    got = read_consumed(consumed)
    if want == got:
        below = sum(1 for r in want if r[0] < base)
        tombs = sum(1 for r in want if r[0] < base and r[2] == NULL)
        print("%d records as the model says: %d below %d (%d of them tombstones), %d at or above"
              % (len(got), below, base, tombs, len(got) - below))
        return 0
    w, g = {r[0]: r for r in want}, {r[0]: r for r in got}
    diffs = []
    for off in sorted(set(w) | set(g)):
        if w.get(off) != g.get(off):
            diffs.append("offset %d: model %s, read %s" % (off, w.get(off, "(none)"), g.get(off, "(none)")))
    print("%d records read, the model has %d; %d offsets differ, the first ones:" % (len(got), len(want), len(diffs)))
    print("\n".join(diffs[:15]))
    return 1


BATCH = re.compile(r"^baseOffset: (\d+) lastOffset: (\d+) count: (\d+) .*")
RECORD = re.compile(r"^\| offset: (\d+) .*?valueSize: (-?\d+) .*? key: (.*?)(?: payload: (.*))?$")
# what else DumpLogSegments prints for .log, .index and .timeindex files, none of it an error
OTHER = re.compile(r"^(Dumping .*|Log starting offset: -?\d+|Starting offset: -?\d+|offset: \d+ position: \d+"
                   r"|timestamp: -?\d+ offset: \d+|\S+ is empty\.|Non-consecutive offsets in .*|\s+-?\d+ is followed by \d+"
                   # an empty batch's time index entry (compaction.sh lets only this one by)
                   r"|Found timestamp mismatch in :.*|  Index timestamp: \d+, log timestamp: -1|)$")


def dump_records(path, batches_out):
    out, batches, horizon, bad = [], [], False, 0
    with open(path, errors="replace") as f:
        for line in f:
            line = line.rstrip("\n")
            m = BATCH.match(line)
            if m:
                if "isvalid: false" in line:
                    print("invalid batch: " + line, file=sys.stderr)
                    bad += 1
                fields = re.findall(r"(\w+): (\S+)", line)
                hv = dict(fields).get("deleteHorizonMs", "OptionalLong.empty")
                horizon = hv not in ("OptionalLong.empty", "-1")
                hval = re.sub(r"\D", "", hv) if horizon else "-"
                shown = []
                for k, v in fields:
                    if k in ("position", "CreateTime", "LogAppendTime", "crc"):
                        continue
                    if k == "producerId":
                        v = "pid" if int(v) >= 0 else v
                    if k == "deleteHorizonMs":
                        v = "SET" if horizon else "-"
                    shown.append("%s: %s" % (k, v))
                batches.append((int(m.group(1)), " ".join(shown), hval))
                continue
            m = RECORD.match(line)
            if m:
                payload = NULL if m.group(2) == "-1" else (m.group(4) or "")
                out.append((int(m.group(1)), m.group(3), payload, "horizon" if horizon else "-"))
                continue
            if OTHER.match(line):
                continue
            print("not understood: " + line, file=sys.stderr)
            bad += 1
    for r in sorted(out):
        print("%d\t%s\t%s\t%s" % r)
    with open(batches_out, "w") as f:
        for b in sorted(batches):
            f.write("%d\t%s\t%s\n" % b)
    return 1 if bad else 0


def read_rows(path):
    rows = {}
    with open(path) as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if len(parts) >= 2:
                rows[int(parts[0])] = tuple(parts[1:])
    return rows


def diff(kafka, rafka):
    k, r = read_rows(kafka), read_rows(rafka)
    offs = [o for o in sorted(set(k) | set(r)) if k.get(o) != r.get(o)]
    only_k = sum(1 for o in offs if o not in r)
    only_r = sum(1 for o in offs if o not in k)
    print("kafka %d records, rafka %d: %d offsets only in Kafka's read, %d only in Rafka's, %d with other contents"
          % (len(k), len(r), only_k, only_r, len(offs) - only_k - only_r))
    show = lambda x: "(none)" if x is None else "=".join(x[:2]) + "".join(" " + y for y in x[2:])
    for o in offs[:20]:
        print("  offset %d: kafka %s | rafka %s" % (o, show(k.get(o)), show(r.get(o))))
    return 1 if offs else 0


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "gen":
        gen(*args)
        return 0
    if cmd == "gen-cycle":
        gen_cycle(*args)
        return 0
    if cmd == "stable":
        return stable(args[0], args[1], "--no-tombstones" in args)
    if cmd == "model":
        return model(args)
    if cmd == "diff":
        return diff(args[0], args[1])
    if cmd == "dump-records":
        return dump_records(args[0], args[1])
    sys.exit(__doc__)


if __name__ == "__main__":
    sys.exit(main())
