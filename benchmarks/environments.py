"""
The services a benchmark system needs besides the filter daemons, started
once for the system and shared by both daemons (the same backend for the
reference and pyfilter):

  - L{Embedded}: no service; the reference's dbm TtlDb in a fresh directory
    per cell, pyfilter's SQLite store in its (fresh) state directory;
  - L{Postgres}: one PostgreSQL server (C{tests.postgres}), a new database
    per cell;
  - L{Clamd}: one clamd (C{tests.services}) on a UNIX socket;
  - L{Spamd}: one spamd (C{tests.services}) on 127.0.0.1:783, where the
    reference's C{spamc} looks for it;
  - L{Rspamd}: one rspamd (C{tests.rspamd}, with its Redis and DNS
    server) on a loopback port; pyfilter alone (the reference has no
    rspamd filter);
  - L{LoopbackDNS}: C{tests.dnsserver} on 127.0.0.1:53 (answering, or
    C{silent}) and C{tests.smtpserver} on 127.0.0.1:25, inside the private
    network and mount namespace L{enterLoopbackNamespace} sets up.

The services run from the test suite's helpers through C{service_host.py}
(on the interpreter that has Twisted).  A system's modules text may name C{{placeholders}}; L{Environment.values}
gives them per server and cell.  L{Environment.afterCell} may count what
the store holds after a cell (the lost-update check).
"""

import json
import os
import shutil
import socket
import sqlite3
import subprocess

from benchmarks import fixtures
from benchmarks.servers import BENCHMARKS, REPOSITORY

#: The interpreter the test helpers (Twisted) run on: the test venv's, as
#: in tools/test.sh.
HELPER_PYTHON = os.path.join(
    os.environ.get("PYFILTER_TEST_VENV", "/opt/pyfilter-test"), "bin", "python")


def processTable():
    """
    C{{pid: (ppid, CPU seconds)}} of every process, the CPU seconds being
    its own utime+stime plus its reaped children's.
    """
    ticks = os.sysconf("SC_CLK_TCK")
    table = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        table[int(name)] = (int(fields[1]),
                            sum(map(int, fields[11:15])) / ticks)
    return table


def treeCpuSeconds(roots):
    """
    CPU seconds of the processes C{roots} and all their descendants.
    """
    table = processTable()
    children = {}
    for pid, (ppid, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    total, pending = 0.0, [pid for pid in roots if pid in table]
    while pending:
        pid = pending.pop()
        total += table[pid][1]
        pending += children.get(pid, [])
    return total


class HostedService:
    """
    A service run by C{service_host.py}; C{info} describes it.
    """

    def __init__(self, kind, parent):
        self.process = subprocess.Popen(
            [HELPER_PYTHON, os.path.join(BENCHMARKS, "service_host.py"),
             kind, parent], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            text=True)
        line = self.process.stdout.readline()
        if not line:
            self.process.wait(30)
            raise RuntimeError(f"{kind} did not start")
        self.info = json.loads(line)

    def stop(self):
        self.process.stdin.close()
        self.process.wait(60)

    def busySeconds(self):
        roots = [self.process.pid]
        if "postmasterPidFile" in self.info:
            with open(self.info["postmasterPidFile"]) as f:
                roots.append(int(f.readline()))
        return treeCpuSeconds(roots)


class Environment:
    """
    No service: nothing to start, no placeholders, no check.
    """

    #: pyfilter's extra command-line arguments.
    pyfilterArgs = ()

    def start(self, work):
        self.work = work

    def stop(self):
        pass

    def unavailable(self):
        """
        Why the service could not start (its cells are then n/a), or None.
        """
        return None

    def values(self, serverName):
        """
        The placeholders of the modules text for the next cell.
        """
        return {}

    def busySeconds(self):
        """
        CPU time the service's processes used so far (the runner does not
        count it as other processes' noise).
        """
        return 0.0

    def afterCell(self, serverName, server, cell):
        """
        A dict describing the store's content after C{cell}, or None.
        """
        return None


def receivedCount(cell):
    """
    Replies the daemon gave during C{cell}, warm-up included.
    """
    total = 0
    for run in cell.runs:
        for replies in (run["replies"], run.get("warmupReplies", {})):
            total += sum(replies.values())
    return total


class Embedded(Environment):
    """
    The embedded stores: the reference's dbm files, pyfilter's SQLite.
    """

    def values(self, serverName):
        directory = os.path.join(self.work, "reference-ttldb")
        shutil.rmtree(directory, ignore_errors=True)
        os.makedirs(directory)
        return {"ttldb": f"[ttldb]\ntype = 'dbm'\ndir = {directory!r}\n"}

    def afterCell(self, serverName, server, cell):
        if serverName != "pyfilter" or cell.status != "ok":
            return None
        path = os.path.join(server.stateDir, "state.sqlite")
        with sqlite3.connect(path) as connection:
            return _counts(cell, lambda sql: connection.execute(sql).fetchall(),
                           "counters", "state")


def _counts(cell, query, counters, state):
    """
    The rate counters' sum against the messages received, and the number
    of greylist entries that passed.
    """
    total, = query(f"SELECT COALESCE(SUM(count), 0) FROM {counters} "
                   "WHERE name = 'ratelimit'")[0]
    passed, = query(f"SELECT COUNT(*) FROM {state} "
                    "WHERE name = 'greylist_Passed'")[0]
    return {"received": receivedCount(cell), "ratelimitSum": int(total),
            "greylistPassed": int(passed)}


class HostedEnvironment(Environment):
    """
    One service of L{HostedService}, named by C{serviceName}.
    """

    serviceName = None

    def start(self, work):
        Environment.start(self, work)
        self.service = HostedService(self.serviceName, work)

    def stop(self):
        self.service.stop()

    def busySeconds(self):
        return self.service.busySeconds()


class Postgres(HostedEnvironment):
    """
    One PostgreSQL server on a UNIX socket; a new database per cell.
    """

    serviceName = "postgres"

    def start(self, work):
        HostedEnvironment.start(self, work)
        self.databases = 0

    def _run(self, program, *args):
        info = self.service.info
        return subprocess.run(
            info["asUser"] + [os.path.join(info["bin"], program), "-h",
                              info["host"], "-U", info["user"], *args],
            check=True, capture_output=True, text=True, timeout=60).stdout

    def values(self, serverName):
        self.databases += 1
        self.database = f"bench{self.databases}"
        self._run("createdb", self.database)
        info = self.service.info
        # The reference's psycopg2 TtlDb needs a port (the socket's name).
        return {"ttldb": "[ttldb]\ntype = 'psycopg2'\nport = 5432\n"
                f"host = {info['host']!r}\ndb = {self.database!r}\n"
                f"user = {info['user']!r}\npassword = ''\n"}

    def afterCell(self, serverName, server, cell):
        if serverName != "pyfilter" or cell.status != "ok":
            return None

        def query(sql):
            return [tuple(line.split("|")) for line in self._run(
                "psql", "-At", "-d", self.database, "-c", sql).split()]
        return _counts(cell, query, "pyfilter_counters", "pyfilter_state")


class Clamd(HostedEnvironment):
    """
    One clamd with the project's test signature.

    clamd remembers the files it found clean (by their MD5): before the
    first cell, each fixture copy is scanned once, so that every cell, the
    reference's (which run first) as pyfilter's, meets clamd in the same
    state instead of the first paying for scans the later ones skip.
    """

    serviceName = "clamd"

    def start(self, work):
        HostedEnvironment.start(self, work)
        for kind in fixtures.KINDS:
            for dataPath, _ in fixtures.fixturePaths(work, kind):
                scanOnce(self.service.info["socket"], dataPath)

    def values(self, serverName):
        return {"clamdSocket": repr(self.service.info["socket"])}


def scanOnce(socketPath, path, timeout=120):
    """
    Have clamd scan C{path} (C{zSCAN}); its one-line answer.
    """
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
        connection.settimeout(timeout)
        connection.connect(socketPath)
        connection.sendall(b"zSCAN " + os.fsencode(path) + b"\0")
        answer = b""
        while not answer.endswith(b"\0"):
            more = connection.recv(4096)
            if not more:
                break
            answer += more
    return answer.rstrip(b"\0").decode(errors="replace")


class Spamd(HostedEnvironment):
    """
    One spamd on 127.0.0.1:783 (spamc's default).
    """

    serviceName = "spamd"


class Rspamd(HostedEnvironment):
    """
    One rspamd; a machine without it (or without redis-server) gives
    n/a cells with the reason.  C{{rspamdUrl}} is its normal worker.
    After a cell, rspamd's own CPU per message (pyfilter's is the cell's
    C{cpuMsPerMessage}).
    """

    serviceName = "rspamd"

    def unavailable(self):
        return self.service.info.get("unavailable")

    def values(self, serverName):
        self.cpuBefore = self.service.busySeconds()
        return {"rspamdUrl": repr(self.service.info["url"])}

    def afterCell(self, serverName, server, cell):
        received = receivedCount(cell)
        if cell.status != "ok" or not received:
            return None
        cpu = self.service.busySeconds() - self.cpuBefore
        return {"received": received,
                "rspamdCpuMsPerMessage": round(cpu * 1000 / received, 3)}


class LoopbackDNS(Embedded):
    """
    The fixture names' DNS server on 127.0.0.1:53 and a call-out SMTP
    target on 127.0.0.1:25; only inside the loopback namespace.
    """

    pyfilterArgs = ("--resolver", "127.0.0.1:53")

    def __init__(self, silent=False):
        self.silent = silent

    def start(self, work):
        Embedded.start(self, work)
        if os.environ.get(NAMESPACE_MARKER) != "1":
            raise RuntimeError("the DNS systems run only inside the "
                               "loopback namespace")
        self.processes = []
        dns = ["-m", "tests.dnsserver", "--port", "53"]
        smtp = ["-m", "tests.smtpserver", "--port", "25", "--interface",
                "127.0.0.1"]
        for argv in (dns + (["--silent"] if self.silent else []), smtp):
            process = subprocess.Popen(
                [HELPER_PYTHON, *argv], cwd=REPOSITORY, text=True,
                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                stdin=subprocess.DEVNULL)
            self.processes.append(process)
            process.stdout.readline()

    def stop(self):
        for process in self.processes:
            process.terminate()
            process.wait(10)

    def busySeconds(self):
        return treeCpuSeconds([process.pid for process in self.processes])

    afterCell = Environment.afterCell


#: Set in the environment of a runner already inside the namespace.
NAMESPACE_MARKER = "PYFILTER_BENCH_LOOPBACK_NAMESPACE"


def namespaceCommand(argv):
    """
    The command that runs C{argv} (a runner) in a private network and mount
    namespace: only a loopback interface, and a resolv.conf naming
    127.0.0.1 bound over /etc/resolv.conf for that namespace only.
    """
    return ["unshare", "--mount", "--net", "--", *argv]


def enterLoopbackNamespace(work):
    """
    Inside the fresh namespace: bring up lo and bind the resolv.conf.
    """
    resolvConf = os.path.join(work, "resolv.conf")
    with open(resolvConf, "w") as f:
        f.write("nameserver 127.0.0.1\noptions timeout:2 attempts:1\n")
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    subprocess.run(["mount", "--bind", resolvConf, "/etc/resolv.conf"],
                   check=True)
