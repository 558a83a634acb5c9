#!/usr/bin/env python3
"""compare.py: relayguard against Postfix 3.7 (issue 9), in one run, on this machine.

Starts a counting sink (relayguard-loadgen sink), then for every pipeline pair, message size and
repetition a fresh private Postfix (with none, one or both of opendkim and clamav-milter) and a
fresh relayguard with the equivalent stages, drives each with the same closed-loop load (N
sessions of one message, 20 at a time, like smtp-source -s 20) and reports, medians over the
repetitions: accepted msg/s, end-to-end msg/s (counted at the sink), p50/p99 latency from the
end of DATA to the reply, CPU ms per message over all of the relay's processes, and peak memory,
with relayguard/Postfix ratios. Then the idle-connections mode (10,000 idle connections held
while a normal client relays) and the 25 MiB large-message check, both on relayguard.

  bench/compare.py [--build-dir build] [--quick] [--reps 3] [--json results.json]
                   [--pairs none,dkim,av,full] [--sizes 4096,102400] [--relays postfix,relayguard]
                   [--skip-throughput] [--skip-idle] [--skip-large] [--keep]

Needs root (Postfix's master runs as root and drops to mail_owner) and the packages of
bench/setup.sh. Never rebuilds anything: it runs BUILD/relayguard and
BUILD/bench/relayguard-loadgen. See bench/README.md for what each number means.
"""
import argparse
import base64
import json
import os
import random
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")
DOMAIN, SELECTOR = "example.test", "s1"

# The pairs compared: (Postfix milters, relayguard stages).
PAIRS = {
    "none": ([], []),
    "dkim": (["opendkim"], ["dkim"]),
    "av": (["clamav"], ["antivirus"]),
    "full": (["opendkim", "clamav"], ["antivirus", "attachments", "urls", "content", "dkim"]),
}
PAIR_TITLES = {
    "none": ("Postfix, no filters", "relayguard, no stages"),
    "dkim": ("Postfix + opendkim (rsa-2048)", "relayguard dkim (rsa-2048)"),
    "av": ("Postfix + clamav-milter", "relayguard antivirus"),
    "full": ("Postfix + both milters", "relayguard antivirus+rules+dkim"),
}


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout, what):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return
        time.sleep(0.05)
    raise RuntimeError(f"timed out waiting for {what}")


def port_open(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
        return True
    except OSError:
        return False


def smtp_ready(port):
    """True once the server at port answers 220 (Postfix's master accepts before smtpd runs)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            ok = s.recv(512).startswith(b"220")
            s.sendall(b"QUIT\r\n")
            return ok
    except OSError:
        return False


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


# ---------------------------------------------------------------- /proc accounting


def stat_fields(pid):
    """The fields of /proc/PID/stat after the command name (fields[0] is field 3, state)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return None
    return stat[stat.rfind(")") + 2:].split()


def children(pid):
    """The pids of pid's children, from /proc/PID/task/*/children (the kernel's own list)."""
    out = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                out.extend(int(x) for x in f.read().split())
        except OSError:
            pass
    return out


def tree_pids(roots):
    """The roots and all their living descendants."""
    out, todo = set(), list(roots)
    while todo:
        pid = todo.pop()
        if pid not in out and os.path.exists(f"/proc/{pid}"):
            out.add(pid)
            todo.extend(children(pid))
    return out


def tree_cpu_seconds(roots):
    """CPU seconds used so far by the roots and all their descendants, living or reaped.

    A live process contributes its own utime+stime plus cutime+cstime, which hold every child
    it has already reaped (recursively); a child that exits during the run moves its time into
    its parent's cutime, so the sum stays continuous. Threads are inside their process's times.
    """
    ticks = 0
    for pid in tree_pids(roots):
        fields = stat_fields(pid)
        if fields:
            ticks += sum(int(x) for x in fields[11:15])  # utime stime cutime cstime (14..17)
    return ticks / CLK_TCK


def tree_context_switches(roots):
    """Context switches so far of every thread of the roots and their living descendants
    (voluntary: a thread went to sleep, waiting; involuntary: it was preempted). A thread that
    has exited takes its count with it, so this is for long-lived processes such as serve."""
    total = 0
    for pid in tree_pids(roots):
        try:
            tids = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for tid in tids:
            try:
                with open(f"/proc/{pid}/task/{tid}/status") as f:
                    for line in f:
                        if line.startswith(("voluntary_ctxt_switches:",
                                            "nonvoluntary_ctxt_switches:")):
                            total += int(line.split()[1])
            except OSError:
                pass
    return total


def read_status_kib(pid, key):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def pss_kib(pid):
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def rss_kib(pid):
    try:
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[1]) * PAGE // 1024
    except OSError:
        return 0


class MemorySampler:
    """Samples the summed RSS (every interval) and PSS (every pss_every-th sample) of the
    roots' process trees; keeps the peaks."""

    def __init__(self, roots, interval=0.2, pss_every=3):
        self.roots, self.interval, self.pss_every = roots, interval, pss_every
        self._samples = 0
        self.peak_rss_kib = self.peak_pss_kib = self.peak_processes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self):
        pids = tree_pids(self.roots)
        self.peak_rss_kib = max(self.peak_rss_kib, sum(rss_kib(p) for p in pids))
        # PSS walks every mapping (smaps_rollup): sampled less often, it is not free.
        if self._samples % self.pss_every == 0:
            self.peak_pss_kib = max(self.peak_pss_kib, sum(pss_kib(p) for p in pids))
        self._samples += 1
        self.peak_processes = max(self.peak_processes, len(pids))

    def _run(self):
        while not self._stop.is_set():
            self._sample()
            self._stop.wait(self.interval)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self._sample()


# ---------------------------------------------------------------- load tool


class Sink:
    """The counting sink: relayguard-loadgen sink, queried over its stdin/stdout."""

    def __init__(self, loadgen, work):
        self.port = free_port()
        self.proc = subprocess.Popen([loadgen, "sink", "--listen", f"127.0.0.1:{self.port}"],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=open(os.path.join(work, "sink.log"), "w"), text=True)
        wait_for(lambda: port_open(self.port), 10, "the sink")

    def status(self):
        self.proc.stdin.write("?\n")
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())

    def wait_count(self, target, stall_timeout=120):
        """Waits until the sink holds target messages; gives up after stall_timeout s without
        progress. Returns the last status."""
        last, last_change = self.status(), time.monotonic()
        while last["messages"] < target:
            time.sleep(0.02)
            now = self.status()
            if now["messages"] != last["messages"]:
                last_change = time.monotonic()
            elif time.monotonic() - last_change > stall_timeout:
                return now
            last = now
        return last

    def close(self):
        self.proc.stdin.close()
        self.proc.wait(timeout=10)


def run_load(loadgen, port, message, count, concurrency, sources=None, timeout=900):
    cmd = [loadgen, "send", "--connect", f"127.0.0.1:{port}", "--message", message,
           "--count", str(count), "--concurrency", str(concurrency), "--timeout", str(timeout)]
    for s in sources or []:
        cmd += ["--source", s]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    return json.loads(out)


# ---------------------------------------------------------------- messages and keys


def make_message(path, size, seed):
    """A realistic MIME message of about size bytes, signed-for domain in From:, clean for the
    sample rules and the test signatures: a text part with two URLs and a base64 PDF attachment
    of random content that fills the rest."""
    rng = random.Random(seed)
    text = ("Hello,\n\nplease find the quarterly report attached; the figures are also on\n"
            "https://docs.example.org/reports/q3 and https://intranet.example.test/finance.\n\n"
            "Regards,\nThe benchmark\n")
    head = (f"From: Bench <bench@{DOMAIN}>\nTo: <sink@sink.test>\nSubject: Quarterly report\n"
            "Date: Mon, 01 Jan 2024 00:00:00 +0000\nMIME-Version: 1.0\n"
            'Content-Type: multipart/mixed; boundary="b1"\n\n'
            "--b1\nContent-Type: text/plain; charset=utf-8\n\n" + text +
            "\n--b1\nContent-Type: application/pdf; name=\"report.pdf\"\n"
            "Content-Transfer-Encoding: base64\n"
            "Content-Disposition: attachment; filename=\"report.pdf\"\n\n")
    tail = "\n--b1--\n"
    room = max(0, size - len(head) - len(tail) - head.count("\n") - tail.count("\n"))
    raw_len = room * 57 // 78  # base64 lines of 76 chars + CRLF carry 57 bytes each
    raw = b"%PDF-1.4\n" + rng.randbytes(max(0, raw_len - 9))
    b64 = base64.encodebytes(raw).decode()  # 76-char lines
    with open(path, "wb") as f:  # CRLF already, so the size on the wire is size
        f.write((head + b64 + tail).replace("\n", "\r\n").encode())
    return path


def make_dkim_key(relayguard, work):
    """An rsa-2048 key for DOMAIN/SELECTOR, from `relayguard dkim keygen` when this build has it
    (then the dkim stage exists too), else from openssl for opendkim alone."""
    key = os.path.join(work, "keys", f"{DOMAIN}.{SELECTOR}.pem")
    os.makedirs(os.path.dirname(key), exist_ok=True)
    # CLI11 answers --help with the top-level help (and exit 0) when "dkim" is unknown, so the
    # test is whether the keygen help names its own options.
    probe = subprocess.run([relayguard, "dkim", "keygen", "--help"], capture_output=True,
                           text=True)
    has_dkim = probe.returncode == 0 and "--selector" in probe.stdout
    if has_dkim:
        subprocess.run([relayguard, "dkim", "keygen", "--domain", DOMAIN, "--selector", SELECTOR,
                        "--algorithm", "rsa-sha256", "--out", key], check=True,
                       capture_output=True)
    else:
        subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt",
                        "rsa_keygen_bits:2048", "-out", key], check=True, capture_output=True)
    os.chmod(key, 0o600)
    return key, has_dkim


# ---------------------------------------------------------------- ClamAV's scratch files

# Both ClamAV engines, clamd behind clamav-milter and relayguard's antivirus stage, write a
# directory per scan and a file per attachment; both get the same folder on this tmpfs (clamd's
# TemporaryDirectory, the stage's temp_dir). None (--scratch-on-disk): below the work directory.
SCRATCH_PARENT = "/dev/shm"


def scratch_dir(work):
    """The scratch folder for work, made on first use: on SCRATCH_PARENT when it is a writable
    directory, else below work."""
    parent = SCRATCH_PARENT
    if not parent or not os.path.isdir(parent) or not os.access(parent, os.W_OK):
        parent = work
    path = os.path.join(parent, "rg-scratch-" + os.path.basename(work))
    os.makedirs(path, mode=0o700, exist_ok=True)
    return path


def remove_scratch(work):
    shutil.rmtree(scratch_dir(work), ignore_errors=True)


# ---------------------------------------------------------------- Postfix with milters


class Milters:
    """opendkim and clamd + clamav-milter, in the foreground, sockets under work/milters."""

    def __init__(self, work, names, key, clamav_db):
        self.dir = os.path.join(work, "milters")
        os.makedirs(self.dir, exist_ok=True)
        os.chmod(self.dir, 0o755)
        self.procs, self.sockets = [], []
        self.logs = open(os.path.join(self.dir, "milters.log"), "a")
        if "clamav" in names:
            self._start_clamav(work, clamav_db)
        if "opendkim" in names:
            self._start_opendkim(key)

    def _spawn(self, cmd, ready_socket, what):
        proc = subprocess.Popen(cmd, stdout=self.logs, stderr=self.logs)
        self.procs.append(proc)
        wait_for(lambda: os.path.exists(ready_socket) or proc.poll() is not None, 60, what)
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}: see {self.logs.name}")

    def _start_clamav(self, work, db):
        d = self.dir
        clamd_sock = os.path.join(d, "clamd.sock")
        with open(os.path.join(d, "clamd.conf"), "w") as f:
            f.write(f"LocalSocket {clamd_sock}\nLocalSocketMode 666\nForeground yes\n"
                    f"DatabaseDirectory {db}\nLogFile {d}/clamd.log\nLogTime yes\n"
                    f"PidFile {d}/clamd.pid\nTemporaryDirectory {scratch_dir(work)}\nUser root\n"
                    "SelfCheck 3600\nStreamMaxLength 40M\n")
        self._spawn(["clamd", "--foreground", "-c", os.path.join(d, "clamd.conf")], clamd_sock,
                    "clamd")
        milter_sock = os.path.join(d, "clamav-milter.sock")
        with open(os.path.join(d, "clamav-milter.conf"), "w") as f:
            f.write(f"MilterSocket unix:{milter_sock}\nMilterSocketMode 666\nForeground yes\n"
                    f"ClamdSocket unix:{clamd_sock}\nOnClean Accept\n"
                    "OnInfected Quarantine\nOnFail Defer\nAddHeader Replace\n"
                    f"LogFile {d}/clamav-milter.log\nPidFile {d}/clamav-milter.pid\n"
                    "User root\nMaxFileSize 40M\n")
        self._spawn(["clamav-milter", "-c", os.path.join(d, "clamav-milter.conf")], milter_sock,
                    "clamav-milter")
        self.sockets.append(f"unix:{milter_sock}")

    def _start_opendkim(self, key):
        d = self.dir
        sock = os.path.join(d, "opendkim.sock")
        with open(os.path.join(d, "opendkim.conf"), "w") as f:
            f.write(f"Syslog no\nMode s\nDomain {DOMAIN}\nSelector {SELECTOR}\nKeyFile {key}\n"
                    "Canonicalization relaxed/simple\nOversignHeaders From\n"
                    "SignatureAlgorithm rsa-sha256\n"
                    f"Socket local:{sock}\nUMask 000\nPidFile {d}/opendkim.pid\n"
                    "RequireSafeKeys no\nInternalHosts 127.0.0.0/8\n")
        self._spawn(["opendkim", "-f", "-x", os.path.join(d, "opendkim.conf")], sock, "opendkim")
        self.sockets.append(f"unix:{sock}")

    def pids(self):
        return [p.pid for p in self.procs]

    def stop(self):
        for p in reversed(self.procs):
            p.terminate()
        for p in self.procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        for s in self.sockets:
            try:
                os.unlink(s.split(":", 1)[1])
            except OSError:
                pass
        self.logs.close()


class Postfix:
    """A private Postfix instance: its own config, queue and data directories under work."""

    def __init__(self, work, sink_port, milters):
        self.dir = os.path.join(work, "postfix")
        shutil.rmtree(self.dir, ignore_errors=True)
        self.conf = os.path.join(self.dir, "etc")
        os.makedirs(self.conf)
        os.makedirs(os.path.join(self.dir, "queue"))
        os.makedirs(os.path.join(self.dir, "data"))
        for d in (self.dir, self.conf, os.path.join(self.dir, "queue")):
            os.chmod(d, 0o755)
        shutil.chown(os.path.join(self.dir, "data"), "postfix", "postfix")
        self.port = free_port()
        self.milters = milters
        shutil.copy("/usr/share/postfix/master.cf.dist", os.path.join(self.conf, "master.cf"))
        with open(os.path.join(self.conf, "main.cf"), "w") as f:
            f.write("compatibility_level = 3.6\n")
        settings = {
            "queue_directory": os.path.join(self.dir, "queue"),
            "data_directory": os.path.join(self.dir, "data"),
            "mail_owner": "postfix", "setgid_group": "postdrop",
            "myhostname": "postfix.bench.test", "mydomain": "bench.test", "myorigin": "bench.test",
            "mydestination": "", "local_recipient_maps": "", "local_transport": "error:no local",
            "alias_maps": "", "alias_database": "",
            "inet_interfaces": "127.0.0.1", "inet_protocols": "ipv4",
            "mynetworks": "127.0.0.0/8", "relayhost": f"[127.0.0.1]:{sink_port}",
            "smtpd_relay_restrictions": "permit_mynetworks, reject_unauth_destination",
            "smtpd_tls_security_level": "none", "smtp_tls_security_level": "none",
            "message_size_limit": str(40 * 1024 * 1024), "biff": "no",
            "maillog_file": os.path.join(self.dir, "maillog"), "maillog_file_prefixes": self.dir,
            "smtpd_milters": ", ".join(milters.sockets) if milters else "",
            "milter_default_action": "tempfail",
        }
        self.postconf(["-e"] + [f"{k}={v}" for k, v in settings.items()])
        # No chroot (the queue directory has no copy of /etc); smtpd on our own port only.
        self.postconf(["-F", "*/*/chroot = n"])
        self.postconf(["-MX", "smtp/inet"])
        self.postconf(["-M", f"127.0.0.1:{self.port}/inet = 127.0.0.1:{self.port} inet n - n - - "
                       "smtpd"])
        start = subprocess.run(["postfix", "-c", self.conf, "start"], capture_output=True,
                               text=True)
        if start.returncode != 0:
            # The postfix command reports a fatal error only to syslog or a terminal.
            again = subprocess.run(["script", "-qc", f"postfix -c {self.conf} check", "/dev/null"],
                                   capture_output=True, text=True)
            raise RuntimeError(f"postfix start failed: {start.stderr.strip()} "
                               f"{again.stdout.strip()}")
        pid_file = os.path.join(self.dir, "queue", "pid", "master.pid")
        try:
            wait_for(lambda: os.path.exists(pid_file), 30, "postfix master")
            with open(pid_file) as f:
                self.master = int(f.read().split()[0])
            wait_for(lambda: smtp_ready(self.port), 30, "postfix smtpd")
        except Exception:
            subprocess.run(["postfix", "-c", self.conf, "abort"], capture_output=True)
            raise

    def postconf(self, args):
        subprocess.run(["postconf", "-c", self.conf] + args, check=True, capture_output=True)

    def roots(self):
        return [self.master] + (self.milters.pids() if self.milters else [])

    def serve_pid(self):
        return None

    def stop(self):
        subprocess.run(["postfix", "-c", self.conf, "stop"], capture_output=True)
        wait_for(lambda: not os.path.exists(f"/proc/{self.master}"), 30, "postfix to stop")
        if self.milters:
            self.milters.stop()


def start_postfix(work, sink_port, pair, key, clamav_db):
    names = PAIRS[pair][0]
    milters = Milters(work, names, key, clamav_db) if names else None
    try:
        return Postfix(work, sink_port, milters)
    except Exception:
        if milters:
            milters.stop()
        raise


# ---------------------------------------------------------------- relayguard


def write_rules(work, stages, key, clamav_db):
    rules = os.path.join(work, "rules-" + ("-".join(stages) or "none"))
    if os.path.isdir(rules):
        return rules
    os.makedirs(rules)
    parts = []
    for stage in stages:
        if stage == "antivirus":
            parts.append(f'[[stage]]\ntype = "antivirus"\ndatabase = "{clamav_db}"\n'
                         'on_virus = "quarantine"\non_error = "tempfail"\n'
                         f'temp_dir = "{scratch_dir(work)}"\n')
        elif stage == "dkim":
            # The canonicalization opendkim uses in Debian's packaged opendkim.conf.
            parts.append(f'[[stage]]\ntype = "dkim"\ncanonicalization = "relaxed/simple"\n'
                         f'[[stage.key]]\ndomain = "{DOMAIN}"\n'
                         f'selector = "{SELECTOR}"\nalgorithm = "rsa-sha256"\n'
                         f'private_key = "{key}"\n')
        else:
            parts.append(f'[[stage]]\ntype = "{stage}"\n')
    with open(os.path.join(rules, "pipeline.toml"), "w") as f:
        f.write("\n".join(parts))
    if any(s in stages for s in ("attachments", "urls", "content")):
        sample = os.path.join(ROOT, "samples", "rules")
        for name in os.listdir(sample):
            if name != "pipeline.toml":
                src = os.path.join(sample, name)
                (shutil.copytree if os.path.isdir(src) else shutil.copy)(
                    src, os.path.join(rules, name))
    return rules


class Relayguard:
    def __init__(self, binary, work, sink_port, rules, idle=False, max_message_mib=30):
        self.dir = os.path.join(work, "relayguard")
        shutil.rmtree(self.dir, ignore_errors=True)
        os.makedirs(self.dir)
        self.port = free_port()
        limits = (f'max_message_size = "{max_message_mib}M"\nmax_connections = 20000\n'
                  'max_connections_per_ip = 20000\n')
        if idle:
            limits += 'command_timeout = "1h"\n'
        config = os.path.join(self.dir, "relayguard.toml")
        with open(config, "w") as f:
            f.write(f'hostname = "relayguard.bench.test"\nspool_dir = "spool"\n'
                    f'rules_dir = "{rules}"\n'
                    f'[[listener]]\naddress = "127.0.0.1:{self.port}"\n'
                    f'[access]\nrelay_networks = ["127.0.0.0/8"]\n'
                    f"[limits]\n{limits}"
                    f'[[route]]\ndomains = ["*"]\nsmart_hosts = ["127.0.0.1:{sink_port}"]\n')
        check = subprocess.run([binary, "check", "--config", config], capture_output=True,
                               text=True)
        if check.returncode != 0:
            raise RuntimeError(f"relayguard check failed: {check.stderr.strip()}")
        self.log = open(os.path.join(self.dir, "serve.log"), "w")
        self.proc = subprocess.Popen([binary, "serve", "--config", config], stdout=self.log,
                                     stderr=self.log)
        wait_for(lambda: smtp_ready(self.port) or self.proc.poll() is not None, 60, "relayguard")
        if self.proc.poll() is not None:
            raise RuntimeError(f"relayguard serve exited: see {self.log.name}")

    def roots(self):
        return [self.proc.pid]

    def serve_pid(self):
        return self.proc.pid

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


# ---------------------------------------------------------------- one measured run


def measure(relay, sink, loadgen, message, count, concurrency, warmup):
    """Warm-up, then count messages at the given concurrency; the relay is left running."""
    before = sink.status()["messages"]
    warm = run_load(loadgen, relay.port, message, warmup, concurrency)
    sink.wait_count(before + warm["accepted"], stall_timeout=60)
    start = sink.status()
    base = start["messages"]
    cpu0 = tree_cpu_seconds(relay.roots())
    switches0 = tree_context_switches(relay.roots())
    with MemorySampler(relay.roots()) as mem:
        load = run_load(loadgen, relay.port, message, count, concurrency)
        done = sink.wait_count(base + load["accepted"])
        cpu1 = tree_cpu_seconds(relay.roots())
        switches1 = tree_context_switches(relay.roots())
    delivered = done["messages"] - base
    e2e_s = (done["last_ns"] - load["first_send_ns"]) / 1e9 if delivered else None
    accepted = load["accepted"]
    serve = relay.serve_pid()
    result = {
        "accepted": accepted, "delivered": delivered, "replies": load["replies"],
        "errors": load["errors"],
        "accept_per_s": load["accept_per_s"],
        "e2e_per_s": delivered / e2e_s if e2e_s else None,
        "latency_ms": load["latency_ms"], "session_ms": load["session_ms"],
        "cpu_s": cpu1 - cpu0,
        "cpu_ms_per_msg": (cpu1 - cpu0) * 1000 / accepted if accepted else None,
        "context_switches_per_msg": (switches1 - switches0) / accepted if accepted else None,
        "loadgen_cpu_s": load["cpu"]["user_s"] + load["cpu"]["sys_s"],
        "peak_rss_sum_kib": mem.peak_rss_kib, "peak_pss_sum_kib": mem.peak_pss_kib,
        "processes": mem.peak_processes,
        "dkim_signed": done["dkim_signed"] - start["dkim_signed"],
        "virus_status": done["virus_status"] - start["virus_status"],
    }
    if serve:
        result["vm_hwm_kib"] = read_status_kib(serve, "VmHWM")
    result["peak_mem_kib"] = result.get("vm_hwm_kib") or mem.peak_rss_kib
    return result


# ---------------------------------------------------------------- report


def fmt(v, digits=0):
    if v is None:
        return "–"
    return f"{v:,.{digits}f}"


def ratio(a, b):
    return f"{a / b:.2f}×" if a and b else "–"


def summarize(runs):
    """Median of every number over the repetitions of one (relay, pair, size)."""
    keys = ["accept_per_s", "e2e_per_s", "cpu_ms_per_msg", "peak_mem_kib", "peak_pss_sum_kib",
            "dkim_signed", "virus_status", "delivered"]
    out = {k: median([r[k] for r in runs]) for k in keys}
    out["p50_ms"] = median([r["latency_ms"].get("p50") for r in runs])
    out["p99_ms"] = median([r["latency_ms"].get("p99") for r in runs])
    out["failed"] = sum(r["accepted"] != sum(r["replies"].values()) or bool(r["errors"])
                        or r["delivered"] != r["accepted"] for r in runs)
    return out


EMPTY_SUMMARY = {k: None for k in ("accept_per_s", "e2e_per_s", "cpu_ms_per_msg", "peak_mem_kib",
                                   "peak_pss_sum_kib", "dkim_signed", "virus_status",
                                   "delivered", "p50_ms", "p99_ms")} | {"failed": 0}


def size_label(size):
    return f"{size // 1024} KiB"


def print_report(results, args, meta):
    lines = []
    lines.append(f"Measured {meta['date']} on {meta['machine']}; {args.reps} repetitions, "
                 f"medians; {args.messages} messages per run, {args.concurrency} parallel "
                 f"sessions of one message each.")
    if not meta["dkim_stage"]:
        lines.append("")
        lines.append("**WARNING: DKIM stage not available in this build** (`relayguard dkim "
                     "keygen` missing): the relayguard rows run without DKIM signing, Postfix's "
                     "with opendkim.")
    if results["summary"]:
        lines.append("")
        lines.append("| pipeline | size | relay | accepted msg/s | end-to-end msg/s | p50 ms | p99 ms "
                 "| CPU ms/msg | peak RSS MiB | peak PSS MiB |")
        lines.append("|---|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for pair in args.pairs:
        for size in args.sizes:
            key = f"{pair}/{size}"
            if key not in results["summary"]:
                continue
            pf = results["summary"][key].get("postfix", EMPTY_SUMMARY)
            rg = results["summary"][key].get("relayguard", EMPTY_SUMMARY)
            rg_title = PAIR_TITLES[pair][1]
            if not meta["dkim_stage"] and "dkim" in PAIRS[pair][1]:
                rg_title = {"dkim": "relayguard, no stages", "full": "relayguard antivirus+rules"
                            }.get(pair, rg_title) + " (**dkim stage not in this build**)"
            for relay_name, name, s in (("postfix", PAIR_TITLES[pair][0], pf),
                                        ("relayguard", rg_title, rg)):
                if relay_name not in args.relays:
                    continue
                flag = f" ({s['failed']} runs lost mail)" if s["failed"] else ""
                wants_dkim = "opendkim" in PAIRS[pair][0] and (relay_name == "postfix"
                                                               or meta["dkim_stage"])
                if wants_dkim and (s["dkim_signed"] or 0) < (s["delivered"] or 0):
                    flag += " (NOT all signed)"
                lines.append(f"| {pair} | {size_label(size)} | {name}{flag} | "
                             f"{fmt(s['accept_per_s'])} | {fmt(s['e2e_per_s'])} | "
                             f"{fmt(s['p50_ms'], 1)} | {fmt(s['p99_ms'], 1)} | "
                             f"{fmt(s['cpu_ms_per_msg'], 2)} | "
                             f"{fmt((s['peak_mem_kib'] or 0) / 1024, 1)} | "
                             f"{fmt((s['peak_pss_sum_kib'] or 0) / 1024, 1)} |")
            if len(args.relays) < 2:
                continue
            lines.append(f"| {pair} | {size_label(size)} | **relayguard / Postfix** | "
                         f"{ratio(rg['accept_per_s'], pf['accept_per_s'])} | "
                         f"**{ratio(rg['e2e_per_s'], pf['e2e_per_s'])}** | "
                         f"{ratio(rg['p50_ms'], pf['p50_ms'])} | "
                         f"{ratio(rg['p99_ms'], pf['p99_ms'])} | "
                         f"{ratio(rg['cpu_ms_per_msg'], pf['cpu_ms_per_msg'])} | "
                         f"{ratio(rg['peak_mem_kib'], pf['peak_mem_kib'])} | "
                         f"{ratio(rg['peak_pss_sum_kib'], pf['peak_pss_sum_kib'])} |")
    ceiling = results.get("ceiling")
    if ceiling:
        lines.append("")
        lines.append("Load generator ceiling (relayguard-loadgen straight into the sink, same "
                     "concurrency): " + ", ".join(
                         f"{size_label(int(k))}: {fmt(v['loadgen_per_s'])} msg/s at "
                         f"{fmt(v['loadgen_cpu_ms_per_msg'], 3)} CPU ms/msg"
                         + (f" (smtp-source: {fmt(v['smtp_source_per_s'])} msg/s)"
                            if v.get("smtp_source_per_s") else "")
                         for k, v in ceiling.items()))
    targets = []

    def met(ok):
        return "met" if ok else "NOT met"

    def ratio_target(key, what, target):
        both = results["summary"].get(key, {})
        if "postfix" in both and "relayguard" in both and both["postfix"]["e2e_per_s"]:
            r = (both["relayguard"]["e2e_per_s"] or 0) / both["postfix"]["e2e_per_s"]
            targets.append(f"{what}: {r:.2f}× (target ≥ {target}×: {met(r >= target)})")

    for size in args.sizes:
        ratio_target(f"full/{size}", f"full pipeline end to end at {size_label(size)} against "
                     "Postfix + both milters", 5)
        ratio_target(f"none/{size}", f"no stages end to end at {size_label(size)} against "
                     "plain Postfix", 3)
    full4 = results["summary"].get("full/4096", {})
    if "relayguard" in full4:
        cpu = full4["relayguard"]["cpu_ms_per_msg"]
        targets.append(f"full pipeline CPU {fmt(cpu, 2)} ms/msg at 4 KiB (target < 2 ms: "
                       f"{met(cpu is not None and cpu < 2)})")
    idle = results.get("idle")
    if idle:
        lines.append("")
        lines.append(f"Idle connections: {idle['open']:,} of {idle['requested']:,} held open "
                     f"({idle['closed_by_peer']} closed by the relay, {idle['failed']} failed to "
                     f"open); relayguard serve RSS {fmt(idle['rss_before_kib'] / 1024, 1)} MiB "
                     f"before, {fmt(idle['rss_idle_kib'] / 1024, 1)} MiB holding them, peak "
                     f"(VmHWM) {fmt(idle['vm_hwm_kib'] / 1024, 1)} MiB; normal client "
                     f"({idle['client']['accepted']} messages, one session at a time): end of DATA "
                     f"to reply p50 {fmt(idle['client']['latency_ms'].get('p50'), 1)} ms, p99 "
                     f"{fmt(idle['client']['latency_ms'].get('p99'), 1)} ms; whole session "
                     f"p50 {fmt(idle['client']['session_ms'].get('p50'), 1)} ms, p99 "
                     f"{fmt(idle['client']['session_ms'].get('p99'), 1)} ms.")
        p99 = idle["client"]["session_ms"].get("p99")
        ok = (idle["open"] == idle["requested"] and idle["vm_hwm_kib"] < 300 * 1024
              and p99 is not None and p99 < 100
              and idle["client"]["accepted"] == args.idle_messages)
        targets.append(f"{idle['open']:,} idle connections held in "
                       f"{fmt(idle['vm_hwm_kib'] / 1024, 1)} MiB, normal client session p99 "
                       f"{fmt(p99, 1)} ms (target: {idle['requested']:,} in < 300 MiB, < 100 ms: "
                       f"{met(ok)})")
    large = results.get("large")
    if large:
        lines.append("")
        lines.append(f"Large message: one {fmt(large['bytes'] / 1048576, 1)} MiB message "
                     f"({'delivered' if large['delivered'] else 'NOT delivered'}, reply "
                     f"{large['reply']}): relayguard serve VmHWM "
                     f"{fmt(large['vm_hwm_before_kib'] / 1024, 1)} MiB before, "
                     f"{fmt(large['vm_hwm_after_kib'] / 1024, 1)} MiB after "
                     f"(+{fmt((large['vm_hwm_after_kib'] - large['vm_hwm_before_kib']) / 1024, 1)}"
                     " MiB, mapped file pages included); anonymous memory (RssAnon, sampled every "
                     f"2 ms) {fmt(large['rss_anon_before_kib'] / 1024, 1)} MiB before, peak "
                     f"{fmt(large['rss_anon_peak_kib'] / 1024, 1)} MiB (+"
                     f"{fmt((large['rss_anon_peak_kib'] - large['rss_anon_before_kib']) / 1024, 1)}"
                     " MiB).")
        for pair, other in results.get("large_by_pair", {}).items():
            grew = other["vm_hwm_after_kib"] - other["vm_hwm_before_kib"]
            lines.append(f"The same message with the `{pair}` pipeline: VmHWM "
                         f"+{fmt(grew / 1024, 1)} MiB ({grew * 1024 / other['bytes']:.2f}× its "
                         f"size), RssAnon +"
                         f"{fmt((other['rss_anon_peak_kib'] - other['rss_anon_before_kib']) / 1024, 1)}"
                         f" MiB ({'delivered' if other['delivered'] else 'NOT delivered'}).")
        growth_kib = large["vm_hwm_after_kib"] - large["vm_hwm_before_kib"]
        # "A bounded buffer": what the process holds (anonymous memory: heap, stacks, private
        # maps) grows by less than a quarter of the message. VmHWM also counts the page cache of
        # the spool files the relay maps to read them back; those pages are the ones writing the
        # message put in the page cache anyway, clean and reclaimable, so it is shown, not judged.
        anon_kib = large["rss_anon_peak_kib"] - large["rss_anon_before_kib"]
        targets.append(f"a {fmt(large['bytes'] / 1048576, 0)} MiB message raised anonymous memory "
                       f"by {fmt(anon_kib / 1024, 1)} MiB, {anon_kib * 1024 / large['bytes']:.2f}× "
                       f"its size (peak resident memory with mapped file pages: +"
                       f"{fmt(growth_kib / 1024, 1)} MiB, {growth_kib * 1024 / large['bytes']:.2f}×)"
                       f" (target: bounded buffer, taken as anonymous memory < 0.25×: "
                       f"{met(anon_kib * 1024 < large['bytes'] / 4)})")
    if targets:
        lines.append("")
        lines.append("Targets: " + "; ".join(targets) + ".")
    print("\n".join(lines))


# ---------------------------------------------------------------- modes


def run_ceiling(args, loadgen, sink, messages):
    out = {}
    for size in args.sizes:
        load = run_load(loadgen, sink.port, messages[size], args.messages, args.concurrency)
        entry = {"loadgen_per_s": load["accept_per_s"],
                 "loadgen_cpu_ms_per_msg": (load["cpu"]["user_s"] + load["cpu"]["sys_s"]) * 1000
                 / max(1, load["accepted"])}
        if shutil.which("smtp-source"):
            t0 = time.monotonic()
            subprocess.run(["smtp-source", "-s", str(args.concurrency), "-m", str(args.messages),
                            "-l", str(size), "-f", f"bench@{DOMAIN}", "-t", "sink@sink.test",
                            f"127.0.0.1:{sink.port}"], check=True, capture_output=True)
            entry["smtp_source_per_s"] = args.messages / (time.monotonic() - t0)
        out[str(size)] = entry
        log(f"ceiling {size_label(size)}: loadgen {entry['loadgen_per_s']:.0f} msg/s"
            + (f", smtp-source {entry['smtp_source_per_s']:.0f} msg/s"
               if "smtp_source_per_s" in entry else ""))
    return out


def run_throughput(args, ctx, results):
    for pair in args.pairs:
        for size in args.sizes:
            key = f"{pair}/{size}"
            raw = results["raw"].setdefault(key, {"postfix": [], "relayguard": []})
            for rep in range(args.reps):
                # Alternate which relay goes first so that drift hits both alike.
                order = ["postfix", "relayguard"] if rep % 2 == 0 else ["relayguard", "postfix"]
                order = [r for r in order if r in args.relays]
                for relay_name in order:
                    if relay_name == "postfix":
                        relay = start_postfix(ctx["work"], ctx["sink"].port, pair, ctx["key"],
                                              ctx["clamav_db"])
                    else:
                        stages = [s for s in PAIRS[pair][1] if s != "dkim" or ctx["dkim"]]
                        rules = write_rules(ctx["work"], stages, ctx["key"], ctx["clamav_db"])
                        relay = Relayguard(ctx["relayguard"], ctx["work"], ctx["sink"].port,
                                           rules)
                    try:
                        r = measure(relay, ctx["sink"], ctx["loadgen"], ctx["messages"][size],
                                    args.messages, args.concurrency, args.warmup)
                    finally:
                        relay.stop()
                    raw[relay_name].append(r)
                    log(f"{key} rep {rep + 1} {relay_name}: accepted {r['accept_per_s']:.0f}/s "
                        f"e2e {fmt(r['e2e_per_s'])}/s p99 {fmt(r['latency_ms'].get('p99'), 1)} ms "
                        f"cpu {fmt(r['cpu_ms_per_msg'], 2)} ms/msg "
                        f"mem {r['peak_mem_kib'] / 1024:.1f} MiB"
                        + (f" replies {r['replies']} errors {r['errors']}"
                           if r["errors"] or r["delivered"] != r["accepted"] else ""))
            results["summary"][key] = {n: summarize(raw[n]) for n in ("postfix", "relayguard")
                                       if raw[n]}


def run_idle(args, ctx):
    stages = [s for s in PAIRS["full"][1] if s != "dkim" or ctx["dkim"]]
    rules = write_rules(ctx["work"], stages, ctx["key"], ctx["clamav_db"])
    relay = Relayguard(ctx["relayguard"], ctx["work"], ctx["sink"].port, rules, idle=True)
    pid = relay.serve_pid()
    try:
        # A short warm-up so that the "before" figure is a relay that has done work.
        run_load(ctx["loadgen"], relay.port, ctx["messages"][4096], 40, 4)
        rss_before = read_status_kib(pid, "VmRSS")
        # Spread over 127.0.0.2.. so that no per-address limit is what is being measured.
        sources = [f"127.0.0.{i}" for i in range(2, 2 + max(1, args.idle_connections // 250))]
        cmd = [ctx["loadgen"], "idle", "--connect", f"127.0.0.1:{relay.port}", "--connections",
               str(args.idle_connections), "--concurrency", "200", "--ehlo"]
        for s in sources:
            cmd += ["--source", s]
        idle = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        opened = json.loads(idle.stdout.readline())
        log(f"idle: {opened['open']} open, {opened['failed']} failed {opened['errors']}")
        time.sleep(2)
        rss_idle = read_status_kib(pid, "VmRSS")
        client = run_load(ctx["loadgen"], relay.port, ctx["messages"][4096], args.idle_messages,
                          1, sources=["127.0.0.1"])
        idle.stdin.write("?\n")
        idle.stdin.flush()
        held = json.loads(idle.stdout.readline())
        out = {"requested": args.idle_connections, "open": held["open"],
               "failed": held["failed"], "closed_by_peer": held["closed_by_peer"],
               "errors": held["errors"], "banner_ms": held["banner_ms"],
               "rss_before_kib": rss_before, "rss_idle_kib": rss_idle,
               "rss_after_kib": read_status_kib(pid, "VmRSS"),
               "vm_hwm_kib": read_status_kib(pid, "VmHWM"),
               "client": {k: client[k] for k in ("accepted", "replies", "errors", "latency_ms",
                                                  "session_ms")}}
        idle.stdin.close()
        idle.wait(timeout=60)
        log(f"idle: held {out['open']}, RSS {rss_idle / 1024:.1f} MiB, client p99 "
            f"{fmt(client['latency_ms'].get('p99'), 1)} ms")
        return out
    finally:
        relay.stop()


class AnonPeak:
    """Samples the process's anonymous memory (RssAnon: heap, stacks, private mappings) every
    few milliseconds while in use. VmHWM also counts file pages the process has mapped, such as
    a spilled message read back through a mapping, which are page cache the kernel can reclaim;
    RssAnon is what the process holds. The kernel keeps no peak of it, hence the sampling."""

    def __init__(self, pid, interval=0.002):
        self.pid, self.interval, self.peak = pid, interval, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, read_status_kib(self.pid, "RssAnon") or 0)
            time.sleep(self.interval)

    def __enter__(self):
        self.peak = read_status_kib(self.pid, "RssAnon") or 0
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def run_large(args, ctx, pair="full"):
    stages = [s for s in PAIRS[pair][1] if s != "dkim" or ctx["dkim"]]
    rules = write_rules(ctx["work"], stages, ctx["key"], ctx["clamav_db"])
    big = make_message(os.path.join(ctx["work"], "large.eml"), args.large_bytes, 25)
    relay = Relayguard(ctx["relayguard"], ctx["work"], ctx["sink"].port, rules,
                       max_message_mib=max(30, args.large_bytes // 1048576 + 2))
    pid = relay.serve_pid()
    try:
        base = ctx["sink"].status()["messages"]
        warm = run_load(ctx["loadgen"], relay.port, ctx["messages"][4096], 100, 20)
        ctx["sink"].wait_count(base + warm["accepted"], stall_timeout=60)
        before = read_status_kib(pid, "VmHWM")
        anon_before = read_status_kib(pid, "RssAnon")
        base = ctx["sink"].status()["messages"]
        with AnonPeak(pid) as anon:
            load = run_load(ctx["loadgen"], relay.port, big, 1, 1)
            done = ctx["sink"].wait_count(base + load["accepted"], stall_timeout=60)
        after = read_status_kib(pid, "VmHWM")
        out = {"bytes": os.path.getsize(big), "reply": load["replies"], "errors": load["errors"],
               "delivered": done["messages"] - base, "vm_hwm_before_kib": before,
               "vm_hwm_after_kib": after, "rss_anon_before_kib": anon_before,
               "rss_anon_peak_kib": anon.peak, "latency_ms": load["latency_ms"]}
        log(f"large ({pair}): VmHWM {before / 1024:.1f} -> {after / 1024:.1f} MiB, RssAnon "
            f"{anon_before / 1024:.1f} -> peak {anon.peak / 1024:.1f} MiB, reply {load['replies']}")
        return out
    finally:
        relay.stop()


def main():
    global SCRATCH_PARENT
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build-dir", default=os.path.join(ROOT, "build"))
    ap.add_argument("--loadgen", help="the load tool (default: BUILD/bench/relayguard-loadgen)")
    ap.add_argument("--quick", action="store_true",
                    help="smoke test: 1 repetition, 300 messages, 1,000 idle connections")
    ap.add_argument("--reps", type=int)
    ap.add_argument("--messages", type=int, help="messages per measured run")
    ap.add_argument("--warmup", type=int, help="messages sent before each measured run")
    ap.add_argument("--concurrency", type=int, default=20)
    ap.add_argument("--pairs", default="none,dkim,av,full")
    ap.add_argument("--sizes", default="4096,102400")
    ap.add_argument("--relays", default="postfix,relayguard",
                    help="relayguard alone while tuning it (no ratios then)")
    ap.add_argument("--idle-connections", type=int)
    ap.add_argument("--idle-messages", type=int)
    ap.add_argument("--large-bytes", type=int, default=25 * 1024 * 1024 - 64 * 1024)
    ap.add_argument("--skip-throughput", action="store_true")
    ap.add_argument("--skip-idle", action="store_true")
    ap.add_argument("--skip-large", action="store_true")
    ap.add_argument("--large-pairs", default="none,av",
                    help="pipelines the large message also goes through, besides full")
    ap.add_argument("--json", default="bench-results.json", help="raw numbers (default: %(default)s)")
    ap.add_argument("--keep", action="store_true", help="keep the work directory (logs, configs)")
    ap.add_argument("--scratch-on-disk", action="store_true",
                    help="ClamAV's scratch files (clamd and relayguard alike) below the work "
                    f"directory instead of on {SCRATCH_PARENT}")
    args = ap.parse_args()
    quick = args.quick
    if args.scratch_on_disk:
        SCRATCH_PARENT = None
    args.reps = args.reps or (1 if quick else 3)
    args.messages = args.messages or (300 if quick else 5000)
    args.warmup = args.warmup or (40 if quick else 200)
    args.idle_connections = args.idle_connections or (1000 if quick else 10000)
    args.idle_messages = args.idle_messages or (50 if quick else 500)
    args.pairs = [p for p in args.pairs.split(",") if p]
    args.sizes = [int(s) for s in args.sizes.split(",") if s]
    args.relays = [r for r in args.relays.split(",") if r]
    if not set(args.relays) <= {"postfix", "relayguard"}:
        ap.error("--relays: postfix and/or relayguard")
    for p in args.pairs:
        if p not in PAIRS:
            ap.error(f"unknown pair {p}: choose from {', '.join(PAIRS)}")

    # SIGTERM unwinds like Ctrl-C, so that every relay, milter and Postfix instance is stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if os.geteuid() != 0:
        sys.exit("compare.py: run as root (Postfix's master needs it)")
    relayguard = os.path.join(os.path.abspath(args.build_dir), "relayguard")
    loadgen = os.path.abspath(args.loadgen) if args.loadgen else os.path.join(
        os.path.abspath(args.build_dir), "bench", "relayguard-loadgen")
    for path in (relayguard, loadgen):
        if not os.access(path, os.X_OK):
            sys.exit(f"compare.py: {path} is missing: build it first (cmake --build BUILD "
                     "--target relayguard relayguard-loadgen); this script never builds")
    for tool in ("postfix", "postconf", "opendkim", "clamd", "clamav-milter"):
        if not shutil.which(tool):
            sys.exit(f"compare.py: {tool} not found: run bench/setup.sh first")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if hard < args.idle_connections + 1000 and not args.skip_idle:
        log(f"warning: RLIMIT_NOFILE hard limit {hard} is below {args.idle_connections} idle "
            "connections")

    work = tempfile.mkdtemp(prefix="rg-compare-")
    os.chmod(work, 0o755)  # Postfix's daemons (user postfix) must reach their queue below it
    log(f"work directory {work}")
    clamav_db = os.path.join(work, "clamav-db")
    os.makedirs(clamav_db)
    for name in os.listdir(os.path.join(ROOT, "samples", "clamav")):
        if name.endswith((".ndb", ".hdb", ".hsb", ".ldb", ".cvd", ".cld")):
            shutil.copy(os.path.join(ROOT, "samples", "clamav", name), clamav_db)
    os.chmod(clamav_db, 0o755)
    key, has_dkim = make_dkim_key(relayguard, work)
    if not has_dkim:
        log("WARNING: DKIM stage not available in this build: relayguard runs without it")
    messages = {s: make_message(os.path.join(work, f"msg-{s}.eml"), s, s)
                for s in sorted(set(args.sizes + [4096]))}
    postfix_version = subprocess.run(["postconf", "-d", "-h", "mail_version"],
                                     capture_output=True, text=True).stdout.strip()
    meta = {"date": time.strftime("%Y-%m-%d %H:%M %Z"),
            "machine": f"{os.cpu_count()} CPUs, load average at start "
                       f"{os.getloadavg()[0]:.1f}, Postfix {postfix_version}",
            "dkim_stage": has_dkim, "quick": quick, "args": vars(args),
            "relayguard": relayguard}
    results = {"meta": meta, "raw": {}, "summary": {}}
    sink = Sink(loadgen, work)
    ctx = {"work": work, "sink": sink, "loadgen": loadgen, "relayguard": relayguard,
           "key": key, "clamav_db": clamav_db, "dkim": has_dkim, "messages": messages}
    try:
        if not args.skip_throughput:
            results["ceiling"] = run_ceiling(args, loadgen, sink, messages)
            run_throughput(args, ctx, results)
        if not args.skip_idle:
            results["idle"] = run_idle(args, ctx)
        if not args.skip_large:
            results["large"] = run_large(args, ctx)
            # The same message through the other pipelines: what the relay itself holds, apart
            # from what a stage's library holds while it works (libclamav's PDF parser).
            results["large_by_pair"] = {p: run_large(args, ctx, p)
                                        for p in args.large_pairs.split(",") if p and p != "full"}
        meta["load_average_at_end"] = os.getloadavg()[0]
    finally:
        sink.close()
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
        log(f"raw numbers in {os.path.abspath(args.json)}")
        remove_scratch(work)
        if args.keep:
            log(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    print_report(results, args, meta)


if __name__ == "__main__":
    main()
