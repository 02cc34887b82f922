"""
A real PostgreSQL server for tests, from Debian's packages, in a temporary
directory: initdb and pg_ctl run as the C{postgres} user when the tests run
as root; the server listens only on a UNIX socket in that directory and is
stopped and removed afterwards.

L{sharedServer} starts one server per test process (stopped at exit);
tests that stop and restart a server create their own L{PostgresServer}.
"""

import atexit
import glob
import itertools
import os
import pwd
import shutil
import subprocess
import tempfile

from twisted.trial.unittest import SkipTest

_databases = itertools.count(1)
_shared = None


def _binaries():
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        raise SkipTest("PostgreSQL server binaries are absent "
                       "(install Debian's postgresql package)")
    return os.path.dirname(found[-1])


class PostgresServer:
    """
    One server; C{settings} are the C{[ttldb]} options reaching it.
    """

    def __init__(self):
        self.bin = _binaries()
        self.asUser = []
        self.directory = tempfile.mkdtemp(prefix="pyfilter-pg-")
        if os.getuid() == 0:
            try:
                account = pwd.getpwnam("postgres")
            except KeyError:
                raise SkipTest("running as root and there is no postgres "
                               "user to run the PostgreSQL server") from None
            os.chown(self.directory, account.pw_uid, account.pw_gid)
            self.asUser = ["runuser", "-u", "postgres", "--"]
        self.data = os.path.join(self.directory, "data")
        self.user = "pyfilter"
        self._run("initdb", "-D", self.data, "-A", "trust", "-U", self.user,
                  "--no-sync")

    def _run(self, program, *args, timeout=60):
        subprocess.run(self.asUser + [os.path.join(self.bin, program)]
                       + list(args), check=True, timeout=timeout,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def start(self):
        options = (f"-c listen_addresses='' -k {self.directory} -c fsync=off"
                   " -c synchronous_commit=off -c full_page_writes=off"
                   " -c max_connections=100")
        self._run("pg_ctl", "-D", self.data, "-o", options, "-w", "-t", "30",
                  "-l", os.path.join(self.directory, "log"), "start")
        self._watchOverTestProcess()

    def _watchOverTestProcess(self):
        """
        Stop and remove the server if the test process dies without
        cleaning up (killed by a timeout, for example).
        """
        stop = " ".join(self.asUser + [
            os.path.join(self.bin, "pg_ctl"), "-D", self.data, "-m",
            "immediate", "stop"])
        subprocess.Popen(
            ["sh", "-c", f"while kill -0 {os.getpid()} 2>/dev/null; do "
             f"sleep 2; done; {stop} >/dev/null 2>&1; "
             f"rm -rf {self.directory}"],
            start_new_session=True, stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def stop(self, mode="fast"):
        self._run("pg_ctl", "-D", self.data, "-m", mode, "-w", "-t", "30",
                  "stop")

    def destroy(self):
        try:
            self.stop("immediate")
        except subprocess.CalledProcessError:
            pass
        shutil.rmtree(self.directory, ignore_errors=True)

    def createDatabase(self):
        """
        A new empty database; returns its C{[ttldb]} settings.
        """
        name = f"test{os.getpid()}_{next(_databases)}"
        self._run("createdb", "-h", self.directory, "-U", self.user, name)
        return self.settings(name)

    def settings(self, database):
        return {"host": self.directory, "db": database, "user": self.user,
                "password": ""}

    def ttldbSection(self, database):
        """
        The C{[ttldb]} section text for C{database}.
        """
        return ("[ttldb]\ntype = 'psycopg2'\n"
                + "".join(f"{k} = {v!r}\n"
                          for k, v in self.settings(database).items()))


def sharedServer():
    """
    The test process's one running server (started on first use).
    """
    global _shared
    if _shared is None:
        server = PostgresServer()
        atexit.register(server.destroy)
        server.start()
        _shared = server
    return _shared


def privateServer(testCase):
    """
    A running server of C{testCase}'s own, destroyed after it.
    """
    server = PostgresServer()
    testCase.addCleanup(server.destroy)
    server.start()
    return server
