#!/usr/bin/env bash
# demo.sh: sets up and builds relayguard, then runs the relay on samples/relayguard.toml with a
# `relayguard sink` beside it as the smart host, sends one test message through it, and keeps
# the relay running in the foreground (Ctrl-C stops both). Delivered mail lands in
# samples/sink-maildir/ as one .eml file per message, DKIM-signed for example.test with a key made
# on the first run (samples/rules/keys/, never committed).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/build.sh" relayguard
bin="$root/build/relayguard"
config="$root/samples/relayguard.toml"
maildir="$root/samples/sink-maildir"

# The sample pipeline signs mail of example.test with this key; the repository holds no private
# key, so the demo makes one on its first run (publish the printed TXT record for a real domain).
key="$root/samples/rules/keys/example.test.s1.pem"
if [[ ! -f "$key" ]]; then
  mkdir -p -m 0700 "$(dirname "$key")"
  "$bin" dkim keygen --domain example.test --selector s1 --out "$key"
fi
"$bin" check --config "$config"
"$bin" sink --listen 127.0.0.1:2526 --maildir "$maildir" &
sink=$!
"$bin" serve --config "$config" &
relay=$!
trap 'kill $relay $sink 2>/dev/null; wait $relay $sink 2>/dev/null' EXIT INT TERM

for _ in $(seq 50); do
  (exec 3<>/dev/tcp/127.0.0.1/2525) 2>/dev/null && break
  sleep 0.1
done
for pid in $sink $relay; do
  if ! kill -0 "$pid" 2>/dev/null; then
    echo "demo: a process failed to start (is port 2525 or 2526 already in use?)" >&2
    exit 1
  fi
done
swaks --silent 1 --server 127.0.0.1:2525 --from app@example.test --to someone@example.test \
  --header "Subject: relayguard demo" --body "Hello from relayguard." || true
sleep 1
echo
echo "relayguard is relaying on 127.0.0.1:2525 into the sink at 127.0.0.1:2526."
echo "Delivered messages: $maildir"
ls -1 "$maildir" 2>/dev/null | sed 's/^/  /'
echo "Send more with: swaks --server 127.0.0.1:2525 --from a@example.test --to b@example.test"
echo "Queue: $bin queue list --config $config     Stop: Ctrl-C"
wait $relay
