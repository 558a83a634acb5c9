#!/bin/sh
# bench/setup.sh: installs the Debian packages that only the benchmark (bench/compare.py) needs:
# Postfix (the reference relay, and smtp-source/smtp-sink), OpenDKIM and clamav-milter with clamd.
# The packages' own system services are stopped and disabled afterwards: the benchmark starts
# private instances of each under a temporary directory, on loopback ports it picks itself, and
# a system Postfix on port 25 or a system clamd loading the full virus database would only take
# memory and CPU away from the measurement.
set -eu
export DEBIAN_FRONTEND=noninteractive
# Postfix: "No configuration" leaves no main.cf and no instance listening on port 25.
echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
if ! dpkg -s postfix opendkim opendkim-tools clamav-milter clamav-daemon >/dev/null 2>&1; then
    apt-get update
    apt-get install -y --no-install-recommends postfix opendkim opendkim-tools clamav-milter \
        clamav-daemon
fi
for svc in postfix opendkim clamav-milter clamav-daemon clamav-freshclam; do
    if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
        systemctl disable --now "$svc" >/dev/null 2>&1 || true
    elif [ -x "/etc/init.d/$svc" ]; then
        "/etc/init.d/$svc" stop >/dev/null 2>&1 || true
    fi
done
# A system Postfix that a previous configuration left running (its master listens on port 25).
if [ -f /etc/postfix/main.cf ] && postfix status >/dev/null 2>&1; then
    postfix stop || true
fi
echo "bench/setup.sh: postfix $(postconf -d -h mail_version 2>/dev/null || echo '?'), opendkim, clamav-milter installed; system services stopped"
