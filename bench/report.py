#!/usr/bin/env python3
"""Helpers for bench/compare.sh (standard library only).

  report.py parse-pp FILE RECORD_SIZE   ProducerPerformance output -> key=value line
  report.py parse-cp FILE RECORD_SIZE   ConsumerPerformance output -> key=value line
  report.py head-commit REPO            the checked-out commit, read from .git (no git call)
  report.py report --results TSV --machine ENV --curves DIR --out DIR [--splice PERF_MD]
      medians over rounds, Rafka/Kafka ratios, goals -> OUT/compare.md, OUT/results.tsv,
      OUT/*.svg (gnuplot, if installed); --splice replaces the generated block of
      docs/perf.md with the same fragment.
"""
import argparse
import math
import os
import re
import shutil
import statistics
import subprocess
import sys
from collections import defaultdict

BEGIN = "<!-- bench/compare.sh: generated block, do not edit by hand -->"
END = "<!-- end of bench/compare.sh block -->"


# ------------------------------------------------------------------ parsers
def parse_pp(path, size):
    """Last summary line of ProducerPerformance:
    N records sent, X records/sec (Y MB/sec), A ms avg latency, M ms max latency,
    P50 ms 50th, P95 ms 95th, P99 ms 99th, P999 ms 99.9th."""
    line = None
    with open(path) as f:
        for raw in f:
            if "records sent" in raw and "50th" in raw:
                line = raw.strip()
    if line is None:
        sys.exit("no ProducerPerformance summary in %s" % path)
    num = r"([0-9.]+)"
    m = re.search(num + r" records sent, " + num + r" records/sec", line)
    lat = {k: re.search(num + r" ms " + re.escape(k), line) for k in ("avg latency", "max latency", "50th", "99th", "99.9th")}
    if not m or not all(lat.values()):
        sys.exit("unexpected ProducerPerformance summary: %s" % line)
    rec_s = float(m.group(2))
    print("RESULT records=%s rec_s=%.0f mb_s=%.2f p50_ms=%s p99_ms=%s p999_ms=%s max_ms=%s avg_ms=%s" % (
        m.group(1), rec_s, rec_s * size / 1e6, lat["50th"].group(1), lat["99th"].group(1),
        lat["99.9th"].group(1), lat["max latency"].group(1), lat["avg latency"].group(1)))


def parse_cp(path, size):
    """ConsumerPerformance prints a CSV header (start.time, ..., fetch.nMsg.sec) and one row.
    fetch.* excludes the group join (rebalance) time."""
    header = row = None
    with open(path) as f:
        for raw in f:
            cells = [c.strip() for c in raw.split(",")]
            if cells and cells[0] == "start.time":
                header = cells
            elif header and len(cells) == len(header):
                row = cells
    if not header or not row:
        sys.exit("no ConsumerPerformance result in %s" % path)
    d = dict(zip(header, row))
    rec_s = float(d["fetch.nMsg.sec"])
    print("RESULT records=%s rec_s=%.0f mb_s=%.2f rebalance_ms=%s" % (
        d["data.consumed.in.nMsg"], rec_s, rec_s * size / 1e6, d["rebalance.time.ms"]))


def head_commit(repo):
    try:
        git = os.path.join(repo, ".git")
        if os.path.isfile(git):
            with open(git) as f:
                git = f.read().split("gitdir:", 1)[1].strip()
        common = git
        if os.path.isfile(os.path.join(git, "commondir")):
            with open(os.path.join(git, "commondir")) as f:
                common = os.path.normpath(os.path.join(git, f.read().strip()))
        with open(os.path.join(git, "HEAD")) as f:
            head = f.read().strip()
        if not head.startswith("ref: "):
            return head[:12]
        ref = head[5:]
        for d in (git, common):
            p = os.path.join(d, ref)
            if os.path.isfile(p):
                with open(p) as f:
                    return f.read().strip()[:12] + " (" + ref.rsplit("/", 1)[-1] + ")"
        with open(os.path.join(common, "packed-refs")) as f:
            for line in f:
                if line.strip().endswith(" " + ref):
                    return line.split()[0][:12] + " (" + ref.rsplit("/", 1)[-1] + ")"
    except (OSError, IndexError):
        pass
    return "unknown"


# ------------------------------------------------------------------ report
TARGETS = ("kafka", "kafka-fsync", "rafka")

# (metric, label, client, unit, better) ; better: "high" | "low"
SECTIONS = [
    ("1. Produce, acks=1, as fast as possible", [
        ("w1_pp_rec_s", "throughput", "ProducerPerformance", "records/s", "high"),
        ("w1_lg_rec_s", "throughput", "loadgen", "records/s", "high"),
        ("w1_pp_mb_s", "throughput", "ProducerPerformance", "MB/s", "high"),
        ("w1_lg_mb_s", "throughput", "loadgen", "MB/s", "high"),
        ("w1_pp_p50_ms", "produce latency p50", "ProducerPerformance", "ms", "low"),
        ("w1_pp_p99_ms", "produce latency p99", "ProducerPerformance", "ms", "low"),
        ("w1_pp_p999_ms", "produce latency p99.9", "ProducerPerformance", "ms", "low"),
        ("w1_lg_p50_ms", "produce latency p50", "loadgen", "ms", "low"),
        ("w1_lg_p99_ms", "produce latency p99", "loadgen", "ms", "low"),
        ("w1_lg_p999_ms", "produce latency p99.9", "loadgen", "ms", "low"),
    ]),
    ("2. Produce, acks=all (Rafka: fsync, group commit; Kafka: no fsync; Kafka fsync: log.flush.interval.messages=1)", [
        ("w2_pp_rec_s", "throughput", "ProducerPerformance", "records/s", "high"),
        ("w2_lg_rec_s", "throughput", "loadgen", "records/s", "high"),
        ("w2_pp_p99_ms", "produce latency p99", "ProducerPerformance", "ms", "low"),
        ("w2_lg_p99_ms", "produce latency p99", "loadgen", "ms", "low"),
    ]),
    ("3. Produce at a fixed rate (50% of Kafka's acks=1 maximum), acks=1", [
        ("w3_pp_p50_ms", "produce latency p50", "ProducerPerformance", "ms", "low"),
        ("w3_pp_p99_ms", "produce latency p99", "ProducerPerformance", "ms", "low"),
        ("w3_pp_p999_ms", "produce latency p99.9", "ProducerPerformance", "ms", "low"),
        ("w3_lg_p50_ms", "produce latency p50", "loadgen", "ms", "low"),
        ("w3_lg_p99_ms", "produce latency p99", "loadgen", "ms", "low"),
        ("w3_lg_p999_ms", "produce latency p99.9", "loadgen", "ms", "low"),
        ("w3_lg_e2e_p50_ms", "end-to-end latency p50", "loadgen", "ms", "low"),
        ("w3_lg_e2e_p99_ms", "end-to-end latency p99", "loadgen", "ms", "low"),
        ("w3_lg_e2e_p999_ms", "end-to-end latency p99.9", "loadgen", "ms", "low"),
    ]),
    ("4. Consume from page cache (assign(), the records of workload 1)", [
        ("w4_lg_mb_s", "throughput", "loadgen", "MB/s", "high"),
        ("w4_lg_rec_s", "throughput", "loadgen", "records/s", "high"),
        ("w4_cp_mb_s", "throughput (fetch time, group)", "ConsumerPerformance", "MB/s", "high"),
    ]),
    ("5. Footprint", [
        ("rss_idle_mb", "RSS idle (2 s after start)", "-", "MB", "low"),
        ("w1_lg_rss_mb", "RSS peak under workload 1", "loadgen", "MB", "low"),
        ("w1_pp_rss_mb", "RSS peak under workload 1", "ProducerPerformance", "MB", "low"),
        ("w1_lg_cpu_s_per_gb", "broker CPU per GB produced", "loadgen", "s/GB", "low"),
        ("w1_pp_cpu_s_per_gb", "broker CPU per GB produced", "ProducerPerformance", "s/GB", "low"),
        ("startup_ms", "start-up to first Metadata answer", "loadgen ready", "ms", "low"),
        ("recovery_metadata_ms", "kill -9 recovery: to first Metadata", "loadgen ready", "ms", "low"),
        ("recovery_last_record_ms", "kill -9 recovery: to last record fetched", "loadgen ready", "ms", "low"),
    ]),
    ("6. Scale", [
        ("w6_create_ms", "create a 1000-partition topic", "loadgen", "ms", "low"),
        ("w6_wide_rec_s", "produce over 1000 partitions", "loadgen", "records/s", "high"),
        ("w6_wide_p99_ms", "produce over 1000 partitions, latency p99", "loadgen", "ms", "low"),
        ("w6_idle_rec_s", "produce with 500 idle connections open", "loadgen", "records/s", "high"),
        ("w6_idle_rss_mb", "RSS peak with 500 idle connections + producer", "loadgen", "MB", "low"),
    ]),
]


def load(path):
    data = defaultdict(dict)  # (target, metric) -> {round: value}
    with open(path) as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if len(parts) != 4:
                continue
            rnd, target, metric, value = parts
            try:
                data[(target, metric)][int(rnd)] = float(value)
            except ValueError:
                pass
    return data


def med(data, target, metric):
    vals = list(data.get((target, metric), {}).values())
    vals = [v for v in vals if not math.isnan(v)]
    return statistics.median(vals) if vals else None


def fmt(v, unit=""):
    if v is None:
        return "—"
    if unit in ("records/s",) or abs(v) >= 10000:
        return "{:,.0f}".format(v)
    if abs(v) >= 100:
        return "%.0f" % v
    if abs(v) >= 10:
        return "%.1f" % v
    return "%.2f" % v


def short(v):
    """Compact number for the every-round column: 1.2M, 451k, 130, 9.3, 0.77."""
    a = abs(v)
    if a >= 1e6:
        return "%.1fM" % (v / 1e6)
    if a >= 1e4:
        return "%.0fk" % (v / 1e3)
    if a >= 100:
        return "%.0f" % v
    if a >= 10:
        return "%.1f" % v
    return "%.2f" % v


def ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


def read_env(path):
    env = {}
    with open(path) as f:
        for line in f:
            for m in re.finditer(r"(\w+)=(.*?)(?= \w+=|$)", line.rstrip("\n")):
                env[m.group(1)] = m.group(2)
    return env


def goals(data):
    """(goal text, measured text, met?) for the issue's goals."""
    out = []

    def r(metric, t="kafka"):
        return ratio(med(data, "rafka", metric), med(data, t, metric))

    for client, m in (("ProducerPerformance", "w1_pp_rec_s"), ("loadgen", "w1_lg_rec_s")):
        x = r(m)
        out.append(("produce throughput ≥ 1.5x Kafka (%s)" % client, x, x is not None and x >= 1.5))
    for client, m in (("ProducerPerformance", "w3_pp_p99_ms"), ("loadgen", "w3_lg_p99_ms"),
                      ("loadgen end-to-end", "w3_lg_e2e_p99_ms")):
        x = r(m)
        out.append(("p99 latency at fixed rate ≤ 0.3x Kafka (%s)" % client, x, x is not None and x <= 0.3))
    x = r("w4_lg_mb_s")
    out.append(("consume throughput ≥ 1.5x Kafka (loadgen)", x, x is not None and x >= 1.5))
    for client, a, b in (("loadgen", "w2_lg_rec_s", "w1_lg_rec_s"), ("ProducerPerformance", "w2_pp_rec_s", "w1_pp_rec_s")):
        x = ratio(med(data, "rafka", a), med(data, "rafka", b))
        out.append(("Rafka acks=all ≥ 0.7x its own acks=1 (%s)" % client, x, x is not None and x >= 0.7))
    for client, m in (("loadgen", "w1_lg_rss_mb"), ("ProducerPerformance", "w1_pp_rss_mb")):
        x = r(m)
        out.append(("RSS ≤ 0.1x Kafka under load 1 (%s)" % client, x, x is not None and x <= 0.1))
    x = med(data, "rafka", "startup_ms")
    out.append(("start-up ≤ 20 ms", x, x is not None and x <= 20))
    return out


def fragment(data, env, img_prefix, have_plots, commands=()):
    L = []
    mode = env.get("MODE", "?")
    L.append("Generated by `bench/compare.sh%s` on %s; %s round(s), medians over rounds. "
             "Ratio = Rafka / Kafka (default settings); for lower-is-better metrics a ratio "
             "below 1 favours Rafka." % ("" if mode == "full" else " --" + mode, env.get("DATE", "?"), env.get("ROUNDS", "?")))
    if mode != "full":
        L.append("")
        L.append("**Smoke run: tiny record counts, the numbers mean nothing.**")
    L.append("")
    L.append("| machine | |")
    L.append("|---|---|")
    for k, label in (("CPU", "CPU"), ("MEMORY", "memory"), ("DISK", "disk (lsblk)"), ("FS", "filesystem of both data dirs (df)"),
                     ("KERNEL", "kernel"), ("LOAD_START", "load average at start"), ("LOAD_END", "load average at end"),
                     ("KAFKA_VERSION", "Apache Kafka"), ("JAVA_VERSION", "Java"), ("KAFKA_JVM", "Kafka broker JVM flags"),
                     ("RAFKA_COMMIT", "Rafka commit"), ("RUSTC", "rustc"), ("LIBRDKAFKA", "librdkafka (loadgen)"),
                     ("TOTAL_S", "harness wall time (s)")):
        L.append("| %s | %s |" % (label, env.get(k, "?").replace("|", "/")))
    L.append("")
    L.append("Sizes: %s × %s B records per throughput run (workloads 1, 4 and the kill -9 data), %s for "
             "acks=all, fixed rate %s records/s (ProducerPerformance) and %s records/s (loadgen), each half of Kafka's "
             "acks=1 maximum with that client in round 1, for about %s s (at most %s records), %s records over %s partitions, "
             "%s records beside %s idle connections; %s partitions otherwise." % (
                 env.get("THR_RECORDS"), env.get("RECORD_SIZE"), env.get("ALL_RECORDS"),
                 env.get("RATE_PP", env.get("RATE")), env.get("RATE_LG", env.get("RATE")),
                 env.get("RATE_SECS"), env.get("RATE_MAX_RECORDS"), env.get("P1000_RECORDS"), "1000",
                 env.get("IDLE_RECORDS"), env.get("IDLE_CONNS"), env.get("PARTITIONS")))
    L.append("")
    L.append("| workload / metric | client | unit | Kafka | Kafka fsync | Rafka | Rafka/Kafka | Rafka/Kafka fsync | every round: Kafka; Kafka fsync; Rafka |")
    L.append("|---|---|---|---:|---:|---:|---:|---:|---|")
    for title, rows in SECTIONS:
        L.append("| **%s** | | | | | | | | |" % title)
        for metric, label, client, unit, better in rows:
            k, kf, rf = (med(data, t, metric) for t in TARGETS)
            if k is None and kf is None and rf is None:
                continue
            r1, r2 = ratio(rf, k), ratio(rf, kf)
            spread = "; ".join(
                " ".join(short(v) for _, v in sorted(data[(t, metric)].items())) if (t, metric) in data else "—"
                for t in TARGETS)
            L.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
                label, client, unit, fmt(k, unit), fmt(kf, unit), fmt(rf, unit),
                "**%.2f**" % r1 if r1 is not None else "—", "**%.2f**" % r2 if r2 is not None else "—", spread))
    L.append("")
    L.append("### Goals (issue #8)")
    L.append("")
    L.append("| goal | measured | |")
    L.append("|---|---:|---|")
    for text, x, ok in goals(data):
        L.append("| %s | %s | %s |" % (text, "—" if x is None else ("%.1f ms" % x if "start-up" in text else "%.2fx" % x),
                                       "met" if ok else "**not met**"))
    if have_plots:
        L.append("")
        L.append("![throughput](%sthroughput.svg)" % img_prefix)
        L.append("")
        L.append("![latency at a fixed rate](%slatency.svg)" % img_prefix)
    if commands:
        L.append("")
        L.append("<details><summary>The exact commands (round 1; $BOOTSTRAP is the broker under test, $DATA its fresh dir)</summary>")
        L.append("")
        L.append("```sh")
        L.extend(commands)
        L.append("```")
        L.append("")
        L.append("</details>")
    L.append("")
    L.append("Every value of every round: [results.tsv](%sresults.tsv) (round, target, metric, value)." % img_prefix)
    return "\n".join(L) + "\n"


def pick_round(data, target, metric):
    """The round whose value of METRIC is the median one (for the curve plots)."""
    vals = sorted((v, r) for r, v in data.get((target, metric), {}).items())
    return vals[(len(vals) - 1) // 2][1] if vals else None


def plots(data, curves, out):
    if not shutil.which("gnuplot"):
        print("report: gnuplot not found, no plots", file=sys.stderr)
        return False
    bars = [("produce acks=1\\nProducerPerf", "w1_pp_mb_s"), ("produce acks=1\\nloadgen", "w1_lg_mb_s"),
            ("produce acks=all\\nProducerPerf", "w2_pp_mb_s"), ("produce acks=all\\nloadgen", "w2_lg_mb_s"),
            ("consume\\nloadgen", "w4_lg_mb_s"), ("1000 partitions\\nloadgen", "w6_wide_mb_s"),
            ("500 idle conns\\nloadgen", "w6_idle_mb_s")]
    dat = os.path.join(out, ".throughput.dat")
    with open(dat, "w") as f:
        for label, metric in bars:
            vals = [med(data, t, metric) for t in TARGETS]
            f.write('"%s" %s\n' % (label, " ".join("?" if v is None else "%.2f" % v for v in vals)))
    series = []
    for target in ("kafka", "rafka"):
        rnd = pick_round(data, target, "w3_lg_p99_ms")
        path = os.path.join(curves, "%s.%s.txt" % (target, rnd))
        if rnd is None or not os.path.exists(path):
            continue
        pts = os.path.join(out, ".curve-%s.dat" % target)
        with open(path) as src, open(pts, "w") as dst:
            for line in src:
                if line.startswith("#"):
                    continue
                p, prod, e2e = line.split()
                if float(p) >= 100:
                    continue  # the maximum sits at infinity on this axis
                dst.write("%.6f %s %s %s\n" % (1 / (1 - float(p) / 100), p, prod, e2e))
        series.append((target, pts))
    script = os.path.join(out, ".plots.gp")
    with open(script, "w") as g:
        g.write('set terminal svg size 960,540 dynamic font "sans,12" background rgb "white"\n')
        g.write('set datafile missing "?"\n')
        g.write('set output "%s"\n' % os.path.join(out, "throughput.svg"))
        g.write('set title "Throughput, median of rounds (MB/s, 1 KiB records; higher is better)"\n')
        g.write("set style data histogram\nset style histogram clustered gap 1\nset style fill solid 0.85 border -1\n")
        g.write("set boxwidth 0.9\nset ylabel 'MB/s'\nset yrange [0:*]\nset grid ytics\nset key outside top center horizontal\nset bmargin 5\n")
        g.write("set xtics font ',10'\n")
        g.write("plot '%s' using 2:xtic(1) title 'Kafka' lc rgb '#4e79a7', '' using 3 title 'Kafka, fsync per append' lc rgb '#a0cbe8', '' using 4 title 'Rafka' lc rgb '#f28e2b'\n" % dat)
        g.write("reset\n")
        if series:
            g.write('set output "%s"\n' % os.path.join(out, "latency.svg"))
            g.write('set title "Latency percentiles at a fixed rate (loadgen, acks=1; median-p99 round)"\n')
            g.write("set logscale x\nset logscale y\nset grid\nset key bottom right\nset ylabel 'ms'\nset xlabel 'percentile'\n")
            g.write('set xtics ("0%%" 1, "50%%" 2, "90%%" 10, "99%%" 100, "99.9%%" 1000, "99.99%%" 10000)\n')
            parts = []
            colors = {"kafka": "#4e79a7", "rafka": "#f28e2b"}
            names = {"kafka": "Kafka", "rafka": "Rafka"}
            for target, pts in series:
                parts.append("'%s' using 1:3 with linespoints lw 2 pt 7 ps 0.5 lc rgb '%s' title '%s produce'" % (pts, colors[target], names[target]))
                parts.append("'%s' using 1:4 with linespoints lw 2 dt 2 pt 5 ps 0.5 lc rgb '%s' title '%s end-to-end'" % (pts, colors[target], names[target]))
            g.write("plot " + ", ".join(parts) + "\n")
    r = subprocess.run(["gnuplot", script], capture_output=True, text=True, timeout=60)
    for p in [dat, script] + [pts for _, pts in series]:
        os.remove(p)
    if r.returncode != 0:
        print("report: gnuplot failed: %s" % r.stderr.strip(), file=sys.stderr)
        return False
    return True


def report(a):
    data = load(a.results)
    # MB/s for the workloads where only records/s is recorded
    for (t, m), vals in list(data.items()):
        if m.endswith("_rec_s") and (t, m[:-6] + "_mb_s") not in data:
            data[(t, m[:-6] + "_mb_s")] = {r: v * 1024 / 1e6 for r, v in vals.items()}
    env = read_env(a.machine)
    os.makedirs(a.out, exist_ok=True)
    # Keep every input beside the output, so the report can be re-rendered from them:
    #   report.py report --results D/results.tsv --machine D/machine.env --curves D/curves
    #                    --commands D/commands.txt --out D
    for src, name in ((a.results, "results.tsv"), (a.machine, "machine.env"), (a.commands, "commands.txt")):
        dst = os.path.join(a.out, name)
        if src and os.path.exists(src) and not (os.path.exists(dst) and os.path.samefile(src, dst)):
            shutil.copy(src, dst)
    curves = os.path.join(a.out, "curves")
    if not (os.path.exists(curves) and os.path.samefile(a.curves, curves)):
        shutil.rmtree(curves, ignore_errors=True)
        shutil.copytree(a.curves, curves)
    have_plots = plots(data, a.curves, a.out)
    commands = []
    if a.commands and os.path.exists(a.commands):
        with open(a.commands) as f:
            for line in f:
                line = line.rstrip("\n")
                if line not in commands:
                    commands.append(line)
    with open(os.path.join(a.out, "compare.md"), "w") as f:
        f.write("# Rafka vs Apache Kafka: generated results\n\n")
        f.write("How these are made and what they mean: [docs/perf.md](../perf.md).\n\n")
        f.write(fragment(data, env, "", have_plots, commands))
    if a.splice:
        with open(a.splice) as f:
            text = f.read()
        if BEGIN not in text or END not in text:
            sys.exit("report: %s has no generated block markers" % a.splice)
        head, rest = text.split(BEGIN, 1)
        _, tail = rest.split(END, 1)
        with open(a.splice, "w") as f:
            f.write(head + BEGIN + "\n" + fragment(data, env, "perf/", have_plots, commands) + END + tail)
    missing = [m for _, rows in SECTIONS for m, *_ in rows
               if med(data, "rafka", m) is None and med(data, "kafka", m) is None]
    if missing:
        print("report: no values for %s" % ", ".join(missing), file=sys.stderr)
        return 1
    return 0


def main():
    if len(sys.argv) >= 2 and sys.argv[1] in ("parse-pp", "parse-cp"):
        (parse_pp if sys.argv[1] == "parse-pp" else parse_cp)(sys.argv[2], int(sys.argv[3]))
        return 0
    if len(sys.argv) >= 3 and sys.argv[1] == "head-commit":
        print(head_commit(sys.argv[2]))
        return 0
    ap = argparse.ArgumentParser()
    ap.add_argument("cmd", choices=["report"])
    ap.add_argument("--results", required=True)
    ap.add_argument("--machine", required=True)
    ap.add_argument("--curves", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--splice")
    ap.add_argument("--commands")
    return report(ap.parse_args())


if __name__ == "__main__":
    sys.exit(main())
