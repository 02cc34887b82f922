"""
Modules written for the reference, through the real daemon process: a
C{do_filter} answering C{None}, and C{pythonfilter.ttldb} kept in the
daemon's state store (embedded, and PostgreSQL shared by two daemons).
"""

import os
import shutil
import sqlite3
import tempfile

from twisted.trial.unittest import SynchronousTestCase

from tests import legacymods, postgres
from tests.daemon import Daemon

HERE = os.path.dirname(os.path.abspath(__file__))
TEST_FILTERS = os.path.join(HERE, "daemonfilters")
GREYLISTED = b"451 4.7.1 Greylisted, try again later\n"


class LegacyDaemonTests(SynchronousTestCase):
    def daemon(self, chain, modules=None, pythonPath=(TEST_FILTERS,),
               stateDir=None):
        daemon = Daemon(chain, modules, pythonPath=list(pythonPath),
                        stateDir=stateDir)
        self.addCleanup(daemon.cleanup)
        daemon.start()
        return daemon

    def stateDir(self):
        path = tempfile.mkdtemp(prefix="pyfilter-state-")
        self.addCleanup(shutil.rmtree, path, True)
        return path

    def test_noneAnswerGoesOn(self):
        """A do_filter answering None has no opinion: the next filter
        decides (here a module of the admin's pythonfilter package keeping
        its senders with ttldb), and it is logged once, not per message."""
        daemon = self.daemon("legacynone\nlegacycorrespondents\n",
                             pythonPath=[legacymods.DIRECTORY])
        self.assertEqual(daemon.request(*daemon.copyMessage("c-auth")),
                         b"200 Ok\n")
        reply = daemon.request(*daemon.copyMessage("c-auth"))
        self.assertTrue(reply.startswith(b"250 Known sender since "), reply)
        self.assertEqual(daemon.stop(), 0)
        self.assertEqual(daemon.log().count("returned None"), 1,
                         daemon.log())

    def test_ttldbEmbeddedStore(self):
        """A module on the module path using C{from pythonfilter import
        ttldb} keeps its entries in the daemon's embedded store, in its
        state directory, across restarts."""
        stateDir = self.stateDir()
        daemon = self.daemon("legacygreylist\n", stateDir=stateDir)
        self.assertEqual(daemon.request(*daemon.copyMessage("a-plain")),
                         GREYLISTED)
        self.assertEqual(daemon.request(*daemon.copyMessage("a-plain")),
                         b"200 Ok\n")
        self.assertEqual(daemon.stop(), 0)
        with sqlite3.connect(os.path.join(stateDir, "state.sqlite")) as db:
            names = db.execute("SELECT DISTINCT name FROM state").fetchall()
        self.assertEqual(names, [("ttldb:legacygreylist",)])
        again = self.daemon("legacygreylist\n", stateDir=stateDir)
        self.assertEqual(again.request(*again.copyMessage("a-plain")),
                         b"200 Ok\n")
        self.assertEqual(again.stop(), 0)

    def test_ttldbPostgresShared(self):
        """With C{[ttldb] type = 'psycopg2'}, two daemons share the
        entries: what one records, the other sees."""
        server = postgres.sharedServer()
        modules = server.ttldbSection(server.createDatabase()["db"])
        first = self.daemon("legacygreylist\n", modules)
        second = self.daemon("legacygreylist\n", modules)
        self.assertEqual(first.request(*first.copyMessage("a-plain")),
                         GREYLISTED)
        self.assertEqual(second.request(*second.copyMessage("a-plain")),
                         b"200 Ok\n")
        self.assertEqual(second.request(*second.copyMessage("c-auth")),
                         GREYLISTED)
        self.assertEqual(first.stop(), 0)
        self.assertEqual(second.stop(), 0)
