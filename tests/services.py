"""
Real mail services for tests, each run from Debian's packages in a
temporary directory and stopped afterwards: clamd (with the project's test
signature, tests/fixtures/clamav), spamd, courier-authdaemond (with userdb
accounts) and slapd (with tests/fixtures/ldap).

Starting is blocking, with a deadline.  Tests get a daemon with L{shared},
which starts it on first use in the test process and stops it when the
process exits (trial has no class or module fixtures).  A service whose
program is not installed raises L{SkipTest} with the reason.

courier-authdaemond reads /etc/courier/authdaemonrc and userdb.dat and
creates /run/courier/authdaemon/socket at compiled-in paths, so it runs in
a private mount namespace (C{unshare --mount}) where a temporary directory
is bound over /etc/courier and another over /run/courier/authdaemon; the
machine's own configuration is never touched.
"""

import atexit
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

from twisted.trial.unittest import SkipTest

from tests.helpers import askSocket

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                        "fixtures")
CLAMAV_FIXTURES = os.path.join(FIXTURES, "clamav")
LDAP_FIXTURES = os.path.join(FIXTURES, "ldap")

#: The name clamd gives the project's test signature.
TEST_SIGNATURE = "PyFilter.Test.Signature.UNOFFICIAL"

#: A file that carries the test signature.
SIGNED_FILE = os.path.join(CLAMAV_FIXTURES, "signed.txt")

GTUBE = b"XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"

STARTUP_DEADLINE = 30.0


def freePort():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


_shared = {}


def shared(daemonClass):
    """
    The started instance of C{daemonClass} (a L{Daemon} whose constructor
    needs no arguments) for this test process.  A failure to start is
    remembered and raised again for every later test.
    """
    if daemonClass not in _shared:
        try:
            daemon = daemonClass()
        except Exception as e:
            _shared[daemonClass] = e
        else:
            atexit.register(daemon.stop)
            try:
                _shared[daemonClass] = daemon.start()
            except Exception as e:
                _shared[daemonClass] = e
    found = _shared[daemonClass]
    if isinstance(found, Exception):
        raise found
    return found


def _require(*programs):
    for program in programs:
        if shutil.which(program) is None and not os.path.exists(program):
            raise SkipTest(f"{program} is not installed (see the packages "
                           "CI installs)")


class Daemon:
    """
    A daemon in the foreground in a temporary directory.

    @ivar directory: its directory, removed by L{stop}.
    """

    name = "daemon"

    def __init__(self, parent=None):
        self.directory = tempfile.mkdtemp(prefix=f"pyfilter-{self.name}-",
                                          dir=parent)
        os.chmod(self.directory, 0o755)
        self.process = None

    def path(self, *names):
        return os.path.join(self.directory, *names)

    def command(self):
        raise NotImplementedError()

    def ready(self):
        raise NotImplementedError()

    def start(self):
        """
        Start the daemon and wait until it answers.
        """
        output = open(self.path("output.log"), "ab")
        self.process = subprocess.Popen(self.command(), stdout=output,
                                        stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL)
        output.close()
        deadline = time.monotonic() + STARTUP_DEADLINE
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            try:
                if self.ready():
                    return self
            except OSError:
                pass
            time.sleep(0.05)
        self.pause()
        with open(self.path("output.log"), errors="replace") as f:
            raise RuntimeError(f"{self.name} did not start:\n{f.read()}")

    def pause(self):
        """
        Stop the daemon, keeping its directory (to L{start} it again).
        """
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self.process = None

    def stop(self):
        self.pause()
        shutil.rmtree(self.directory, ignore_errors=True)


class Clamd(Daemon):
    """
    clamd on a UNIX socket (C{socketPath}, usable by every user) and a
    loopback TCP port (C{tcpAddress}), with the test signature only, in a
    temporary directory under C{parent}.
    """

    name = "clamd"

    def __init__(self, parent=None, streamMaxLength="10M"):
        _require("clamd")
        Daemon.__init__(self, parent)
        os.mkdir(self.path("db"))
        shutil.copy(os.path.join(CLAMAV_FIXTURES, "pyfilter-test.ndb"),
                    self.path("db"))
        self.socketPath = self.path("clamd.sock")
        self.port = freePort()
        self.tcpAddress = f"127.0.0.1:{self.port}"
        with open(self.path("clamd.conf"), "w") as f:
            f.write(f"LocalSocket {self.socketPath}\nLocalSocketMode 666\n"
                    f"TCPSocket {self.port}\nTCPAddr 127.0.0.1\n"
                    f"DatabaseDirectory {self.path('db')}\n"
                    f"LogFile {self.path('clamd.log')}\n"
                    f"StreamMaxLength {streamMaxLength}\n"
                    "Foreground yes\n")

    def command(self):
        return ["clamd", "-c", self.path("clamd.conf")]

    def ready(self):
        return askSocket(self.socketPath, b"zPING\0") == b"PONG\0"


class Spamd(Daemon):
    """
    spamd on a loopback TCP port (C{address}; a free one unless C{port} is
    given), local tests only.
    """

    name = "spamd"

    def __init__(self, parent=None, port=None):
        _require("spamd")
        Daemon.__init__(self, parent)
        self.port = port or freePort()
        self.address = f"127.0.0.1:{self.port}"

    def command(self):
        return ["spamd", "--local", "--nouser-config",
                f"--listen=127.0.0.1:{self.port}",
                f"--pidfile={self.path('spamd.pid')}",
                f"--syslog={self.path('spamd.log')}",
                "--max-children=4", "--min-children=1", "--username=nobody",
                f"--helper-home-dir={self.directory}"]

    def ready(self):
        return b"PONG" in askSocket(("127.0.0.1", self.port),
                               b"PING SPAMC/1.5\r\n\r\n")


class Authdaemond(Daemon):
    """
    courier-authdaemond with the userdb module, its socket at
    C{socketPath}, and three accounts whose homes are in its directory
    (L{home}), each with a Maildir++ C{maildirsize}:

      - C{alice}: maildir C{./Maildir} (relative), over her byte quota;
      - C{bob}: an absolute maildir, under quota;
      - C{carol@hosted.test}: no maildir field (so C{HOME/Maildir}), over
        her message-count quota.
    """

    name = "authdaemond"
    program = "/usr/lib/courier/courier-authlib/authdaemond"

    ACCOUNTS = {
        "alice": ("./Maildir", "1000S\n900 3\n200 1\n"),
        "bob": ("Maildir", "1000000S,100C\n500 2\n"),
        "carol@hosted.test": (None, "100000S,2C\n10 2\n"),
    }

    def __init__(self):
        _require(self.program, "makeuserdb", "unshare")
        probe = subprocess.run(["unshare", "--mount", "true"],
                               capture_output=True, timeout=10)
        if probe.returncode != 0:
            raise SkipTest("authdaemond needs a private mount namespace and "
                           "unshare --mount failed (root with CAP_SYS_ADMIN "
                           f"needed): {probe.stderr.decode().strip()}")
        Daemon.__init__(self)
        os.mkdir(self.path("etc"))
        os.mkdir(self.path("run"))
        self.socketPath = self.path("run", "socket")
        with open(self.path("etc", "authdaemonrc"), "w") as f:
            f.write('authmodulelist="authuserdb"\n'
                    'authmodulelistorig="authuserdb"\n'
                    "daemons=3\nauthdaemonvar=/run/courier/authdaemon\n"
                    'DEBUG_LOGIN=0\nDEFAULTOPTIONS=""\nLOGGEROPTS=""\n')
        userdb = self.path("etc", "userdb")
        with open(userdb, "w") as f:
            for name, (maildir, maildirsize) in self.ACCOUNTS.items():
                home = self.home(name)
                os.makedirs(os.path.join(home, "Maildir"))
                with open(os.path.join(home, "Maildir", "maildirsize"),
                          "w") as sizes:
                    sizes.write(maildirsize)
                fields = f"uid=65534|gid=65534|home={home}"
                if maildir == "Maildir":
                    fields += f"|mail={home}/Maildir"
                elif maildir is not None:
                    fields += f"|mail={maildir}"
                f.write(f"{name}\t{fields}\n")
        os.chmod(userdb, 0o600)

    def home(self, name):
        return self.path("home", name)

    def command(self):
        script = (f"mount --bind {self.path('etc')} /etc/courier && "
                  f"mount --bind {self.path('run')} /run/courier/authdaemon"
                  f" && makeuserdb && exec {self.program}")
        return ["unshare", "--mount", "--propagation", "private",
                "sh", "-c", script]

    def ready(self):
        return askSocket(self.socketPath, b"PRE . smtp nobody-here\n") == b"FAIL\n"

    def pause(self):
        Daemon.pause(self)
        if os.path.exists(self.socketPath):
            os.unlink(self.socketPath)


class Slapd(Daemon):
    """
    slapd on a loopback port (C{url}) with tests/fixtures/ldap's schema and
    entries under C{dc=example,dc=test}; the admin is
    C{cn=admin,dc=example,dc=test} with password C{secret}.
    """

    name = "slapd"
    baseDN = "dc=example,dc=test"
    adminDN = "cn=admin,dc=example,dc=test"
    adminPassword = "secret"

    def __init__(self):
        _require("slapd", "slapadd")
        Daemon.__init__(self)
        os.mkdir(self.path("db"))
        self.port = freePort()
        self.url = f"ldap://127.0.0.1:{self.port}"
        with open(self.path("slapd.conf"), "w") as f:
            f.write(
                "include /etc/ldap/schema/core.schema\n"
                "include /etc/ldap/schema/cosine.schema\n"
                "include /etc/ldap/schema/inetorgperson.schema\n"
                f"include {LDAP_FIXTURES}/pyfilter.schema\n"
                f"pidfile {self.path('slapd.pid')}\n"
                "modulepath /usr/lib/ldap\nmoduleload back_mdb\n"
                "database mdb\nmaxsize 10485760\n"
                f'suffix "{self.baseDN}"\nrootdn "{self.adminDN}"\n'
                f"rootpw {self.adminPassword}\n"
                f"directory {self.path('db')}\n"
                "index objectClass eq\nindex mail eq\n")
        subprocess.run(["slapadd", "-f", self.path("slapd.conf"), "-l",
                        os.path.join(LDAP_FIXTURES, "entries.ldif")],
                       check=True, capture_output=True, timeout=30)

    def command(self):
        return ["slapd", "-f", self.path("slapd.conf"),
                "-h", f"ldap://127.0.0.1:{self.port}/", "-d", "0"]

    def ready(self):
        with socket.create_connection(("127.0.0.1", self.port), 1):
            return True


def serviceFilter(testCase, name, modulesText="", courierFiles=None,
                  hostedDomains=()):
    """
    The started filter C{name} on the real reactor, with the modules config
    C{modulesText} and a Courier sysconfdir holding C{courierFiles} and a
    compiled C{hosteddomains.dat} of C{hostedDomains}.
    """
    import dbm.gnu

    from twisted.internet import reactor

    from pyfilter.engine.loader import makeFilter
    from tests.helpers import courierSysconf, makeContext
    sysconfdir = courierSysconf(testCase, courierFiles)
    with dbm.gnu.open(os.path.join(sysconfdir, "hosteddomains.dat"),
                      "c") as hosted:
        for domain in hostedDomains:
            hosted[domain] = "1"
    context = makeContext(testCase, reactor=reactor, sysconfdir=sysconfdir,
                          modulesText=modulesText)
    found = makeFilter(name, context.modules, context)
    found.start()
    return found


class SilentServer:
    """
    A server on a UNIX socket that accepts connections and never answers,
    to test timeouts, cancellation and the connection bound.

    @ivar connections: the protocols of the connections made.
    @ivar lost: how many of them were closed.
    """

    def __init__(self, testCase):
        from twisted.internet import reactor
        from twisted.internet.protocol import Factory, Protocol
        self.connections = []
        self.lost = 0
        server = self

        class Silent(Protocol):
            def connectionMade(self):
                server.connections.append(self)

            def connectionLost(self, reason):
                server.lost += 1
        self.path = os.path.join(tempfile.mkdtemp(), "silent.sock")
        self.port = reactor.listenUNIX(self.path, Factory.forProtocol(Silent))
        testCase.addCleanup(self.close)

    def close(self):
        for connection in self.connections:
            connection.transport.abortConnection()
        stopped = self.port.stopListening()
        return stopped.addBoth(lambda _: shutil.rmtree(
            os.path.dirname(self.path), ignore_errors=True))


def wait(seconds):
    """
    A Deferred that fires after C{seconds} of the real reactor.
    """
    from twisted.internet import reactor, task
    return task.deferLater(reactor, seconds, lambda: None)
