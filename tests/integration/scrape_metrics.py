#!/usr/bin/python3
# scrape_metrics.py: an independent client for the integration tests. Fetches a relay's /metrics
# over HTTP (urllib), checks the Content-Type of the Prometheus text format 0.0.4, parses the body
# with the official Python client's parser (python3-prometheus-client) and prints every sample as
# one JSON object: {"families": {name: type}, "samples": [{"name", "labels", "value"}]}.
# Exit status 1 (with the reason on stderr) when the response or its format is wrong.
import json
import sys
import urllib.request

from prometheus_client.parser import text_string_to_metric_families


def main():
    with urllib.request.urlopen(sys.argv[1], timeout=10) as response:
        content_type = response.headers.get("Content-Type", "")
        body = response.read().decode("utf-8")
    if not content_type.startswith("text/plain; version=0.0.4"):
        sys.exit("unexpected Content-Type: " + content_type)
    families = {}
    samples = []
    for family in text_string_to_metric_families(body):
        families[family.name] = family.type
        for s in family.samples:
            samples.append({"name": s.name, "labels": s.labels, "value": s.value})
    json.dump({"families": families, "samples": samples}, sys.stdout)


if __name__ == "__main__":
    main()
