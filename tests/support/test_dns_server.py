#!/usr/bin/python3
# test_dns_server: a small authoritative DNS server on loopback for the tests (python3-dnslib).
#
# Usage: test_dns_server.py ZONE.json [--port N]
# Serves the zone over UDP (and TCP) on 127.0.0.1; with port 0 (the default) it picks a free
# port. Once ready it prints "PORT <n>" on stdout. The zone file is JSON:
#   {"ttl": 300,
#    "silent": false,                       # true: never answer anything (resolver timeouts)
#    "names": {"example.test": {"MX": [[10, "mx.example.test"]], "TXT": ["v=spf1 -all"],
#                               "A": ["127.0.0.1"], "AAAA": [], "PTR": [], "CNAME": "x.test"},
#              "slow.example.test": {"TIMEOUT": true}}}   # no answer for this name
# A name that is not listed is NXDOMAIN; a listed name without the asked type is NODATA (with an
# SOA, so that negative answers carry a TTL). SIGHUP re-reads the zone file.
import errno
import json
import signal
import socket
import socketserver
import sys
import threading

from dnslib import AAAA, CNAME, MX, PTR, QTYPE, RCODE, RR, SOA, TXT, A, DNSRecord


class Zone:
    def __init__(self, path):
        self.path = path
        self.load()

    def load(self):
        with open(self.path, encoding="utf-8") as f:
            data = json.load(f)
        self.ttl = int(data.get("ttl", 300))
        self.silent = bool(data.get("silent", False))
        self.names = {k.lower().rstrip("."): v for k, v in data.get("names", {}).items()}


def txt_record(value):
    # A TXT record is one or more strings of at most 255 bytes each.
    raw = value.encode("utf-8", "surrogateescape") if isinstance(value, str) else value
    chunks = [raw[i:i + 255] for i in range(0, len(raw), 255)] or [b""]
    return TXT(chunks)


def answer(zone, data):
    request = DNSRecord.parse(data)
    reply = request.reply()
    reply.header.ra = 1
    q = request.q
    name = str(q.qname).lower().rstrip(".")
    qtype = QTYPE[q.qtype]
    seen = set()
    while True:
        entry = zone.names.get(name)
        if entry is None:
            if not reply.rr:
                reply.header.rcode = RCODE.NXDOMAIN
                reply.add_auth(soa(zone, name))
            return reply.pack()
        if entry.get("TIMEOUT"):
            return None
        if "CNAME" in entry and qtype != "CNAME" and name not in seen:
            seen.add(name)
            target = entry["CNAME"].rstrip(".")
            reply.add_answer(RR(name + ".", QTYPE.CNAME, ttl=zone.ttl, rdata=CNAME(target + ".")))
            name = target.lower()
            continue
        break
    for value in entry.get(qtype, []) if qtype != "CNAME" else (
            [entry["CNAME"]] if "CNAME" in entry else []):
        if qtype == "A":
            rdata = A(value)
        elif qtype == "AAAA":
            rdata = AAAA(value)
        elif qtype == "MX":
            rdata = MX(value[1].rstrip(".") + "." if value[1] != "." else ".", int(value[0]))
        elif qtype == "TXT":
            rdata = txt_record(value)
        elif qtype == "PTR":
            rdata = PTR(value.rstrip(".") + ".")
        elif qtype == "CNAME":
            rdata = CNAME(value.rstrip(".") + ".")
        else:
            continue
        reply.add_answer(RR(name + ".", q.qtype, ttl=zone.ttl, rdata=rdata))
    if not reply.rr:
        reply.add_auth(soa(zone, name))
    return reply.pack()


def soa(zone, name):
    apex = ".".join(name.split(".")[-2:]) + "."
    return RR(apex, QTYPE.SOA, ttl=zone.ttl,
              rdata=SOA("ns." + apex, "hostmaster." + apex, (1, 3600, 600, 86400, zone.ttl)))


def bind_pair(port, handler):
    """A UDP socket and a TCP server on the same loopback port. With port 0 the kernel picks the
    UDP port, and that number may be taken for TCP (by another test's server or an outgoing
    connection's ephemeral port): then both are closed and another port is tried."""
    for _ in range(100):
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        udp.bind(("127.0.0.1", port))
        try:
            return udp, socketserver.ThreadingTCPServer(("127.0.0.1", udp.getsockname()[1]),
                                                        handler)
        except OSError as e:
            udp.close()
            if port != 0 or e.errno != errno.EADDRINUSE:
                raise
    raise OSError(errno.EADDRINUSE, "no loopback port free for both UDP and TCP")


def serve(zone, port):
    class TcpHandler(socketserver.BaseRequestHandler):
        def handle(self):
            head = self.request.recv(2)
            if len(head) < 2:
                return
            size = int.from_bytes(head, "big")
            data = b""
            while len(data) < size:
                chunk = self.request.recv(size - len(data))
                if not chunk:
                    return
                data += chunk
            if zone.silent:
                return
            out = answer(zone, data)
            if out is not None:
                self.request.sendall(len(out).to_bytes(2, "big") + out)

    socketserver.TCPServer.allow_reuse_address = True
    udp, tcp = bind_pair(port, TcpHandler)
    port = udp.getsockname()[1]
    threading.Thread(target=tcp.serve_forever, daemon=True).start()
    print("PORT %d" % port, flush=True)
    while True:
        data, peer = udp.recvfrom(4096)
        if zone.silent:
            continue
        try:
            out = answer(zone, data)
        except Exception as e:  # a malformed query: no answer, as a real server might
            print("error: %s" % e, file=sys.stderr, flush=True)
            continue
        if out is not None:
            udp.sendto(out, peer)


def main():
    if len(sys.argv) < 2:
        print("usage: test_dns_server.py ZONE.json [--port N]", file=sys.stderr)
        return 2
    port = 0
    if "--port" in sys.argv:
        port = int(sys.argv[sys.argv.index("--port") + 1])
    zone = Zone(sys.argv[1])
    reloads = [0]

    def reload(*_):
        zone.load()
        reloads[0] += 1
        print("RELOADED %d" % reloads[0], flush=True)  # TestDnsServer::update() waits for it

    signal.signal(signal.SIGHUP, reload)
    serve(zone, port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
