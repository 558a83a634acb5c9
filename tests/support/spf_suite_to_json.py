#!/usr/bin/python3
# spf_suite_to_json: prints the OpenSPF RFC 7208 test suite (rfc7208-tests.yml, shipped gzipped
# by Debian's python3-spf) as JSON for the C++ test: a list of scenarios, each
#   {"description": ..., "tests": {name: {"host", "mailfrom", "helo", "result": [...]}},
#    "zonedata": {name: [{"TXT": "..."} | {"SPF": "..."} | {"A": "..."} | ... | "TIMEOUT"]}}
# Strings keep their bytes: characters above 0x7f are the raw bytes of the YAML file's \x
# escapes, written here as \u00XX (latin-1), which the test turns back into single bytes.
import gzip
import json
import sys

import yaml


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else "/usr/share/doc/python3-spf/rfc7208-tests.yml.gz"
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as f:
        docs = [d for d in yaml.safe_load_all(f) if d]
    out = []
    for doc in docs:
        tests = {}
        for name, t in doc.get("tests", {}).items():
            result = t["result"]
            tests[name] = {
                "host": t["host"],
                "mailfrom": t.get("mailfrom", ""),
                "helo": t.get("helo", ""),
                "result": result if isinstance(result, list) else [result],
            }
        out.append({"description": doc.get("description", ""), "tests": tests,
                    "zonedata": doc.get("zonedata", {}) or {}})
    json.dump(out, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
