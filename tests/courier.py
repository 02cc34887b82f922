"""
A real Courier MTA (Debian 12's courier-mta) for end-to-end tests.

Tests call, from synchronous trial test methods:

  - C{requireCourier()}: skip unless Courier can be used here (root,
    packages installed or installable);
  - C{startCourier()}: install if needed, configure (domain example.test,
    users alice/bob/carol with password C{secret} and ~/Maildir, alias
    C{team: alice, bob}, relay from loopback, no DNS checks, AUTH LOGIN
    PLAIN, a syslog receiver on /dev/log) and start authdaemond,
    courierfilter, courierd and esmtpd; once per process, everything is
    stopped at exit;
  - C{useFilter(chain, modules, extraArgs)}: install this venv's pyfilter as
    Courier filter C{pyfilter-e2e} with C{pyfilter courier-install};
    C{useFilter(None)} removes it;
  - C{send(...)}: one SMTP transaction to 127.0.0.1:25, returning the reply
    that ended it as C{(code, text)} (code an int);
  - C{waitForMail}, C{mailbox}, C{clearMailboxes}, C{courierLog}.

Every external command runs under a timeout.  The same functions serve
C{tools/demo.sh} through a small command line (standard library only, so
Debian's /usr/bin/python3 can run it from the checkout):

    python3 tests/courier.py install | configure | start | stop | log
    python3 tests/courier.py send FROM TO [--attach NAME] [--auth USER:PW]
        [--delivered-to USER]
"""

import argparse
import atexit
import fcntl
import os
import pwd
import shutil
import signal
import smtplib
import socket
import subprocess
import sys
import time
from email.message import EmailMessage
from unittest import SkipTest

#: The tests use (install, configure, start) the machine's Courier only when
#: this environment variable is 1.
ALLOW_VARIABLE = "PYFILTER_TEST_COURIER"

DOMAIN = "example.test"
USERS = ("alice", "bob", "carol")
PASSWORD = "secret"
#: Courier, and GNU dbm for Debian's Python (pyfilter reads Courier's .dat
#: tables with it).
PACKAGES = ("courier-mta", "courier-authdaemon", "courier-authlib-userdb",
            "python3-gdbm")
PRESEED = (
    "courier-base courier-base/webadmin-configmode boolean false\n"
    "courier-base courier-base/maildir string Maildir\n"
    f"courier-mta courier-mta/defaultdomain string {DOMAIN}\n"
    f"courier-mta courier-mta/dsnfrom string mailer-daemon@{DOMAIN}\n")
ETC = "/etc/courier"
SPOOL = "/var/lib/courier"
RUN = "/run/courier"
SBIN = "/usr/sbin"
LIBEXEC = "/usr/lib/courier"
FILTER_NAME = "pyfilter-e2e"
#: Test state (configuration given to pyfilter, syslog capture, lock):
#: outside /root and /tmp's private namespaces, readable by courier.
STATE = "/var/tmp/pyfilter-e2e"
SYSLOG_FILE = os.path.join(STATE, "syslog.log")
SYSLOG_PID = os.path.join(STATE, "syslog-sink.pid")
DEV_LOG = "/dev/log"
MAIL_LOG = "/var/log/mail.log"


class CourierError(Exception):
    """
    Courier could not be installed, configured or started.
    """


def run(argv, timeout=60, check=True, **kwargs):
    """
    Run a command under C{timeout}; output captured as text.

    @raise CourierError: it failed (with C{check}) or timed out.
    """
    try:
        result = subprocess.run(argv, capture_output=True, text=True,
                                timeout=timeout, check=False, **kwargs)
    except subprocess.TimeoutExpired as e:
        raise CourierError(f"{' '.join(argv)}: no result within {timeout} s"
                           ) from e
    except OSError as e:
        raise CourierError(f"{argv[0]}: {e.strerror or e}") from e
    if check and result.returncode != 0:
        raise CourierError(f"{' '.join(argv)} failed ({result.returncode}): "
                           f"{(result.stderr or result.stdout).strip()}")
    return result


def waitFor(condition, timeout, what, interval=0.1):
    """
    Poll C{condition()} until true.

    @raise CourierError: still false after C{timeout} seconds.
    """
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() >= deadline:
            raise CourierError(f"timed out after {timeout} s waiting for "
                               f"{what}")
        time.sleep(interval)


def pidAlive(pid):
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            return f.read().rpartition(")")[2].split()[0] not in ("Z", "X")
    except (OSError, IndexError):
        return False


def pidFileAlive(path):
    """
    Whether the process of pid file C{path} is there (zombies are not:
    the stop commands leave pid files, and PID 1 may reap late).
    """
    try:
        with open(path, encoding="ascii") as f:
            return pidAlive(int(f.read().split()[0]))
    except (OSError, ValueError, IndexError):
        return False


def courierdRunning():
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/comm", encoding="ascii") as f:
                    if f.read().strip() == "courierd" and pidAlive(entry):
                        return True
            except OSError:
                continue
    return False


def port25Open():
    probe = socket.socket()
    probe.settimeout(1)
    try:
        return probe.connect_ex(("127.0.0.1", 25)) == 0
    finally:
        probe.close()


def datagramListener(path):
    """
    Whether something receives datagrams at C{path}.
    """
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        probe.connect(path)
        return True
    except OSError:
        return False
    finally:
        probe.close()


# Installation

def installed():
    result = run(["dpkg-query", "-W", "-f=${Status}\n", *PACKAGES],
                 timeout=30, check=False)
    lines = result.stdout.splitlines()
    return (len(lines) == len(PACKAGES)
            and all(line == "install ok installed" for line in lines))


def aptInstall(packages):
    """
    Install Debian packages non-interactively, with Courier's debconf
    answers preseeded and daemons kept from starting by a temporary
    policy-rc.d.  The package lists are updated first when they do not know
    Courier, else when the installation fails (stale lists).
    """
    run(["debconf-set-selections"], input=PRESEED, timeout=30)
    policy = "/usr/sbin/policy-rc.d"
    ownPolicy = not os.path.exists(policy)
    if ownPolicy:
        with open(policy, "w", encoding="ascii") as f:
            f.write("#!/bin/sh\nexit 101\n")
        os.chmod(policy, 0o755)
    environment = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    update = ["apt-get", "update", "-q"]
    command = ["apt-get", "install", "-y", "-q", "--no-install-recommends",
               "-o", "Dpkg::Options::=--force-confdef",
               "-o", "Dpkg::Options::=--force-confold", *packages]
    try:
        listsKnowCourier = run(["apt-cache", "show", PACKAGES[0]], timeout=60,
                               check=False).returncode == 0
        if not listsKnowCourier:
            run(update, timeout=300, env=environment)
        try:
            run(command, timeout=600, env=environment)
        except CourierError:
            if not listsKnowCourier:
                raise
            run(update, timeout=300, env=environment)
            run(command, timeout=600, env=environment)
    finally:
        if ownPolicy:
            os.unlink(policy)


def install():
    """
    Install Courier unless it already is.
    """
    if not installed():
        aptInstall(PACKAGES)


# Configuration

def writeFile(path, text, mode=0o644):
    """
    Write C{text} to C{path} unless it already holds it.
    """
    try:
        with open(path, encoding="utf-8") as f:
            if f.read() == text:
                return
    except FileNotFoundError:
        pass
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    os.chmod(path, mode)


def setVariable(path, name, value):
    """
    Set the shell variable C{name} in one of Courier's C{NAME=value} files.
    """
    with open(path, encoding="utf-8") as f:
        lines = f.read().splitlines()
    wanted = f"{name}={value}"
    found = [i for i, line in enumerate(lines) if line.startswith(name + "=")]
    for i in found:
        lines[i] = wanted
    if not found:
        lines.append(wanted)
    writeFile(path, "\n".join(lines) + "\n", os.stat(path).st_mode & 0o777)


def hasAccessKey(key):
    directory = os.path.join(ETC, "smtpaccess")
    for name in os.listdir(directory):
        if name == "e2e":
            continue
        with open(os.path.join(directory, name), encoding="utf-8",
                  errors="replace") as f:
            if any(line.split()[:1] == [key] for line in f):
                return True
    return False


def configure():
    """
    Configure Courier for the tests (idempotent): local domain, relay from
    loopback, no DNS checks or tarpit, AUTH LOGIN PLAIN with PAM, filtering
    of SMTP and local mail, users with Maildirs, aliases.
    """
    writeFile(os.path.join(ETC, "me"), f"mail.{DOMAIN}\n")
    writeFile(os.path.join(ETC, "defaultdomain"), f"{DOMAIN}\n")
    writeFile(os.path.join(ETC, "locals"),
              f"localhost\n{DOMAIN}\nmail.{DOMAIN}\n")
    writeFile(os.path.join(ETC, "esmtpacceptmailfor.dir", "e2e"),
              f"{DOMAIN}\n")
    run([os.path.join(SBIN, "makeacceptmailfor")], timeout=30)
    # makesmtpaccess refuses a key listed twice; Debian's default file
    # already lets the loopback addresses relay.
    access = "".join(f"{key}\tallow,RELAYCLIENT\n" for key in
                     ("127.0.0.1", ":0000:0000:0000:0000:0000:0000:0000:0001")
                     if not hasAccessKey(key))
    writeFile(os.path.join(ETC, "smtpaccess", "e2e"), access)
    run([os.path.join(SBIN, "makesmtpaccess")], timeout=30)
    esmtpd = os.path.join(ETC, "esmtpd")
    setVariable(esmtpd, "BOFHCHECKDNS", "0")
    setVariable(esmtpd, "TARPIT", "0")
    setVariable(esmtpd, "ESMTPAUTH", '"LOGIN PLAIN"')
    setVariable(os.path.join(ETC, "authdaemonrc"), "authmodulelist",
                '"authpam"')
    writeFile(os.path.join(ETC, "enablefiltering"), "esmtp local\n")
    for user in USERS:
        try:
            pwd.getpwnam(user)
        except KeyError:
            run(["useradd", "-m", "-s", "/bin/bash", user], timeout=30)
        run(["chpasswd"], input=f"{user}:{PASSWORD}\n", timeout=30)
        if not os.path.isdir(maildir(user)):
            run(["runuser", "-u", user, "--", "maildirmake", maildir(user)],
                timeout=30)
    aliases = os.path.join(ETC, "aliases")
    writeFile(os.path.join(aliases, "e2e"),
              f"postmaster: {USERS[0]}@{DOMAIN}\n"
              f"team: {USERS[0]}@{DOMAIN}, {USERS[1]}@{DOMAIN}\n", 0o640)
    shutil.chown(os.path.join(aliases, "e2e"), "root", "courier")
    system = os.path.join(aliases, "system")
    if os.path.exists(system):
        with open(system, encoding="utf-8") as f:
            text = f.read()
        # Debian's file ends with an empty "postmaster:", which would
        # shadow ours.
        writeFile(system, "\n".join(
            "# postmaster: set in aliases/e2e" if line.strip() == "postmaster:"
            else line for line in text.splitlines()) + "\n", 0o644)
    run([os.path.join(SBIN, "makealiases")], timeout=30)


# Syslog

def syslogSink(logFile, path=DEV_LOG):
    """
    Receive syslog datagrams at C{path} and append them to C{logFile}
    (runs until killed).
    """
    if os.path.exists(path):
        os.unlink(path)
    receiver = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    receiver.bind(path)
    os.chmod(path, 0o666)
    with open(logFile, "ab", buffering=0) as out:
        while True:
            data = receiver.recv(65536)
            stamp = time.strftime("%Y-%m-%dT%H:%M:%S ", time.gmtime())
            out.write(stamp.encode() + data.rstrip(b"\0\n") + b"\n")


def startSyslog():
    """
    Make sure something receives syslog at /dev/log: our sink (as a
    separate process writing C{SYSLOG_FILE}) unless a syslog daemon does.

    @return: the sink's pid if this call started it, else C{None}.
    """
    os.makedirs(STATE, mode=0o755, exist_ok=True)
    if pidFileAlive(SYSLOG_PID) or datagramListener(DEV_LOG):
        return None
    sink = subprocess.Popen(
        [sys.executable, os.path.abspath(__file__), "syslog-sink"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL, start_new_session=True)
    writeFile(SYSLOG_PID, f"{sink.pid}\n")
    waitFor(lambda: datagramListener(DEV_LOG), 10, "the syslog sink")
    return sink.pid


def stopSyslog(pid):
    if pidAlive(pid):
        os.kill(pid, signal.SIGTERM)
    for path in (SYSLOG_PID, DEV_LOG):
        if os.path.exists(path):
            os.unlink(path)


def logSource():
    """
    The file where Courier's syslog lines end up.
    """
    return SYSLOG_FILE if pidFileAlive(SYSLOG_PID) else MAIL_LOG


# Daemons

def startDaemons():
    """
    Start whatever of authdaemond, courierfilter, courierd and esmtpd is
    not running, and wait until port 25 answers.
    """
    os.makedirs(RUN, exist_ok=True)
    shutil.chown(RUN, "root", "courier")
    os.chmod(RUN, 0o775)
    authdaemon = os.path.join(RUN, "authdaemon")
    os.makedirs(authdaemon, exist_ok=True)
    shutil.chown(authdaemon, "courier", "courier")
    os.chmod(authdaemon, 0o750)
    if not pidFileAlive(os.path.join(authdaemon, "pid")):
        run([os.path.join(SBIN, "authdaemond"), "start"], timeout=30)
        waitFor(lambda: os.path.exists(os.path.join(authdaemon, "socket")),
                10, "authdaemond's socket")
    if not pidFileAlive(os.path.join(RUN, "courierfilter.pid")):
        # Returns once every active filter has closed fd 3 (is ready).
        run([os.path.join(SBIN, "courierfilter"), "start"], timeout=60)
    if not courierdRunning():
        run([os.path.join(SBIN, "courier"), "start"], timeout=30)
    if not port25Open():
        run([os.path.join(SBIN, "esmtpd"), "start"], timeout=30)
    waitFor(port25Open, 15, "port 25")


def stopDaemons():
    """
    Stop esmtpd, courierd, courierfilter and authdaemond, in that order.
    """
    esmtpdPid = os.path.join(RUN, "esmtpd.pid")
    if pidFileAlive(esmtpdPid):
        run([os.path.join(SBIN, "esmtpd"), "stop"], timeout=30, check=False)
        waitFor(lambda: not pidFileAlive(esmtpdPid), 15, "esmtpd to exit")
    waitFor(lambda: not port25Open(), 15, "port 25 to close")
    if courierdRunning():
        run([os.path.join(SBIN, "courier"), "stop"], timeout=60, check=False)
        waitFor(lambda: not courierdRunning(), 15, "courierd to exit")
    stopCourierfilter()
    authdaemonPid = os.path.join(RUN, "authdaemon", "pid")
    if pidFileAlive(authdaemonPid):
        run([os.path.join(SBIN, "authdaemond"), "stop"], timeout=30,
            check=False)
        waitFor(lambda: not pidFileAlive(authdaemonPid), 15,
                "authdaemond to exit")


def courierfilterRunning():
    return pidFileAlive(os.path.join(RUN, "courierfilter.pid"))


def stopCourierfilter():
    """
    Stop courierfilter, which closes every filter's stdin and waits for
    the filters to exit.

    @return: the C{courierfilter stop} command's result, or C{None} when it
        was not running.
    """
    pidFile = os.path.join(RUN, "courierfilter.pid")
    if not courierfilterRunning():
        return None
    with open(pidFile, encoding="ascii") as f:
        pid = int(f.read().split()[0])
    result = run([os.path.join(SBIN, "courierfilter"), "stop"], timeout=30,
                 check=False)
    try:
        waitFor(lambda: not pidAlive(pid), 5, "courierfilter to exit")
    except CourierError:
        # courierfilter may lose a SIGTERM that comes soon after a SIGHUP
        # (filterctl); a second one is obeyed.
        if pidAlive(pid):
            os.kill(pid, signal.SIGTERM)
        waitFor(lambda: not pidAlive(pid), 15, "courierfilter to exit")
    return result


def startCourierfilter():
    run([os.path.join(SBIN, "courierfilter"), "start"], timeout=60)


# Filters other than ours are set aside while the tests run, so that only
# pyfilter-e2e sees the test mail; the record survives a crashed run.

ACTIVE = os.path.join(ETC, "filters", "active")
SET_ASIDE = os.path.join(STATE, "filters-set-aside")


def setFiltersAside():
    lines = []
    for name in sorted(os.listdir(ACTIVE)):
        path = os.path.join(ACTIVE, name)
        if name != FILTER_NAME and os.path.islink(path):
            lines.append(f"{name} {os.readlink(path)}\n")
    with open(SET_ASIDE, "a", encoding="utf-8") as f:
        f.writelines(lines)
    for line in lines:
        os.unlink(os.path.join(ACTIVE, line.split()[0]))


def restoreFilters():
    if not os.path.exists(SET_ASIDE):
        return
    with open(SET_ASIDE, encoding="utf-8") as f:
        for line in f:
            name, target = line.rstrip("\n").split(" ", 1)
            if not os.path.lexists(os.path.join(ACTIVE, name)):
                os.symlink(target, os.path.join(ACTIVE, name))
    os.unlink(SET_ASIDE)


ALIASDIR = os.path.join(ETC, "aliasdir")


def ourReleaseAliases():
    """
    The quarantine release addresses that C{pyfilter courier-install} wrote
    for our filter (their first line names it).
    """
    found = []
    for name in os.listdir(ALIASDIR) if os.path.isdir(ALIASDIR) else ():
        path = os.path.join(ALIASDIR, name)
        if name.startswith(".courier-quarantine-"):
            with open(path, encoding="utf-8", errors="replace") as f:
                if f" {FILTER_NAME}, " in f.readline():
                    found.append(path)
    return found


def removeOurFilter():
    for path in (os.path.join(ACTIVE, FILTER_NAME),
                 os.path.join(LIBEXEC, "filters", FILTER_NAME),
                 os.path.join(SPOOL, "allfilters", FILTER_NAME),
                 os.path.join(SPOOL, "filters", FILTER_NAME),
                 *ourReleaseAliases()):
        if os.path.lexists(path):
            os.unlink(path)


# The test session: once per process

#: Seconds to wait for another test process to finish with Courier.
LOCK_WAIT = 60


class CourierBusy(CourierError):
    """
    Another test process holds Courier.
    """


class Session:
    """
    Courier started by this test process; holds a lock (until the process
    exits) so that two test processes never share it.
    """

    def __init__(self):
        os.makedirs(STATE, mode=0o755, exist_ok=True)
        os.chmod(STATE, 0o755)
        self.lock = open(os.path.join(STATE, "lock"), "a+", encoding="ascii")
        try:
            waitFor(self._tryLock, LOCK_WAIT, "the Courier lock", interval=0.5)
        except CourierError as e:
            self.lock.seek(0)
            holder = self.lock.read().strip() or "?"
            self.lock.close()
            raise CourierBusy(f"another test process (pid {holder}) is using "
                              f"Courier: {e}") from e
        self.lock.truncate(0)
        self.lock.write(f"{os.getpid()}\n")
        self.lock.flush()
        self.sinkPid = None
        self.logFile = None
        self.logOffset = 0
        configure()
        stopDaemons()
        removeOurFilter()
        restoreFilters()
        setFiltersAside()
        self.sinkPid = startSyslog()
        self.logFile = logSource()
        self.logOffset = fileSize(self.logFile)
        startDaemons()
        atexit.register(self.end)

    def _tryLock(self):
        try:
            fcntl.flock(self.lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def end(self):
        try:
            stopDaemons()
        except CourierError as e:
            print(f"tests/courier.py: stopping Courier: {e}", file=sys.stderr)
        removeOurFilter()
        restoreFilters()
        if self.sinkPid is not None:
            stopSyslog(self.sinkPid)
        self.lock.close()


def fileSize(path):
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


_session = None
_unusable = None


def requireCourier():
    """
    Skip the test unless Courier can be used with this venv's pyfilter:
    root, Debian's package tools, Courier installed or installable, a
    C{pyfilter} command next to C{sys.executable} that Courier's user can
    run.
    """
    global _unusable
    if _unusable is None:
        _unusable = ""
        if os.environ.get(ALLOW_VARIABLE) != "1":
            _unusable = (f"end-to-end tests install and reconfigure this "
                         f"machine's Courier: set {ALLOW_VARIABLE}=1 to let "
                         f"them (tools/test.sh does)")
        elif os.geteuid() != 0:
            _unusable = "end-to-end tests need root (they run Courier)"
        elif not shutil.which("dpkg-query") or not shutil.which("apt-get"):
            _unusable = "end-to-end tests need Debian (apt) to install Courier"
        else:
            try:
                install()
                pyfilterCommand()
            except CourierError as e:
                _unusable = f"Courier cannot be installed: {e}"
            except SkipTest as e:
                _unusable = str(e)
    if _unusable:
        raise SkipTest(_unusable)


def startCourier():
    """
    Install, configure and start Courier once for this process (stopped at
    exit); later calls restart whatever daemon went away.  When another test
    process holds Courier for longer than C{LOCK_WAIT}, this and every later
    call skip.
    """
    global _session, _unusable
    requireCourier()
    if _session is None:
        try:
            _session = Session()
        except CourierBusy as e:
            _unusable = str(e)
            raise SkipTest(_unusable) from e
    else:
        startDaemons()


def courierLog():
    """
    Courier's syslog lines since this process started Courier.
    """
    if _session is None:
        return ""
    try:
        with open(_session.logFile, "rb") as f:
            f.seek(_session.logOffset)
            return f.read().decode("utf-8", "replace")
    except OSError:
        return ""


# pyfilter as Courier's filter

STATE_CONFIG = os.path.join(STATE, "config")
STATE_DIR = os.path.join(STATE, "state")
SOCKET = os.path.join(SPOOL, "allfilters", FILTER_NAME)


def pyfilterCommand():
    """
    The C{pyfilter} command of the venv the tests run in.

    @raise SkipTest: there is none, or Courier's user cannot run it.
    """
    command = os.path.join(os.path.dirname(sys.executable), "pyfilter")
    if not os.access(command, os.X_OK):
        raise SkipTest(f"no pyfilter command next to {sys.executable}: run "
                       f"the end-to-end tests from a venv with pyfilter "
                       f"installed (pip install .)")
    if run(["runuser", "-u", "courier", "--", "test", "-x", sys.executable],
           timeout=10, check=False).returncode != 0:
        raise SkipTest(f"user courier cannot execute {sys.executable}: make "
                       f"the test venv with /usr/bin/python3 outside /root")
    return command


def socketAnswers(path):
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.settimeout(1)
    try:
        probe.connect(path)
        return True
    except OSError:
        return False
    finally:
        probe.close()


def useFilter(chain, modules="", extraArgs=()):
    """
    Run this venv's pyfilter as Courier's filter with the chain file text
    C{chain} and modules file text C{modules} (C{None}: remove it), via
    C{pyfilter courier-install}; returns once its socket answers.

    courierfilter is stopped while the filter is changed and started again
    afterwards: quick C{filterctl} stop/start pairs are racy.
    """
    startCourier()
    command = pyfilterCommand()
    stopCourierfilter()
    if chain is None:
        run([command, "courier-install", "--remove", "--name", FILTER_NAME],
            timeout=90)
        startCourierfilter()
        return
    os.makedirs(STATE_CONFIG, mode=0o755, exist_ok=True)
    config = os.path.join(STATE_CONFIG, "pyfilter.conf")
    modulesConfig = os.path.join(STATE_CONFIG, "pyfilter-modules.conf")
    writeFile(config, chain)
    writeFile(modulesConfig, modules)
    shutil.rmtree(STATE_DIR, ignore_errors=True)
    result = run([command, "courier-install", "--name", FILTER_NAME,
                  "--config", config, "--modules-config", modulesConfig,
                  "--state-dir", STATE_DIR, "--python", sys.executable,
                  "--no-start", "--", *extraArgs], timeout=120, check=False)
    if result.returncode != 0:
        raise CourierError(f"pyfilter courier-install failed:\n"
                           f"{result.stdout}{result.stderr}")
    link = os.path.join(ACTIVE, FILTER_NAME)
    if not os.path.lexists(link):
        os.symlink(os.path.join(LIBEXEC, "filters", FILTER_NAME), link)
    startCourierfilter()
    try:
        waitFor(lambda: socketAnswers(SOCKET), 10, f"{SOCKET} to answer")
    except CourierError as e:
        raise CourierError(f"{e}; log:\n{courierLog()[-3000:]}") from e


def filterPids():
    """
    Pids of running pyfilter processes serving Courier filter
    C{pyfilter-e2e}.
    """
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                words = f.read().split(b"\0")
        except OSError:
            continue
        if (b"pyfilter" in words and SOCKET.encode() in words
                and pidAlive(entry)):
            pids.append(int(entry))
    return pids


# SMTP and mailboxes

def makeMessage(mailFrom, rcptTo, subject="pyfilter e2e", attachment=None):
    """
    A small message as bytes; C{attachment} names an attached file.
    """
    message = EmailMessage()
    message["From"] = mailFrom
    message["To"] = rcptTo if isinstance(rcptTo, str) else ", ".join(rcptTo)
    message["Subject"] = subject
    message.set_content("Hello from the pyfilter end-to-end tests.\n")
    if attachment:
        message.add_attachment(b"MZ\x90\x00not really a program",
                               maintype="application",
                               subtype="octet-stream", filename=attachment)
    return message.as_bytes(policy=message.policy.clone(linesep="\r\n"))


def send(mailFrom, rcptTo, message, auth=None, timeout=30):
    """
    One SMTP transaction to 127.0.0.1:25 (C{auth}: C{(user, password)}).

    @return: C{(code, text)} of the reply that ended it: DATA's, or the
        first refusal of AUTH, MAIL or RCPT.
    """
    recipients = [rcptTo] if isinstance(rcptTo, str) else list(rcptTo)
    if isinstance(message, str):
        message = message.encode("utf-8")
    message = b"\r\n".join(message.replace(b"\r\n", b"\n").split(b"\n"))
    client = smtplib.SMTP("127.0.0.1", 25, local_hostname="client.example",
                          timeout=timeout)
    try:
        client.ehlo()
        code, text = 0, b""
        if auth:
            try:
                code, text = client.login(*auth)
            except smtplib.SMTPAuthenticationError as e:
                return e.smtp_code, e.smtp_error.decode("utf-8", "replace")
        for step in [lambda: client.mail(mailFrom)] + [
                lambda r=r: client.rcpt(r) for r in recipients]:
            code, text = step()
            if code >= 400:
                return code, text.decode("utf-8", "replace")
        try:
            code, text = client.data(message)
        except smtplib.SMTPDataError as e:
            code, text = e.smtp_code, e.smtp_error
        return code, text.decode("utf-8", "replace")
    finally:
        try:
            client.quit()
        except (smtplib.SMTPException, OSError):
            client.close()


def maildir(user):
    return os.path.join(pwd.getpwnam(user).pw_dir, "Maildir")


def _messageFiles(user):
    files = []
    for sub in ("new", "cur"):
        directory = os.path.join(maildir(user), sub)
        files.extend(os.path.join(directory, name)
                     for name in os.listdir(directory))
    return sorted(files, key=lambda path: (os.path.getmtime(path), path))


def mailbox(user):
    """
    The messages delivered to C{user}, oldest first, as bytes.
    """
    messages = []
    for path in _messageFiles(user):
        with open(path, "rb") as f:
            messages.append(f.read())
    return messages


def waitForMail(user, count, timeout=10):
    """
    Wait until C{user} has at least C{count} messages and return them.

    @raise AssertionError: fewer after C{timeout} seconds.
    """
    try:
        waitFor(lambda: len(_messageFiles(user)) >= count, timeout,
                f"{count} messages for {user}")
    except CourierError as e:
        raise AssertionError(f"{e}; log:\n{courierLog()[-3000:]}") from e
    return mailbox(user)


def clearMailboxes():
    for user in USERS:
        for path in _messageFiles(user):
            os.unlink(path)


# Command line for tools/demo.sh

def sendCommand(options):
    """
    Send one message; print C{ACCEPTED} or C{REJECTED} with the reply, and
    C{delivered} once the message is in the mailbox given.

    @return: 0 accepted (and delivered when asked), 1 otherwise.
    """
    user = options.delivered_to
    before = len(_messageFiles(user)) if user else 0
    auth = tuple(options.auth.split(":", 1)) if options.auth else None
    code, text = send(options.mailFrom, options.rcptTo,
                      makeMessage(options.mailFrom, options.rcptTo,
                                  attachment=options.attach), auth=auth)
    reply = f"{code} {text}".replace("\n", " | ")
    if code >= 400:
        print(f"REJECTED: {reply}")
        return 1
    print(f"ACCEPTED: {reply}")
    if user:
        waitForMail(user, before + 1)
        print(f"delivered to {user}'s Maildir")
    return 0


def main(argv):
    parser = argparse.ArgumentParser(prog="tests/courier.py")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("install", help="install Courier (apt)")
    commands.add_parser("configure", help="configure Courier for the tests")
    commands.add_parser("start", help="start Courier (and a syslog sink)")
    commands.add_parser("stop", help="stop Courier (and the syslog sink)")
    commands.add_parser("log", help="print the last lines of Courier's log")
    commands.add_parser("syslog-sink", help="receive /dev/log (internal)")
    sending = commands.add_parser("send", help="send one message by SMTP")
    sending.add_argument("mailFrom")
    sending.add_argument("rcptTo")
    sending.add_argument("--attach", help="attach a file of this name")
    sending.add_argument("--auth", help="USER:PASSWORD")
    sending.add_argument("--delivered-to", metavar="USER",
                         help="when accepted, wait until USER got it")
    options = parser.parse_args(argv)
    try:
        if options.command == "install":
            install()
        elif options.command == "configure":
            configure()
        elif options.command == "start":
            startSyslog()
            startDaemons()
            print(f"Courier is running; its log is {logSource()}")
        elif options.command == "stop":
            stopDaemons()
            if pidFileAlive(SYSLOG_PID):
                with open(SYSLOG_PID, encoding="ascii") as f:
                    stopSyslog(int(f.read().split()[0]))
        elif options.command == "log":
            with open(logSource(), "rb") as f:
                lines = f.read().decode("utf-8", "replace").splitlines()
            print("\n".join(lines[-30:]))
        elif options.command == "syslog-sink":
            syslogSink(SYSLOG_FILE)
        elif options.command == "send":
            return sendCommand(options)
    except (CourierError, AssertionError, OSError, smtplib.SMTPException
            ) as e:
        print(f"tests/courier.py {options.command}: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
