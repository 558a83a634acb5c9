#!/usr/bin/env python3
"""ab.py: A/B of relayguard builds or settings on one pipeline and message size, runs alternating.

Uses compare.py's sink, rules, keys, messages and measurement (no Postfix). Each variant is
NAME=BINARY[,ENV=VALUE...]; the order alternates from one repetition to the next, so that drift
on the machine (page cache, the file system's recently freed inodes) hits every variant alike.
Examples:
  python3 bench/ab.py old=/tmp/relayguard-old new=build/relayguard --pair full --reps 3
  python3 bench/ab.py disk=build/relayguard shm=build/relayguard,TMPDIR=/dev/shm
  python3 bench/ab.py new=build/relayguard --reps 1 --perf new   # perf record -g of serve
Prints each run and, per variant, the median end-to-end msg/s and CPU ms/msg.
"""
import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import compare as c  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("variants", nargs="+", help="NAME=BINARY[,ENV=VALUE...]")
    ap.add_argument("--build-dir", default=os.path.join(c.ROOT, "build"))
    ap.add_argument("--pair", default="full", choices=sorted(c.PAIRS))
    ap.add_argument("--size", type=int, default=4096)
    ap.add_argument("--messages", type=int, default=3000)
    ap.add_argument("--warmup", type=int, default=200)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--perf", metavar="NAME", help="perf record -g the serve process of NAME's "
                    "last run into perf-NAME.data")
    ap.add_argument("--perf-call-graph", default="fp", choices=["fp", "dwarf"],
                    help="how perf unwinds: frame pointers (small files; libraries built "
                    "without them show no callers) or DWARF (whole stacks, large files, "
                    "sampled at 500 Hz to keep them in bounds)")
    args = ap.parse_args()
    variants = []
    for v in args.variants:
        name, _, rest = v.partition("=")
        binary, *env = rest.split(",")
        if not name or not os.access(binary, os.X_OK):
            ap.error(f"{v}: want NAME=BINARY[,ENV=VALUE...] with an executable BINARY")
        variants.append((name, os.path.abspath(binary), dict(e.split("=", 1) for e in env)))

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    build = os.path.abspath(args.build_dir)
    loadgen = os.path.join(build, "bench", "relayguard-loadgen")
    work = tempfile.mkdtemp(prefix="rg-ab-")
    results = {}
    sink = None
    try:
        db = os.path.join(work, "clamav-db")
        os.makedirs(db)
        for name in os.listdir(os.path.join(c.ROOT, "samples", "clamav")):
            if name.endswith((".ndb", ".hdb", ".hsb", ".ldb")):
                shutil.copy(os.path.join(c.ROOT, "samples", "clamav", name), db)
        key, _ = c.make_dkim_key(os.path.join(build, "relayguard"), work)
        message = c.make_message(os.path.join(work, "msg.eml"), args.size, args.size)
        rules = c.write_rules(work, c.PAIRS[args.pair][1], key, db)
        sink = c.Sink(loadgen, work)
        for rep in range(args.reps):
            for name, binary, env in (variants if rep % 2 == 0 else variants[::-1]):
                saved = dict(os.environ)
                os.environ.update(env)
                try:
                    relay = c.Relayguard(binary, work, sink.port, rules)
                finally:
                    os.environ.clear()
                    os.environ.update(saved)
                perf = None
                if args.perf == name and rep == args.reps - 1:
                    unwind = (["-g"] if args.perf_call_graph == "fp"
                              else ["--call-graph", "dwarf,32768", "-F", "500"])
                    perf = subprocess.Popen(["perf", "record", *unwind, "-o", f"perf-{name}.data",
                                             "-p", str(relay.serve_pid())],
                                            stderr=subprocess.DEVNULL)
                try:
                    r = c.measure(relay, sink, loadgen, message, args.messages, 20, args.warmup)
                finally:
                    if perf:
                        perf.send_signal(2)
                        perf.wait()
                    relay.stop()
                results.setdefault(name, []).append(r)
                print(f"rep {rep + 1} {name}: accepted {r['accept_per_s']:.0f}/s e2e "
                      f"{c.fmt(r['e2e_per_s'])}/s cpu {r['cpu_ms_per_msg']:.2f} ms/msg "
                      f"switches {r['context_switches_per_msg']:.1f}/msg p99 "
                      f"{c.fmt(r['latency_ms'].get('p99'), 1)} ms delivered "
                      f"{r['delivered']}/{r['accepted']}", flush=True)
    finally:
        if sink:
            sink.close()
        c.remove_scratch(work)
        shutil.rmtree(work, ignore_errors=True)
    for name, runs in results.items():
        print(f"{name}: median e2e {statistics.median(r['e2e_per_s'] or 0 for r in runs):.0f} "
              f"msg/s, cpu {statistics.median(r['cpu_ms_per_msg'] for r in runs):.2f} ms/msg, "
              f"{statistics.median(r['context_switches_per_msg'] for r in runs):.1f} context "
              "switches/msg")


if __name__ == "__main__":
    main()
