"""
The fault matrix through real Courier: SMTP clients send continuously on
loopback while a fault is applied mid-run; for each fault the counts of
messages sent, accepted, temp-failed, rejected, delivered, lost and
delivered unfiltered against policy.

Policy: the chain refuses attachments named ``*.exe`` (the clamd and
spamd cells: clamd's test virus, SpamAssassin's GTUBE; the rspamd cells:
GTUBE, which rspamd rejects; the slapd and
authdaemond cells: a sender privateaddr or localsenders refuses).  Half the
messages violate it (each must be rejected or temp-failed: a delivery is
*unfiltered*), half are clean (each accepted one must be delivered: one
that is not is *lost*).  In the PostgreSQL cell (greylist) a message
violates the policy when its whole SMTP transaction fell within the
outage: the store could not be asked, so it must not be accepted.  A
temp-fail is fine, the client retries.

    python -m reliability.faults [--messages 300] [--clients 4]
        [--cell NAME ...] [--write RELIABILITY.md]

needs root and Courier (tests/courier.py installs and starts it); prints
one JSON object per cell and, with --write, records them in
reliability/faults.json (cells not run keep their last counts) and
replaces the table between the markers in RELIABILITY.md.
"""

import argparse
import itertools
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from email.message import EmailMessage

from tests import courier, postgres, rspamd, services

CHAIN = "attachments\n"
OUTAGE_SECONDS = 5
GTUBE = ("XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*"
         "C.34X\n")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RECIPIENT = "alice@" + courier.DOMAIN
SENDER = "client@sender.example"
DELIVERY_WAIT = 60
#: The rspamd filter's timeout in its cells (the hung cell waits it out).
RSPAMD_TIMEOUT = 3
#: Every cell's last counts, from which the table is written.
RECORD = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                      "faults.json")
MARKERS = ("<!-- fault-matrix -->", "<!-- /fault-matrix -->")


def waitForFilter():
    courier.waitFor(lambda: courier.socketAnswers(courier.SOCKET), 20,
                    "pyfilter to answer again")


def killFilter(cell):
    """SIGKILL every pyfilter process serving Courier, then have
    courierfilter start it again (it does not restart a dead filter)."""
    for pid in courier.filterPids():
        os.kill(pid, signal.SIGKILL)
    time.sleep(1.0)
    courier.stopCourierfilter()
    courier.startCourierfilter()
    waitForFilter()


def stopFilters(cell):
    """courierfilter stop (stdin EOF to pyfilter) with messages in flight,
    then start."""
    courier.stopCourierfilter()
    time.sleep(1.0)
    courier.startCourierfilter()
    waitForFilter()


def serviceDown(cell):
    """The cell's service (clamd, spamd, PostgreSQL, slapd, authdaemond)
    stopped for a few seconds mid-run, then started again; the outage is
    kept as C{cell.outage}, C{(stopped, restarting)} monotonic times."""
    cell.service.pause()
    stopped = time.monotonic()
    time.sleep(OUTAGE_SECONDS)
    cell.outage = (stopped, time.monotonic())
    cell.service.start()


def dnsDown(cell):
    """The DNS server replaced by one that never answers for a few
    seconds mid-run, then back."""
    cell.dns.restart(silent=True)
    time.sleep(OUTAGE_SECONDS)
    cell.dns.restart(silent=False)


def attachmentMessage(subject, evil):
    return courier.makeMessage(SENDER, RECIPIENT, subject=subject,
                               attachment="evil.exe" if evil else None)


def plainMessage(subject, evil):
    return courier.makeMessage(SENDER, RECIPIENT, subject=subject)


def usualEnvelope(evil):
    return SENDER, RECIPIENT


def strangerEnvelope(evil):
    """A sender the private recipient does not allow when C{evil}."""
    return ("stranger@sender.example" if evil else SENDER), RECIPIENT


def localEnvelope(evil):
    """A local sender authdaemond does not know when C{evil}."""
    return (f"nobody@{courier.DOMAIN}" if evil
            else f"bob@{courier.DOMAIN}"), RECIPIENT


def violatesContent(cell, evil, started, finished):
    return evil


def acceptedInOutage(cell, evil, started, finished):
    """Whether the transaction fell wholly within the cell's outage."""
    stopped, restarting = cell.outage
    return stopped <= started and finished <= restarting


def spamMessage(subject, evil):
    """A message holding SpamAssassin's GTUBE test string when C{evil}."""
    message = EmailMessage()
    message["From"] = SENDER
    message["To"] = RECIPIENT
    message["Subject"] = subject
    message.set_content(GTUBE if evil else "Nothing to see.\n")
    return message.as_bytes()


def virusMessage(subject, evil):
    """A message whose body is clamd's test signature when C{evil}."""
    message = EmailMessage()
    message["From"] = SENDER
    message["To"] = RECIPIENT
    message["Subject"] = subject
    if evil:
        with open(services.SIGNED_FILE) as f:
            message.set_content(f.read())
    else:
        message.set_content("Nothing to see.\n")
    return message.as_bytes()


class Fault:
    """
    One row of the matrix: what it does, the fault applied mid-run
    (C{strike(cell)}, C{None} for the baseline), the message maker giving
    clean or policy-violating messages and C{envelope(evil)} their sender
    and recipient, C{violates(cell, evil, started, finished)} telling
    whether a message breaks the policy, the chain, and either the modules
    text or C{service(cell)} starting a service and returning the modules
    text, extra daemon arguments and a function stopping the service.
    """

    def __init__(self, description, strike, makeMessage=attachmentMessage,
                 chain=CHAIN, modules="", service=None,
                 envelope=usualEnvelope, violates=violatesContent):
        self.description = description
        self.strike = strike
        self.makeMessage = makeMessage
        self.chain = chain
        self.modules = modules
        self.service = service
        self.envelope = envelope
        self.violates = violates


def clamdService(cell):
    """Start a clamd for the cell; return the modules text using it and
    what stops it."""
    cell.service = services.Clamd(parent=courier.STATE).start()
    return (f"[clamav.py]\nlocal_socket = {cell.service.socketPath!r}\n"
            f"clamd_timeout = 5\n", (),
            cell.service.stop)


def spamdService(cell):
    """Start a spamd for the cell; return the modules text using it and
    what stops it."""
    cell.service = services.Spamd(parent=courier.STATE).start()
    return (f"[spamassassin.py]\nspamd_address = {cell.service.address!r}\n"
            f"spamd_timeout = 10\n", (), cell.service.stop)


def rspamdService(cell):
    """Start an rspamd (with its Redis and DNS server) for the cell; return
    the modules text using it and what stops it."""
    cell.service = rspamd.Rspamd().start()
    return (f"[rspamd.py]\nurl = {cell.service.url('')!r}\n"
            f"timeout = {RSPAMD_TIMEOUT}\n", (), cell.service.stop)


def rspamdSignal(cell, number):
    """Send signal C{number} to rspamd's main process and its workers."""
    main = cell.service.process.pid
    subprocess.run(["pkill", f"-{number}", "-P", str(main)], check=False)
    os.kill(main, number)


def rspamdKilled(cell):
    """rspamd and its workers SIGKILLed mid-run, started again a few
    seconds later."""
    rspamdSignal(cell, signal.SIGKILL)
    cell.service.process.wait(10)
    cell.service.pause()
    time.sleep(OUTAGE_SECONDS)
    cell.service.start()


def rspamdHung(cell):
    """rspamd and its workers stopped (SIGSTOP: connections accepted by
    the kernel, never answered) for a few seconds mid-run, then
    continued."""
    rspamdSignal(cell, signal.SIGSTOP)
    time.sleep(OUTAGE_SECONDS)
    rspamdSignal(cell, signal.SIGCONT)


class PostgresService:
    """A L{postgres.PostgresServer} the courier user can reach, with one
    database, stopped (L{pause}) and started like the other services."""

    def __init__(self):
        self.server = postgres.PostgresServer()
        os.chmod(self.server.directory, 0o755)
        self.server.start()
        self.database = self.server.createDatabase()["db"]

    def pause(self):
        self.server.stop()

    def start(self):
        self.server.start()


def postgresService(cell):
    """Start PostgreSQL for greylist's state store (greylist_time 0: every
    message needs the store, only the first of the triplet waits)."""
    cell.service = PostgresService()
    return (cell.service.server.ttldbSection(cell.service.database)
            + "timeout = 2\n[greylist.py]\ngreylist_time = 0\n", (),
            cell.service.server.destroy)


#: An entry making RECIPIENT private, SENDER its one allowed sender.
PRIVATE_ENTRY = f"""dn: uid=alice-private,ou=people,dc=example,dc=test
objectClass: inetOrgPerson
objectClass: pyfilterPrivateAddress
uid: alice-private
cn: Alice private
sn: Alice
mail: {RECIPIENT}
pyfilterAllowedSender: {SENDER}
"""


def slapdService(cell):
    """Start slapd with RECIPIENT private; privateaddr asks it (no
    caching, so every message needs the directory)."""
    cell.service = services.Slapd()
    entry = cell.service.path("private.ldif")
    with open(entry, "w") as f:
        f.write(PRIVATE_ENTRY)
    subprocess.run(["slapadd", "-f", cell.service.path("slapd.conf"), "-l",
                    entry], check=True, capture_output=True, timeout=30)
    cell.service.start()
    return (f"[privateaddr.py]\nldap_url = {cell.service.url!r}\n"
            f"ldap_base_dn = {cell.service.baseDN!r}\n"
            f"ldap_filter = '(&(mail=%s)(uid=alice-private))'\n"
            f"ldap_attribute = 'pyfilterAllowedSender'\n"
            f"ldap_timeout = 2\nldap_cache_ttl = 0.001\n", (),
            cell.service.stop)


def authdaemondService(cell):
    """Start a private courier-authdaemond (its own mount namespace, so
    Courier's authdaemond, which local delivery needs, keeps running);
    localsenders asks it."""
    cell.service = services.Authdaemond().start()
    return (f"[authdaemon.py]\nsocket_path = {cell.service.socketPath!r}\n"
            f"timeout = 2\n", (), cell.service.stop)


class DNSServerProcess:
    """tests/dnsserver.py as a process on a fixed loopback port."""

    def __init__(self):
        self.port = services.freePort()
        self.process = None

    def restart(self, silent):
        self.stop()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.dnsserver", "--port",
             str(self.port)] + (["--silent"] if silent else []),
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=ROOT)
        self.process.stdout.readline()

    def stop(self):
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
            self.process = None


def dnsService(cell):
    """Start the test DNS server; whitelist_dnswl asks it."""
    cell.dns = DNSServerProcess()
    cell.dns.restart(silent=False)
    return ("[whitelist_dnswl.py]\ndnswl_zone = ['first.dnswl.test']\n"
            "dns_timeout = 2\n",
            ("--resolver", f"127.0.0.1:{cell.dns.port}"), cell.dns.stop)


FAULTS = {
    "baseline": Fault("no fault", None),
    "sigkill": Fault("pyfilter SIGKILLed mid-run, courierfilter restarted",
                     killFilter),
    "courierfilter-stop": Fault("courierfilter stop with messages in "
                                "flight, then start", stopFilters),
    "clamd-down": Fault(f"clamd stopped {OUTAGE_SECONDS} s mid-run, then "
                        f"back (policy: the test virus)", serviceDown,
                        virusMessage, "clamav\n", service=clamdService),
    "spamd-down": Fault(f"spamd stopped {OUTAGE_SECONDS} s mid-run, then "
                        f"back (policy: GTUBE)", serviceDown, spamMessage,
                        "spamassassin\n", service=spamdService),
    "rspamd-down": Fault(f"rspamd stopped {OUTAGE_SECONDS} s mid-run, then "
                         f"back (policy: GTUBE)", serviceDown, spamMessage,
                         "rspamd\n", service=rspamdService),
    "rspamd-killed": Fault(f"rspamd SIGKILLed mid-run, started "
                           f"{OUTAGE_SECONDS} s later (policy: GTUBE)",
                           rspamdKilled, spamMessage, "rspamd\n",
                           service=rspamdService),
    "rspamd-hung": Fault(f"rspamd SIGSTOPped {OUTAGE_SECONDS} s mid-run "
                         f"(timeout {RSPAMD_TIMEOUT} s), then continued "
                         f"(policy: GTUBE)", rspamdHung, spamMessage,
                         "rspamd\n", service=rspamdService),
    "dns-down": Fault(f"DNS server silent {OUTAGE_SECONDS} s mid-run, then "
                      f"back (whitelist_dnswl before attachments)", dnsDown,
                      chain="whitelist_dnswl\nattachments\n",
                      service=dnsService),
    "postgres-down": Fault(f"PostgreSQL stopped {OUTAGE_SECONDS} s mid-run, "
                           f"then back (greylist; policy: nothing accepted "
                           f"while the store is down)", serviceDown,
                           plainMessage, "greylist\n",
                           service=postgresService,
                           violates=acceptedInOutage),
    "slapd-down": Fault(f"slapd stopped {OUTAGE_SECONDS} s mid-run, then "
                        f"back (privateaddr; policy: one allowed sender)",
                        serviceDown, plainMessage, "privateaddr\n",
                        service=slapdService, envelope=strangerEnvelope),
    "authdaemond-down": Fault(f"authdaemond stopped {OUTAGE_SECONDS} s "
                              f"mid-run, then back (localsenders; policy: "
                              f"unknown local sender)", serviceDown,
                              plainMessage, "localsenders\n",
                              service=authdaemondService,
                              envelope=localEnvelope),
}


class Cell:
    """One run of the matrix: clients sending while a fault strikes."""

    def __init__(self, name, messages, clients):
        self.name = name
        self.fault = FAULTS[name]
        self.messages = messages
        self.clients = clients
        self.numbers = itertools.count()
        self.lock = threading.Lock()
        self.outcomes = []  # (number, evil, code, started, finished)
        self.outage = None

    def subject(self, number):
        return f"fault-{self.name}-{number}"

    def client(self):
        while True:
            with self.lock:
                number = next(self.numbers)
            if number >= self.messages:
                return
            evil = number % 2 == 1
            message = self.fault.makeMessage(self.subject(number), evil)
            sender, recipient = self.fault.envelope(evil)
            started = time.monotonic()
            try:
                code, _ = courier.send(sender, recipient, message, timeout=60)
            except OSError:
                code = 0
            with self.lock:
                self.outcomes.append((number, evil, code, started,
                                      time.monotonic()))

    def run(self):
        threads = [threading.Thread(target=self.client, daemon=True)
                   for _ in range(self.clients)]
        started = time.monotonic()
        for thread in threads:
            thread.start()
        if self.fault.strike is not None:
            while len(self.outcomes) < self.messages // 3:
                time.sleep(0.05)
            self.fault.strike(self)
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
        outcomes = [(n, self.fault.violates(self, evil, started, finished),
                     code)
                    for n, evil, code, started, finished in self.outcomes]
        acceptedClean = {n for n, evil, code in outcomes
                         if not evil and 200 <= code < 300}
        deadline = time.monotonic() + DELIVERY_WAIT
        while not acceptedClean <= self.delivered() and \
                time.monotonic() < deadline:
            time.sleep(0.5)
        time.sleep(1.0)
        delivered = self.delivered()
        evil = {n for n, isEvil, _ in outcomes if isEvil}
        return {
            "cell": self.name, "fault": self.fault.description,
            "sent": len(outcomes),
            "accepted": sum(200 <= c < 300 for _, _, c in outcomes),
            "tempFailed": sum(not 200 <= c < 300 and not 500 <= c < 600
                              for _, _, c in outcomes),
            "rejected": sum(500 <= c < 600 for _, _, c in outcomes),
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
    cell = Cell(name, messages, clients)
    fault = cell.fault
    modules, extraArgs, stopService = fault.service(cell) \
        if fault.service else (fault.modules, (), lambda: None)
    try:
        courier.useFilter(fault.chain, modules, extraArgs)
        courier.clearMailboxes()
        return cell.run()
    finally:
        stopService()


def table(results):
    lines = ["| fault | sent | accepted | temp-failed | rejected | delivered "
             "| lost | unfiltered | seconds |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        lines.append(f"| {r['fault']} | {r['sent']} | {r['accepted']} | "
                     f"{r['tempFailed']} | {r['rejected']} | {r['delivered']} "
                     f"| {r['lost']} | {r['unfiltered']} | {r['seconds']} |")
    return "\n".join(lines)


def merge(path, results):
    """
    Merge C{results} into the JSON record at C{path} (one entry per cell,
    in matrix order); return every recorded cell.
    """
    try:
        with open(path, encoding="utf-8") as f:
            recorded = {r["cell"]: r for r in json.load(f)}
    except FileNotFoundError:
        recorded = {}
    recorded.update((r["cell"], r) for r in results)
    merged = [recorded[name] for name in FAULTS if name in recorded]
    with open(path, "w", encoding="utf-8") as f:
        json.dump(merged, f, indent=1)
        f.write("\n")
    return merged


def writeTable(path, results):
    """Replace the table between the markers of the file C{path}."""
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
    # Running the fault matrix is the admin's choice to use this machine's
    # Courier, as tools/test.sh's is for the end-to-end tests.
    os.environ[courier.ALLOW_VARIABLE] = "1"
    results = []
    try:
        for name in args.cell or list(FAULTS):
            results.append(runCell(name, args.messages, args.clients))
            print(json.dumps(results[-1]), flush=True)
    finally:
        courier.useFilter(None)
    if args.write:
        writeTable(args.write, merge(RECORD, results))


if __name__ == "__main__":
    main()
