"""
Tests for the state store: one behaviour suite run against the memory,
SQLite and PostgreSQL back ends, plus configuration and key derivation.
"""

import os
import sqlite3

import psycopg2
from twisted.internet import defer, reactor
from twisted.internet.task import Clock
from twisted.logger import capturedLogs, formatEvent
from twisted.trial import unittest

from pyfilter import store
from pyfilter.config.errors import ConfigError
from pyfilter.store import Table, referenceKey, tupleKey
from pyfilter.store.memory import MemoryStore
from pyfilter.store.postgres import PostgresStore
from pyfilter.store.sqlite import SQLiteStore
from tests import postgres
from tests.helpers import makeContext
from pyfilter.store import storeFor

START = 1_800_000_000.0


class StoreTestsMixin:
    """
    The behaviour every back end shares; subclasses provide C{makeStore}
    and C{rowCount}.
    """

    def setUp(self):
        self.clock = Clock()
        self.clock.advance(START)
        self.store = self.makeStore()
        self.store.start()
        self.addCleanup(self.store.close)

    @defer.inlineCallbacks
    def test_getMissing(self):
        """A key never set reads as None."""
        self.assertIsNone((yield self.store.get("t", "k")))

    @defer.inlineCallbacks
    def test_setThenGet(self):
        """A value set is read back, and a second set replaces it."""
        yield self.store.set("t", "k", 5, 60)
        self.assertEqual((yield self.store.get("t", "k")), 5)
        yield self.store.set("t", "k", 7, 60)
        self.assertEqual((yield self.store.get("t", "k")), 7)

    @defer.inlineCallbacks
    def test_tablesAreSeparate(self):
        """The same key in two tables holds two values."""
        yield self.store.set("a", "k", 1, 60)
        yield self.store.set("b", "k", 2, 60)
        self.assertEqual((yield self.store.get("a", "k")), 1)
        self.assertEqual((yield self.store.get("b", "k")), 2)

    @defer.inlineCallbacks
    def test_expiryHonouredOnRead(self):
        """An entry is gone once its time to live has passed, before any purge."""
        yield self.store.set("t", "k", 5, 60)
        self.clock.advance(59)
        self.assertEqual((yield self.store.get("t", "k")), 5)
        self.clock.advance(1)
        self.assertIsNone((yield self.store.get("t", "k")))

    @defer.inlineCallbacks
    def test_addKeepsLiveEntry(self):
        """add does not replace a live entry but replaces an expired one."""
        yield self.store.add("t", "k", 1, 60)
        yield self.store.add("t", "k", 2, 60)
        self.assertEqual((yield self.store.get("t", "k")), 1)
        self.clock.advance(60)
        yield self.store.add("t", "k", 3, 60)
        self.assertEqual((yield self.store.get("t", "k")), 3)

    @defer.inlineCallbacks
    def test_refreshReplacesOnlyLiveEntry(self):
        """refresh replaces a live entry and says so; a missing or expired
        one stays missing."""
        self.assertFalse((yield self.store.refresh("t", "k", 2, 60)))
        self.assertIsNone((yield self.store.get("t", "k")))
        yield self.store.set("t", "k", 1, 60)
        self.clock.advance(30)
        self.assertTrue((yield self.store.refresh("t", "k", 2, 60)))
        self.clock.advance(59)
        self.assertEqual((yield self.store.get("t", "k")), 2)
        self.clock.advance(1)
        self.assertFalse((yield self.store.refresh("t", "k", 3, 60)))
        self.assertIsNone((yield self.store.get("t", "k")))

    @defer.inlineCallbacks
    def test_delete(self):
        """A deleted key reads as None; deleting a missing key is fine."""
        yield self.store.set("t", "k", 5, 60)
        yield self.store.delete("t", "k")
        yield self.store.delete("t", "other")
        self.assertIsNone((yield self.store.get("t", "k")))

    @defer.inlineCallbacks
    def test_pop(self):
        """pop returns value and expiry of a live entry and removes it."""
        yield self.store.set("t", "k", 5, 60)
        self.assertEqual((yield self.store.pop("t", "k")), (5, START + 60))
        self.assertIsNone((yield self.store.pop("t", "k")))
        yield self.store.set("t", "old", 5, 10)
        self.clock.advance(10)
        self.assertIsNone((yield self.store.pop("t", "old")))

    @defer.inlineCallbacks
    def test_hasAny(self):
        """hasAny tells whether a table holds a live entry."""
        self.assertFalse((yield self.store.hasAny("t")))
        yield self.store.set("t", "k", 5, 10)
        self.assertTrue((yield self.store.hasAny("t")))
        self.clock.advance(10)
        self.assertFalse((yield self.store.hasAny("t")))

    @defer.inlineCallbacks
    def test_incrementWindow(self):
        """increment counts events in the minutes of the window, then forgets them."""
        counts = []
        for _ in range(3):
            counts.append((yield self.store.increment("r", "ip", 120)))
        self.clock.advance(60)
        counts.append((yield self.store.increment("r", "ip", 120)))
        self.clock.advance(60)
        counts.append((yield self.store.increment("r", "ip", 120)))
        counts.append((yield self.store.increment("r", "other", 120)))
        self.assertEqual(counts, [1, 2, 3, 4, 2, 1])

    @defer.inlineCallbacks
    def test_concurrentIncrementsLoseNothing(self):
        """Two hundred increments issued at once count two hundred."""
        yield defer.gatherResults(
            [self.store.increment("r", "ip", 60) for _ in range(200)])
        self.assertEqual((yield self.store.increment("r", "ip", 60)), 201)

    @defer.inlineCallbacks
    def test_purgeRemovesExpired(self):
        """The background purge removes expired entries and counters only."""
        yield self.store.set("t", "short", 1, 10)
        yield self.store.set("t", "long", 1, 1000)
        yield self.store.increment("r", "ip", 60)
        self.clock.advance(self.store.purgeInterval)
        yield self.store.purge()  # wait for the background one's successor
        self.assertEqual((yield self.rowCount()), 1)
        self.assertEqual((yield self.store.get("t", "long")), 1)

    @defer.inlineCallbacks
    def test_referenceEntriesAdopted(self):
        """A Table finds an imported reference entry by its MD5 key and moves it."""
        yield self.store.set("g" + store.REFERENCE_SUFFIX,
                             referenceKey("ab", "c"), 42, 100)
        table = Table(self.store, "g", reference=True)
        yield table.start()
        self.assertEqual((yield table.get(("ab", "c"))), 42)
        self.assertFalse((yield self.store.hasAny("g" + store.REFERENCE_SUFFIX)))
        self.assertEqual((yield self.store.get("g", tupleKey("ab", "c"))), 42)
        self.clock.advance(100)
        self.assertIsNone((yield table.get(("ab", "c"))))


class CountInMemoryTestsMixin:
    """
    Write-behind counting (L{store.Store.countInMemory}) on every back end;
    subclasses provide C{makeStore} and C{counterSum}.
    """

    interval = 1.0

    def setUp(self):
        self.clock = Clock()
        self.clock.advance(START)
        self.store = self.makeStore()
        self.store.countInMemory(self.interval)
        self.store.start()

    def tearDown(self):
        return self.store.close()

    # One daemon's answers are exact, and the window still slides.
    test_incrementWindow = StoreTestsMixin.test_incrementWindow

    @defer.inlineCallbacks
    def test_concurrentEventsLoseNothing(self):
        """Two hundred events at once are answered 1 to 200, and written."""
        counts = yield defer.gatherResults(
            [self.store.increment("r", "ip", 60) for _ in range(200)])
        self.assertEqual(sorted(counts), list(range(1, 201)))
        yield self.store.counting.write()
        self.assertEqual((yield self.counterSum()), 200)

    @defer.inlineCallbacks
    def test_writtenEveryInterval(self):
        """Events answered from memory reach the store within an interval."""
        yield self.store.increment("r", "ip", 60)
        self.assertEqual((yield self.counterSum()), 1)
        for _ in range(4):
            self.store.increment("r", "ip", 60)
        self.assertEqual((yield self.counterSum()), 1)
        self.clock.advance(self.interval)
        yield self.store.counting.write()
        self.assertEqual((yield self.counterSum()), 5)

    @defer.inlineCallbacks
    def test_closeWritesTheCounts(self):
        """Closing the store writes the events still in memory."""
        for _ in range(10):
            yield self.store.increment("r", "ip", 60)
        yield self.store.close()
        self.assertEqual((yield self.counterSum()), 10)
        self.store = self.makeStore()


class MemoryStoreTests(StoreTestsMixin, unittest.TestCase):
    def makeStore(self):
        return MemoryStore(self.clock)

    def rowCount(self):
        return defer.succeed(len(self.store.entries)
                             + sum(map(len, self.store.counters.values())))


class MemoryCountInMemoryTests(CountInMemoryTestsMixin, unittest.TestCase):
    def makeStore(self):
        if not hasattr(self, "memory"):
            self.memory = MemoryStore(self.clock)
        return self.memory

    def counterSum(self):
        return defer.succeed(sum(
            count for buckets in self.memory.counters.values()
            for count, _ in buckets.values()))

    @defer.inlineCallbacks
    def test_answeredFromMemory(self):
        """After a counter's first event, its events cost no store
        operation until the interval's write."""
        operations = []
        execute = self.store._execute

        def counted(operation, *args):
            operations.append((operation, args[-1]))
            return execute(operation, *args)
        self.store._execute = counted
        yield self.store.increment("r", "ip", 60)
        for _ in range(5):
            yield self.store.increment("r", "ip", 60)
        self.assertEqual(operations, [("increment", 1)])
        self.clock.advance(self.interval)
        self.assertEqual(operations, [("increment", 1), ("increment", 5)])

    @defer.inlineCallbacks
    def test_idleCounterReadAgain(self):
        """A counter idle for an interval is forgotten: its next event
        reads the store's total (other daemons' events included)."""
        yield self.store.increment("r", "ip", 60)
        self.clock.advance(self.interval)
        self.memory._increment("r", "ip", int(self.store.now() // 60),
                               0, START + 600, 7)  # another daemon's events
        self.assertEqual((yield self.store.increment("r", "ip", 60)), 9)

    @defer.inlineCallbacks
    def test_failedWriteRetried(self):
        """With the store down the events waiting for it fail with
        StoreError; every event is written once the store is back."""
        yield self.store.increment("r", "ip", 60)
        self.store.increment("r", "ip", 60)
        working = self.store._execute
        self.store._execute = lambda *args: defer.fail(ConnectionError("down"))
        self.clock.advance(self.interval)
        self.failureResultOf(self.store.increment("r", "ip", 60),
                             store.StoreError)
        self.store._execute = working
        self.assertEqual((yield self.store.increment("r", "ip", 60)), 4)
        self.assertEqual((yield self.counterSum()), 4)
        self.flushLoggedErrors()


class SQLiteCountInMemoryTests(CountInMemoryTestsMixin, unittest.TestCase):
    def makeStore(self):
        if not hasattr(self, "directory"):
            self.directory = self.mktemp()
            os.makedirs(self.directory)
        return SQLiteStore(self.directory, reactor, self.clock)

    def counterSum(self):
        with sqlite3.connect(os.path.join(self.directory, "state.sqlite")) \
                as connection:
            return defer.succeed(connection.execute(
                "SELECT COALESCE(SUM(count), 0) FROM counters").fetchone()[0])

    @defer.inlineCallbacks
    def test_twoStoresCountTogether(self):
        """Two daemons on one directory lose no event, and each sees the
        other's once both wrote and an interval passed."""
        other = SQLiteStore(self.directory, reactor, self.clock)
        other.countInMemory(self.interval)
        other.start()
        self.addCleanup(other.close)
        yield defer.gatherResults(
            [s.increment("r", "ip", 60) for s in (self.store, other) * 50])
        yield defer.gatherResults([self.store.counting.write(),
                                   other.counting.write()])
        self.clock.advance(self.interval)
        self.assertEqual((yield other.increment("r", "ip", 60)), 101)


class SQLiteStoreTests(StoreTestsMixin, unittest.TestCase):
    def makeStore(self):
        self.directory = self.mktemp()
        os.makedirs(self.directory)
        return SQLiteStore(self.directory, reactor, self.clock)

    def rowCount(self):
        with sqlite3.connect(self.store.path) as connection:
            return defer.succeed(sum(
                connection.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
                for table in ("state", "counters")))

    @defer.inlineCallbacks
    def test_twoStoresShareOneDirectory(self):
        """Two stores on one directory (as two daemons) share entries and counters."""
        other = SQLiteStore(self.directory, reactor, self.clock)
        other.start()
        self.addCleanup(other.close)
        yield self.store.set("t", "k", 5, 60)
        self.assertEqual((yield other.get("t", "k")), 5)
        yield defer.gatherResults(
            [s.increment("r", "ip", 60) for s in (self.store, other) * 50])
        self.assertEqual((yield other.increment("r", "ip", 60)), 101)

    @defer.inlineCallbacks
    def test_closeRunsWhatWasAsked(self):
        """Operations asked for in the reactor turn that closes the store
        are still carried out."""
        written = self.store.set("t", "k", 5, 60)
        self.store.close()
        yield written
        other = SQLiteStore(self.directory, reactor, self.clock)
        other.start()
        self.addCleanup(other.close)
        self.assertEqual((yield other.get("t", "k")), 5)

    test_closeRunsWhatWasAsked.timeout = 30

    @defer.inlineCallbacks
    def test_filesCreatedByRootGivenToDirectoryOwner(self):
        """Made by root (pyfilter import-state), the database files belong
        to the state directory's owner, the daemon's user."""
        if os.geteuid() != 0:
            raise unittest.SkipTest("needs root, to give files away")
        os.chown(self.directory, 65534, 65534)
        yield self.store.set("t", "k", 5, 60)
        for suffix in ("", "-wal", "-shm"):
            status = os.stat(self.store.path + suffix)
            self.assertEqual((status.st_uid, status.st_gid), (65534, 65534))

    def test_walMode(self):
        """The database is in WAL mode."""
        d = self.store.get("t", "k")

        def check(_):
            with sqlite3.connect(self.store.path) as connection:
                mode = connection.execute("PRAGMA journal_mode").fetchone()[0]
            self.assertEqual(mode, "wal")
        return d.addCallback(check)


class PostgresStoreTests(StoreTestsMixin, unittest.TestCase):
    def makeStore(self):
        self.settings = postgres.sharedServer().createDatabase()
        return PostgresStore(self.settings, reactor, self.clock)

    def rowCount(self):
        connection = psycopg2.connect(
            **{("dbname" if k == "db" else k): v
               for k, v in self.settings.items()})
        try:
            cursor = connection.cursor()
            cursor.execute("SELECT (SELECT COUNT(*) FROM pyfilter_state)"
                           " + (SELECT COUNT(*) FROM pyfilter_counters)")
            return defer.succeed(cursor.fetchone()[0])
        finally:
            connection.close()

    @defer.inlineCallbacks
    def test_twoStoresShareOneDatabase(self):
        """Two stores on one database (as two servers) lose no increment."""
        other = PostgresStore(self.settings, reactor, self.clock)
        self.addCleanup(other.close)
        yield defer.gatherResults(
            [s.increment("r", "ip", 60) for s in (self.store, other) * 100])
        self.assertEqual((yield other.increment("r", "ip", 60)), 201)


class PostgresCountInMemoryTests(CountInMemoryTestsMixin, unittest.TestCase):
    def makeStore(self):
        if not hasattr(self, "settings"):
            self.settings = postgres.sharedServer().createDatabase()
        return PostgresStore(self.settings, reactor, self.clock)

    def counterSum(self):
        connection = psycopg2.connect(
            **{("dbname" if k == "db" else k): v
               for k, v in self.settings.items()})
        try:
            cursor = connection.cursor()
            cursor.execute("SELECT COALESCE(SUM(count), 0)"
                           " FROM pyfilter_counters")
            return defer.succeed(cursor.fetchone()[0])
        finally:
            connection.close()


class PostgresOutageTests(unittest.TestCase):
    """
    A server of the test's own, stopped and restarted under a store with
    real time.
    """

    timeout = 120

    @defer.inlineCallbacks
    def test_deadServerFailsFastAndRecovers(self):
        """With the server stopped, operations fail with StoreError within the timeout; after a restart they work again without a new store."""
        server = postgres.privateServer(self)
        settings = server.createDatabase()
        pgstore = PostgresStore(settings, reactor, timeout=2.0,
                                retryDelay=0.2)
        self.addCleanup(pgstore.close)
        yield pgstore.set("t", "k", 1, 600)
        server.stop()
        started = reactor.seconds()
        for _ in range(3):
            yield self.assertFailure(pgstore.get("t", "k"), store.StoreError)
        self.assertLess(reactor.seconds() - started, 6.5)
        self.assertFalse(pgstore.available)
        server.start()
        yield _sleep(0.3)
        self.assertEqual((yield pgstore.get("t", "k")), 1)
        self.assertTrue(pgstore.available)
        # txpostgres logs the server's goodbye on idle connections.
        self.flushLoggedErrors(psycopg2.OperationalError)

    @defer.inlineCallbacks
    def test_hungServerTimesOut(self):
        """A server that stops answering gives StoreError after the store's timeout, and the store works again once it answers."""
        server = postgres.privateServer(self)
        settings = server.createDatabase()
        pgstore = PostgresStore(settings, reactor, timeout=1.0)
        self.addCleanup(pgstore.close)
        yield pgstore.set("t", "k", 1, 600)
        locker = psycopg2.connect(dbname=settings["db"], host=settings["host"],
                                  user=settings["user"])
        self.addCleanup(locker.close)
        cursor = locker.cursor()
        cursor.execute("LOCK TABLE pyfilter_state IN ACCESS EXCLUSIVE MODE")
        started = reactor.seconds()
        yield self.assertFailure(pgstore.get("t", "k"), store.StoreError)
        self.assertLess(reactor.seconds() - started, 3)
        locker.rollback()
        self.assertEqual((yield pgstore.get("t", "k")), 1)


def _sleep(seconds):
    d = defer.Deferred()
    reactor.callLater(seconds, d.callback, None)
    return d


class OpenStoreTests(unittest.TestCase):
    def test_defaultIsEmbedded(self):
        """Without a [ttldb] section the store is SQLite in the state directory."""
        context = makeContext(self, reactor=reactor)
        opened = storeFor(context)
        self.assertIsInstance(opened, SQLiteStore)
        self.assertEqual(os.path.dirname(opened.path), context.stateDir)
        return context.close()

    def test_dbmIsEmbedded(self):
        """The reference's type 'dbm' selects the embedded store."""
        context = makeContext(self, reactor=reactor, modulesText=(
            "[ttldb]\ntype = 'dbm'\ndir = '/var/lib/pythonfilter'\n"))
        self.assertIsInstance(storeFor(context), SQLiteStore)
        return context.close()

    def test_psycopg2Settings(self):
        """type 'psycopg2' selects PostgreSQL with the reference's settings."""
        context = makeContext(self, modulesText=(
            "[ttldb]\ntype = 'psycopg2'\nhost = 'db.example'\nport = '5433'\n"
            "db = 'pythonfilter'\nuser = 'pf'\npassword = 'pw'\n"
            "timeout = 3\n"))
        opened = storeFor(context)
        self.assertIsInstance(opened, PostgresStore)
        self.assertEqual(opened.timeout, 3)
        self.assertEqual(opened.connectArgs, {
            "host": "db.example", "port": 5433, "dbname": "pythonfilter",
            "user": "pf", "password": "pw", "connect_timeout": 3})
        return context.close()

    def test_countInterval(self):
        """count_interval sets write-behind counting (1 s by default); 0
        writes every event at once; a negative one is refused."""
        for text, interval in (("", 1.0), ("count_interval = 5\n", 5),
                               ("count_interval = 0\n", None)):
            modules = makeContext(self, modulesText=(
                "[ttldb]\ntype = 'memory'\n" + text)).modules
            opened = store.storeFromConfig(modules, self.mktemp(), Clock())
            self.assertEqual(opened.counting and opened.counting.interval,
                             interval)
        modules = makeContext(self, modulesText=(
            "[ttldb]\ntype = 'memory'\ncount_interval = -1\n")).modules
        error = self.assertRaises(ConfigError, store.storeFromConfig, modules,
                                  self.mktemp(), Clock())
        self.assertIn("[ttldb] count_interval", str(error))

    def test_unknownType(self):
        """An unknown type is a configuration error naming the option."""
        context = makeContext(self, modulesText="[ttldb]\ntype = 'mysql'\n")
        error = self.assertRaises(ConfigError, lambda: storeFor(context))
        self.assertIn("[ttldb] type", str(error))

    def test_backgroundPurge(self):
        """The store purges expired entries on its own, every purge_interval."""
        context = makeContext(self, modulesText=(
            "[ttldb]\ntype = 'memory'\npurge_interval = 100\n"))
        memory = storeFor(context)
        memory.set("t", "k", 1, 10)
        context.reactor.advance(99)
        self.assertEqual(len(memory.entries), 1)
        context.reactor.advance(1)
        self.assertEqual(len(memory.entries), 0)
        return context.close()


class KeyTests(unittest.TestCase):
    def test_tupleKeySeparatorSafe(self):
        """Tuples whose concatenations are equal get different keys."""
        self.assertNotEqual(tupleKey("ab", "c"), tupleKey("a", "bc"))
        self.assertEqual(tupleKey("ab", "c"), tupleKey("ab", "c"))

    def test_referenceKey(self):
        """The reference key is the MD5 of the concatenation."""
        self.assertEqual(referenceKey("a", "bc"), referenceKey("ab", "c"))
        self.assertEqual(referenceKey("abc"),
                         "900150983cd24fb0d6963f7d28e17f72")


class OutageLoggingTests(unittest.TestCase):
    def test_logsOncePerOutage(self):
        """An outage is logged once when it starts and once when it ends, and failures become StoreError."""
        memory = MemoryStore(Clock())
        working = memory._execute
        memory._execute = lambda *args: defer.fail(ConnectionError("down"))
        with capturedLogs() as events:
            for _ in range(3):
                self.failureResultOf(memory.get("t", "k"), store.StoreError)
            memory._execute = working
            self.successResultOf(memory.get("t", "k"))
            self.successResultOf(memory.get("t", "k"))
        texts = [formatEvent(event) for event in events]
        self.assertEqual(len(texts), 2, texts)
        self.assertIn("is unavailable (get: ConnectionError: down)", texts[0])
        self.assertIn("is available again", texts[1])


class ObservedStoreTests(unittest.TestCase):
    def test_operationsTimed(self):
        """
        Every operation, succeeded or failed, is reported to C{observe}
        with its name, its time on the store's clock and whether it
        succeeded.
        """
        clock = Clock()
        memory = MemoryStore(clock)
        seen = []
        memory.observe = lambda *args: seen.append(args)
        self.successResultOf(memory.set("t", "k", 1, 60))
        slow = defer.Deferred()
        memory._execute = lambda operation, *args: slow
        d = memory.get("t", "k")
        clock.advance(memory.timeout)
        self.failureResultOf(d, store.StoreError)
        self.assertEqual(seen, [("set", 0, True),
                                ("get", memory.timeout, False)])

    def test_contextObserverGiven(self):
        """The store of a context reports to the context's observeStore."""
        context = makeContext(self, reactor=reactor)
        seen = []
        context.observeStore = lambda *args: seen.append(args)
        opened = storeFor(context)
        self.assertIs(opened.observe, context.observeStore)
        return context.close()
