#!/usr/bin/env python3
"""smoke_load: a quick throughput check of a built relayguard (not the full Postfix comparison,
which is issue 9's bench). Starts `relayguard sink` and `relayguard serve` on loopback ports with
a scratch spool and the given rules directory, sends N messages of SIZE bytes over C parallel
SMTP sessions (one message per session, like smtp-source), and reports messages/s accepted
(250 received) and end to end (files in the sink's maildir), plus p50/p99 latency from the end
of DATA to the reply.

  bench/smoke_load.py [--messages 2000] [--concurrency 20] [--size 4096] [--rules samples/rules]
"""
import argparse, os, shutil, smtplib, socket, statistics, subprocess, sys, tempfile, threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_port(port, timeout=10.0):
    end = time.time() + timeout
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"port {port} never opened")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=2000)
    ap.add_argument("--concurrency", type=int, default=20)
    ap.add_argument("--size", type=int, default=4096)
    ap.add_argument("--rules", default=os.path.join(ROOT, "samples", "rules"))
    ap.add_argument("--binary", default=os.path.join(ROOT, "build", "relayguard"))
    args = ap.parse_args()

    work = tempfile.mkdtemp(prefix="rg-bench-")
    sink_port, relay_port = free_port(), free_port()
    maildir = os.path.join(work, "maildir")
    config = os.path.join(work, "relayguard.toml")
    with open(config, "w") as f:
        f.write(f'hostname = "bench.test"\nspool_dir = "spool"\nrules_dir = "{args.rules}"\n'
                f'[[listener]]\naddress = "127.0.0.1:{relay_port}"\n'
                f'[access]\nrelay_networks = ["127.0.0.0/8"]\n'
                f'[limits]\nmax_connections_per_ip = 1000\n'
                f'[[route]]\ndomains = ["*"]\nsmart_hosts = ["127.0.0.1:{sink_port}"]\n')
    log = open(os.path.join(work, "processes.log"), "w")
    sink = subprocess.Popen([args.binary, "sink", "--log-level", "warn", "--listen",
                             f"127.0.0.1:{sink_port}", "--maildir", maildir], stderr=log)
    relay = subprocess.Popen([args.binary, "serve", "--log-level", "warn", "--config", config],
                             stderr=log)
    try:
        wait_port(sink_port)
        wait_port(relay_port)
        body = ("x" * 75 + "\r\n") * max(1, (args.size - 200) // 77)
        message = ("From: bench@example.test\r\nTo: sink@example.test\r\nSubject: bench\r\n\r\n"
                   + body)
        latencies, failures, lock = [], [], threading.Lock()
        counter = iter(range(args.messages))

        def worker():
            for _ in counter:
                try:
                    with smtplib.SMTP("127.0.0.1", relay_port, timeout=30) as s:
                        s.ehlo("bench.test")
                        s.mail("bench@example.test")
                        s.rcpt("sink@example.test")
                        s.putcmd("data")
                        s.getreply()
                        s.send(message.encode() + b"\r\n.\r\n")
                        t0 = time.perf_counter()
                        code, _ = s.getreply()
                        dt = time.perf_counter() - t0
                    with lock:
                        (latencies if code == 250 else failures).append(dt if code == 250 else code)
                except Exception as e:  # noqa: BLE001 - a benchmark counts every failure
                    with lock:
                        failures.append(str(e))

        start = time.perf_counter()
        threads = [threading.Thread(target=worker) for _ in range(args.concurrency)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        accepted_s = time.perf_counter() - start
        while len(os.listdir(maildir)) < len(latencies) and time.perf_counter() - start < 300:
            time.sleep(0.05)
        e2e_s = time.perf_counter() - start
        lat = sorted(latencies)
        p = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] * 1000 if lat else float("nan")
        print(f"messages={args.messages} size={args.size} concurrency={args.concurrency} "
              f"rules={args.rules}")
        print(f"accepted={len(latencies)} failed={len(failures)} "
              f"accept_rate={len(latencies) / accepted_s:.0f}/s "
              f"end_to_end={len(os.listdir(maildir)) / e2e_s:.0f}/s "
              f"p50={p(0.50):.2f}ms p99={p(0.99):.2f}ms")
        if failures:
            print("first failures:", failures[:3])
    finally:
        for p_ in (relay, sink):
            p_.terminate()
            p_.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
