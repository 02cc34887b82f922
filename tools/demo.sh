#!/bin/bash
# pyfilter in front of a real Courier MTA, on a fresh Debian 12, as root:
#
#   tools/demo.sh
#
# 1. installs Python and Courier (courier-mta, authdaemon) with apt;
# 2. configures Courier as the end-to-end tests do (tests/courier.py):
#    domain example.test, users alice, bob, carol (password "secret"),
#    relaying from 127.0.0.1, a syslog receiver when none runs;
# 3. creates the venv /opt/pyfilter with Debian's /usr/bin/python3 and
#    installs this checkout into it;
# 4. copies etc/pyfilter.conf and etc/pyfilter-modules.conf to /etc unless
#    they exist there (an admin's files are never overwritten);
# 5. starts Courier and runs `pyfilter courier-install` (state in
#    /var/lib/pyfilter);
# 6. sends a plain message (expected: ACCEPTED and delivered to alice) and
#    one carrying evil.exe (expected: REJECTED with 554).
#
# Exits 0 only when both outcomes are as expected.  Courier and pyfilter are
# left running; `python3 tests/courier.py stop` stops Courier.  Every long
# step runs under timeout.
set -euo pipefail

CHECKOUT=$(cd "$(dirname "$0")/.." && pwd)
VENV=/opt/pyfilter
STATE_DIR=/var/lib/pyfilter
HARNESS="$CHECKOUT/tests/courier.py"
SENDER=carol@example.test
RECIPIENT=alice@example.test

step() { printf '\n== %s\n' "$*"; }
die() { printf 'demo.sh: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "run me as root (I install packages and configure Courier)"
command -v apt-get >/dev/null || die "this demo needs Debian (apt-get)"

step "Python (apt)"
export DEBIAN_FRONTEND=noninteractive
if ! dpkg-query -W -f='${Status}\n' python3 python3-venv python3-gdbm 2>/dev/null \
        | grep -c '^install ok installed$' | grep -qx 3; then
    timeout 300 apt-get update -q
    timeout 600 apt-get install -y -q --no-install-recommends \
        python3 python3-venv python3-gdbm
fi

step "Courier: install and configure"
timeout 900 python3 "$HARNESS" install
timeout 120 python3 "$HARNESS" configure

step "pyfilter: venv $VENV"
[ -x "$VENV/bin/python" ] || timeout 120 /usr/bin/python3 -m venv "$VENV"
timeout 900 "$VENV/bin/pip" install -q --disable-pip-version-check "$CHECKOUT"

step "pyfilter: configuration"
for file in pyfilter.conf pyfilter-modules.conf; do
    if [ -e "/etc/$file" ]; then
        echo "/etc/$file exists: kept as it is"
    else
        install -m 0644 "$CHECKOUT/etc/$file" "/etc/$file"
        echo "installed /etc/$file"
    fi
done

step "Courier: start"
timeout 180 python3 "$HARNESS" start

step "pyfilter: courier-install"
timeout 180 "$VENV/bin/pyfilter" courier-install --state-dir "$STATE_DIR"

failed=0
step "A plain message (expected: accepted and delivered)"
if ! timeout 60 python3 "$HARNESS" send "$SENDER" "$RECIPIENT" \
        --delivered-to alice; then
    echo "UNEXPECTED: the plain message was not accepted and delivered"
    failed=1
fi

step "A message carrying evil.exe (expected: rejected with 554)"
reply=$(timeout 60 python3 "$HARNESS" send "$SENDER" "$RECIPIENT" \
        --attach evil.exe) || true
echo "$reply"
case "$reply" in
    "REJECTED: 554 "*) ;;
    *) echo "UNEXPECTED: the message with evil.exe was not rejected with 554"
       failed=1;;
esac

step "Result"
if [ "$failed" = 0 ]; then
    echo "demo passed: pyfilter filters Courier's mail (chain /etc/pyfilter.conf)"
else
    echo "demo FAILED; Courier's log:"
    timeout 30 python3 "$HARNESS" log || true
fi
echo "Courier and pyfilter are running; stop Courier with: python3 $HARNESS stop"
exit "$failed"
