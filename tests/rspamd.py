"""
A real rspamd for tests: Debian's rspamd started in a temporary directory
with the suite's own configuration (tests/fixtures/rspamd/rspamd.conf, see
its comments), and what it needs beside it:

  - a private redis-server on a UNIX socket, no persistence (the Bayes
    statistics that learning through the controller writes);
  - the suite's DNS server (L{tests.dnsserver}, as a process) as its
    resolver, so a lookup gets a quick answer and never leaves the machine;
  - a DKIM key made at start-up with C{rspamadm dkim_keygen}: authenticated
    senders of L{SIGNING_DOMAIN} are signed with it, inbound mail for
    L{ARC_DOMAIN} is ARC-sealed with it (L{Rspamd.dkimRecord} is its DNS
    record, for verifying).

The normal worker and the controller listen on free loopback ports; the
controller's read-only password is L{Rspamd.password}, the one that may
learn is L{Rspamd.enablePassword}.  Run as root, rspamd's workers run as
Debian's C{_rspamd} user (rspamd refuses to run workers as root), so the
instance's directory belongs to that user and a message handed over by
path (rspamd's C{File} header) must be readable by it.

Test messages choose their verdict: rspamd's GTUBE and its test patterns
(L{TEST_PATTERNS}), and the header fields of the suite's rules
(tests/fixtures/rspamd/pyfilter_test.lua): C{X-Pyfilter-Test-Score},
C{X-Pyfilter-Test-Action} (with C{X-Pyfilter-Test-Message}) and
C{X-Pyfilter-Test-Milter}.  Settings-Id C{pyfilter-strict} rejects from a
score of 2.

Tests get the instance with C{services.shared(Rspamd)}; a machine without
rspamd or redis-server skips them.
"""

import os
import pwd
import re
import shutil
import subprocess
import sys
import time

from twisted.trial.unittest import SkipTest

from tests.helpers import askSocket
from tests.services import (
    FIXTURES, GTUBE, STARTUP_DEADLINE, Daemon, _require, freePort)

RSPAMD_FIXTURES = os.path.join(FIXTURES, "rspamd")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

#: The user Debian's package runs rspamd as.
RSPAMD_USER = "_rspamd"

#: Authenticated senders of this domain are DKIM-signed.
SIGNING_DOMAIN = "example.test"

#: Inbound mail for this domain is ARC-sealed.
ARC_DOMAIN = "forward.test"

#: The DKIM and ARC selector.
SELECTOR = "pyfilter"

#: rspamd's test patterns (GTUBE's variants; the configuration enables
#: them): the action each one gives.
TEST_PATTERNS = {
    "reject": GTUBE,
    "add header": b"Y" + GTUBE[1:],
    "rewrite subject": b"Z" + GTUBE[1:],
    "no action": b"A" + GTUBE[1:],
}

#: The SMTP message rspamd gives with a test pattern's action.
TEST_PATTERN_MESSAGE = "Gtube pattern"


class Redis(Daemon):
    """
    redis-server on a UNIX socket (C{socketPath}, usable by every user), no
    TCP port, nothing saved.
    """

    name = "redis"

    def __init__(self, parent=None):
        _require("redis-server")
        Daemon.__init__(self, parent)
        self.socketPath = self.path("redis.sock")
        with open(self.path("redis.conf"), "w") as f:
            f.write(f"port 0\nunixsocket {self.socketPath}\n"
                    "unixsocketperm 777\n"
                    'save ""\nappendonly no\n'
                    f"dir {self.directory}\n"
                    f"logfile {self.path('redis.log')}\n")

    def command(self):
        return ["redis-server", self.path("redis.conf")]

    def ready(self):
        return askSocket(self.socketPath,
                         b"PING\r\nQUIT\r\n").startswith(b"+PONG")


class DNSServer(Daemon):
    """
    The suite's DNS server (L{tests.dnsserver}) as a process; C{address} is
    its C{127.0.0.1:PORT}.
    """

    name = "dns"

    def command(self):
        return ["env", f"PYTHONPATH={ROOT}", sys.executable, "-m",
                "tests.dnsserver"]

    def ready(self):
        with open(self.path("output.log")) as f:
            printed = f.readline()
        if not printed.endswith("\n"):
            return False
        self.address = f"127.0.0.1:{int(printed)}"
        return True


class Rspamd(Daemon):
    """
    rspamd with the suite's configuration (see the module docstring).

    @ivar normalAddress: the normal worker's C{host:port}.
    @ivar controllerAddress: the controller's C{host:port}.
    @ivar dkimRecord: the DKIM key's DNS TXT record (C{v=DKIM1; k=rsa;
        p=...}), as bytes.
    @ivar startSeconds: how long L{start} took, its helpers included.
    """

    name = "rspamd"
    password = "pyfilter-read"
    enablePassword = "pyfilter-learn"

    def __init__(self):
        _require("rspamd", "rspamadm")
        Daemon.__init__(self)
        self.redis = Redis(self.directory)
        self.dns = DNSServer(self.directory)
        self.normalAddress = f"127.0.0.1:{freePort()}"
        self.controllerAddress = f"127.0.0.1:{freePort()}"
        self.dkimRecord = None
        self.startSeconds = None

    def start(self):
        """
        Start rspamd, and the first time its helpers and key; after
        L{pause}, start it again.
        """
        began = time.monotonic()
        if self.dkimRecord is None:
            self._prepare()
        try:
            Daemon.start(self)
        except RuntimeError as e:
            raise RuntimeError(f"{e}\n{self.log()}") from None
        self.startSeconds = time.monotonic() - began
        return self

    def _prepare(self):
        """
        Make the DKIM key (while the helpers start), start the helpers, and
        give the directory and the key to rspamd's user.
        """
        asRoot = os.geteuid() == 0
        if asRoot:
            try:
                pwd.getpwnam(RSPAMD_USER)
            except KeyError:
                raise SkipTest(f"rspamd runs its workers as {RSPAMD_USER}, "
                               "which does not exist (Debian's rspamd "
                               "package makes it)") from None
        os.mkdir(self.path("dkim"))
        keyPath = self.path("dkim", f"{SIGNING_DOMAIN}.key")
        keygen = subprocess.Popen(
            ["rspamadm", "dkim_keygen", "-b", "1024", "-d", SIGNING_DOMAIN,
             "-s", SELECTOR, "-k", keyPath], stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        try:
            self.redis.start()
            self.dns.start()
        finally:
            printed, _ = keygen.communicate(timeout=STARTUP_DEADLINE)
        if keygen.returncode != 0:
            raise RuntimeError(f"rspamadm dkim_keygen failed: {printed!r}")
        # It prints a zone file line: the record in quoted pieces.
        self.dkimRecord = "".join(re.findall(
            r'"([^"]*)"', printed.decode())).encode("ascii")
        if asRoot:
            for path in (self.directory, self.path("dkim"), keyPath):
                shutil.chown(path, RSPAMD_USER, RSPAMD_USER)
            os.chmod(self.directory, 0o700)

    def command(self):
        variables = {
            "TESTDIR": self.directory,
            "FIXTURES": RSPAMD_FIXTURES,
            "NORMAL": self.normalAddress.rpartition(":")[2],
            "CONTROLLER": self.controllerAddress.rpartition(":")[2],
            "NAMESERVER": self.dns.address,
            "REDIS": self.redis.socketPath,
            "PASSWORD": self.password,
            "ENABLE": self.enablePassword,
        }
        user = (["-u", RSPAMD_USER, "-g", RSPAMD_USER]
                if os.geteuid() == 0 else [])
        return (["rspamd", "-f", "-c",
                 os.path.join(RSPAMD_FIXTURES, "rspamd.conf")] + user
                + [f"--var={name}={value}"
                   for name, value in variables.items()])

    def ready(self):
        """
        Both workers answer, and the normal worker has scanned a message
        (its first scan is several times slower than the next ones).
        """
        for address in (self.controllerAddress, self.normalAddress):
            reply = self._ask(address, b"GET /ping HTTP/1.0\r\n\r\n")
            if not reply.endswith(b"pong\r\n"):
                return False
        message = b"Subject: ready\n\nready\n"
        reply = self._ask(self.normalAddress,
                          b"POST /checkv2 HTTP/1.0\r\nContent-Length: %d"
                          b"\r\n\r\n%s" % (len(message), message))
        return reply.startswith(b"HTTP/1.1 200 ") and b'"action"' in reply

    @staticmethod
    def _ask(address, request):
        host, _, port = address.rpartition(":")
        return askSocket((host, int(port)), request)

    def url(self, path, controller=False):
        """
        The URL of C{path} on the normal worker or the controller.
        """
        address = self.controllerAddress if controller else self.normalAddress
        return f"http://{address}{path}"

    def log(self):
        """
        rspamd's log so far.
        """
        try:
            with open(self.path("rspamd.log"), errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def stop(self):
        self.pause()
        self.redis.stop()
        self.dns.stop()
        shutil.rmtree(self.directory, ignore_errors=True)
