"""
Two real pyfilter daemons sharing one state store (one SQLite state
directory, or one PostgreSQL database) see one greylist and one rate
counter (each daemon's counts reaching the other within count_interval).
"""

import tempfile
import shutil
import time

from twisted.trial import unittest

from tests import postgres
from tests.daemon import Daemon

CHAIN = "ratelimit\ngreylist\n"
MODULES = ("[greylist.py]\ngreylist_time = 1\n"
           "[ratelimit.py]\nmax_connections = 4\ninterval = 2\n")


class TwoDaemonsMixin:
    timeout = 120

    def startDaemons(self, ttldb, stateDir=None):
        daemons = []
        for _ in range(2):
            daemon = Daemon(CHAIN, ttldb + MODULES, stateDir=stateDir)
            self.addCleanup(daemon.cleanup)
            daemon.start()
            daemons.append(daemon)
        return daemons

    def ask(self, daemon):
        return daemon.request(*daemon.copyMessage("a-plain")).decode()

    def test_oneGreylistOneCounter(self):
        """A triplet greylisted by one daemon passes the other after the delay, and the rate counter counts both daemons' messages: each counts in memory and sees the other's counts once an interval (count_interval, 1 s) has passed."""
        first, second = self.startDaemons(*self.store())
        self.assertTrue(self.ask(first).startswith(
            "451 4.7.1 Greylisting in action, please come back in 00:00:0"))
        time.sleep(1.5)
        self.assertEqual(self.ask(second), "200 Ok\n")
        self.assertEqual(self.ask(first), "200 Ok\n")
        time.sleep(1.5)
        self.assertEqual(self.ask(second), "200 Ok\n")
        self.assertEqual(self.ask(first),
                         "421 Too many messages from 127.0.0.1, slow down.\n")
        for daemon in (first, second):
            self.assertEqual(daemon.stop(), 0)


class SQLiteTwoDaemonsTests(TwoDaemonsMixin, unittest.TestCase):
    def store(self):
        stateDir = tempfile.mkdtemp(prefix="pyfilter-state-")
        self.addCleanup(shutil.rmtree, stateDir, True)
        return "", stateDir


class PostgresTwoDaemonsTests(TwoDaemonsMixin, unittest.TestCase):
    def store(self):
        server = postgres.sharedServer()
        settings = server.createDatabase()
        return server.ttldbSection(settings["db"]), None


class PostgresOutageDaemonTests(unittest.TestCase):
    timeout = 120

    def test_deadServerThenRecovery(self):
        """With its PostgreSQL stopped a running daemon answers on_store_error within the store's timeout, and greylists again once the server is back, without a restart."""
        server = postgres.privateServer(self)
        settings = server.createDatabase()
        daemon = Daemon(CHAIN, server.ttldbSection(settings["db"])
                        + "timeout = 2\n" + MODULES)
        self.addCleanup(daemon.cleanup)
        daemon.start()
        ask = TwoDaemonsMixin.ask
        self.assertTrue(ask(self, daemon).startswith("451 4.7.1 Greylisting"))
        server.stop()
        started = time.monotonic()
        self.assertEqual(ask(self, daemon), "451 4.3.0 Temporary failure of "
                         "the mail filter's state store, try again later\n")
        self.assertLess(time.monotonic() - started, 5)
        server.start()
        time.sleep(1.1)  # the store's retry delay after a failed connection
        self.assertEqual(ask(self, daemon), "200 Ok\n")
        self.assertIn("is available again", daemon.log())
        self.assertEqual(daemon.stop(), 0)
