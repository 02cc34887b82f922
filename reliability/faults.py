"""
The fault matrix through real Courier: SMTP clients send continuously on
loopback while a fault is applied mid-run; for each fault the counts of
messages sent, accepted, temp-failed, rejected, delivered, lost and
delivered unfiltered against policy.

Policy: the chain refuses attachments named ``*.exe``.  Half the messages
carry ``evil.exe`` (each must be rejected or temp-failed: a delivery is
*unfiltered*), half are clean (each accepted one must be delivered: one
that is not is *lost*).  A temp-fail is fine, the client retries.

    python -m reliability.faults [--messages 300] [--clients 4]
        [--cell NAME ...] [--write RELIABILITY.md]

needs root and Courier (tests/courier.py installs and starts it); prints
one JSON object per cell and, with --write, replaces the table between the
markers in RELIABILITY.md.
"""

import argparse
import itertools
import json
import os
import re
import signal
import threading
import time

from tests import courier

CHAIN = "attachments\n"
RECIPIENT = "alice@" + courier.DOMAIN
SENDER = "client@sender.example"
DELIVERY_WAIT = 60
MARKERS = ("<!-- fault-matrix -->", "<!-- /fault-matrix -->")


def killFilter():
    """SIGKILL every pyfilter process serving Courier, then have
    courierfilter start it again (it does not restart a dead filter)."""
    for pid in courier.filterPids():
        os.kill(pid, signal.SIGKILL)
    time.sleep(1.0)
    courier.stopCourierfilter()
    courier.startCourierfilter()
    courier.waitFor(lambda: courier.socketAnswers(courier.SOCKET), 20,
                    "pyfilter to answer again")


def stopFilters():
    """courierfilter stop (stdin EOF to pyfilter) with messages in flight,
    then start."""
    courier.stopCourierfilter()
    time.sleep(1.0)
    courier.startCourierfilter()
    courier.waitFor(lambda: courier.socketAnswers(courier.SOCKET), 20,
                    "pyfilter to answer again")


#: name → (what it does, the fault, or None for the baseline).
FAULTS = {
    "baseline": ("no fault", None),
    "sigkill": ("pyfilter SIGKILLed mid-run, courierfilter restarted",
                killFilter),
    "courierfilter-stop": ("courierfilter stop with messages in flight, "
                           "then start", stopFilters),
}


class Cell:
    """One run of the matrix: clients sending while a fault strikes."""

    def __init__(self, name, messages, clients):
        self.name = name
        self.messages = messages
        self.clients = clients
        self.numbers = itertools.count()
        self.lock = threading.Lock()
        self.outcomes = []  # (number, evil, code)

    def subject(self, number):
        return f"fault-{self.name}-{number}"

    def client(self):
        while True:
            with self.lock:
                number = next(self.numbers)
            if number >= self.messages:
                return
            evil = number % 2 == 1
            message = courier.makeMessage(
                SENDER, RECIPIENT, subject=self.subject(number),
                attachment="evil.exe" if evil else None)
            try:
                code, _ = courier.send(SENDER, RECIPIENT, message, timeout=60)
            except OSError:
                code = 0
            with self.lock:
                self.outcomes.append((number, evil, code))

    def run(self, fault):
        threads = [threading.Thread(target=self.client, daemon=True)
                   for _ in range(self.clients)]
        started = time.monotonic()
        for thread in threads:
            thread.start()
        if fault is not None:
            while len(self.outcomes) < self.messages // 3:
                time.sleep(0.05)
            fault()
        for thread in threads:
            thread.join(600)
        seconds = time.monotonic() - started
        return self.count(seconds)

    def delivered(self):
        found = set()
        for message in courier.mailbox("alice"):
            match = re.search(rb"Subject: fault-" + re.escape(
                self.name.encode()) + rb"-(\d+)", message)
            if match:
                found.add(int(match.group(1)))
        return found

    def count(self, seconds):
        acceptedClean = {n for n, evil, code in self.outcomes
                         if not evil and 200 <= code < 300}
        deadline = time.monotonic() + DELIVERY_WAIT
        while not acceptedClean <= self.delivered() and \
                time.monotonic() < deadline:
            time.sleep(0.5)
        time.sleep(1.0)
        delivered = self.delivered()
        evil = {n for n, isEvil, _ in self.outcomes if isEvil}
        return {
            "cell": self.name, "fault": FAULTS[self.name][0],
            "sent": len(self.outcomes),
            "accepted": sum(200 <= c < 300 for _, _, c in self.outcomes),
            "tempFailed": sum(not 200 <= c < 300 and not 500 <= c < 600
                              for _, _, c in self.outcomes),
            "rejected": sum(500 <= c < 600 for _, _, c in self.outcomes),
            "delivered": len(delivered),
            "lost": len(acceptedClean - delivered),
            "unfiltered": len(delivered & evil),
            "seconds": round(seconds, 1),
        }


def runCell(name, messages=300, clients=4):
    """
    Install pyfilter in Courier with the policy chain, run one cell.

    @return: the cell's counts (see L{Cell.count}).
    """
    courier.useFilter(CHAIN)
    courier.clearMailboxes()
    return Cell(name, messages, clients).run(FAULTS[name][1])


def table(results):
    lines = ["| fault | sent | accepted | temp-failed | rejected | delivered "
             "| lost | unfiltered | seconds |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        lines.append(f"| {r['fault']} | {r['sent']} | {r['accepted']} | "
                     f"{r['tempFailed']} | {r['rejected']} | {r['delivered']} "
                     f"| {r['lost']} | {r['unfiltered']} | {r['seconds']} |")
    return "\n".join(lines)


def writeTable(path, results):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    start, end = MARKERS
    before, rest = text.split(start, 1)
    after = rest.split(end, 1)[1]
    with open(path, "w", encoding="utf-8") as f:
        f.write(f"{before}{start}\n{table(results)}\n{end}{after}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=300)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--cell", action="append", choices=sorted(FAULTS))
    parser.add_argument("--write", metavar="RELIABILITY.md")
    args = parser.parse_args(argv)
    results = []
    try:
        for name in args.cell or list(FAULTS):
            results.append(runCell(name, args.messages, args.clients))
            print(json.dumps(results[-1]), flush=True)
    finally:
        courier.useFilter(None)
    if args.write:
        writeTable(args.write, results)


if __name__ == "__main__":
    main()
