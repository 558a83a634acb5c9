#!/usr/bin/python3
"""dkim_verify: checks every DKIM-Signature field of a message with dkimpy (Debian's
python3-dkim; python3-nacl for ed25519), an implementation independent of libopendkim.

usage: dkim_verify.py MESSAGE_FILE NAME=TXT [NAME=TXT ...]
  NAME is the DNS name of a key record (s1._domainkey.example.test), TXT its text; these are
  the only records the verifier can see.

Prints one line per signature, in field order: "pass d=D s=S a=A" or "fail d=D s=S a=A".
Exit status: 0 when the message has at least one signature and every one passes, 1 otherwise.
"""
import sys

import dkim


def main():
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    with open(sys.argv[1], "rb") as f:
        message = f.read()
    records = {}
    for arg in sys.argv[2:]:
        name, _, txt = arg.partition("=")
        records[name.rstrip(".").lower() + "."] = txt.encode()

    def dnsfunc(name, timeout=5):
        key = name.decode() if isinstance(name, bytes) else name
        return records.get(key.lower())

    d = dkim.DKIM(message)
    count = 0
    ok = True
    for idx, (field_name, value) in enumerate(
            (n, v) for n, v in d.headers if n.lower() == b"dkim-signature"):
        count += 1
        tags = dkim.util.parse_tag_value(value)
        label = "d=%s s=%s a=%s" % (tags.get(b"d", b"").decode(), tags.get(b"s", b"").decode(),
                                    tags.get(b"a", b"").decode())
        try:
            passed = d.verify(idx=idx, dnsfunc=dnsfunc)
        except dkim.DKIMException as e:
            passed = False
            label += " (%s)" % e
        print(("pass " if passed else "fail ") + label)
        ok = ok and passed
    return 0 if count > 0 and ok else 1


if __name__ == "__main__":
    sys.exit(main())
