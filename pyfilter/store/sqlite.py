"""
The embedded state store: one SQLite database, C{state.sqlite} in the
daemon's state directory.

Every statement runs in one dedicated thread holding the one connection,
so the reactor never waits for the disk.  The database is in WAL mode with a
busy timeout, and each write is a single atomic statement (an UPSERT), so
two pyfilter processes may share the directory: both see one greylist and
one rate counter.
"""

import os
import sqlite3

from twisted.internet import defer
from twisted.internet.threads import deferToThreadPool
from twisted.python.threadpool import ThreadPool

from pyfilter.store import Store, StoreError

FILENAME = "state.sqlite"
MAX_QUEUED = 4096

SCHEMA = [
    "CREATE TABLE IF NOT EXISTS state (name TEXT NOT NULL, key TEXT NOT NULL,"
    " value INTEGER NOT NULL, expires REAL NOT NULL, PRIMARY KEY (name, key))"
    " WITHOUT ROWID",
    "CREATE INDEX IF NOT EXISTS state_expires ON state (expires)",
    "CREATE TABLE IF NOT EXISTS counters (name TEXT NOT NULL,"
    " key TEXT NOT NULL, bucket INTEGER NOT NULL, count INTEGER NOT NULL,"
    " expires REAL NOT NULL, PRIMARY KEY (name, key, bucket)) WITHOUT ROWID",
    "CREATE INDEX IF NOT EXISTS counters_expires ON counters (expires)",
]


class SQLiteStore(Store):
    def __init__(self, directory, reactor, clock=None, timeout=5.0,
                 purgeInterval=300.0, busyTimeout=None):
        super().__init__(clock or reactor, timeout, purgeInterval)
        self.path = os.path.join(directory, FILENAME)
        self.reactor = reactor
        self.busyTimeout = timeout if busyTimeout is None else busyTimeout
        self.pool = ThreadPool(minthreads=1, maxthreads=1,
                               name="pyfilter-sqlite")
        self.queued = 0
        self.connection = None

    def describe(self):
        return f"SQLite {self.path}"

    def start(self):
        if not self.pool.started:
            self.pool.start()
        super().start()

    def _closeBackend(self):
        d = self._inThread(self._disconnect)
        d.addBoth(lambda _: self.pool.stop())
        return d

    def _execute(self, operation, *args):
        return self._inThread(getattr(self, "_" + operation), *args)

    def _inThread(self, function, *args):
        if self.queued >= MAX_QUEUED:
            return defer.fail(StoreError(
                f"{self.queued} SQLite operations already waiting"))
        if not self.pool.started:
            self.pool.start()
        self.queued += 1

        def run():
            try:
                return function(*args)
            finally:
                self.reactor.callFromThread(self._done)

        return deferToThreadPool(self.reactor, self.pool, run)

    def _done(self):
        self.queued -= 1

    # Everything below runs in the store's thread.

    def _connect(self):
        if self.connection is None:
            connection = sqlite3.connect(
                self.path, timeout=self.busyTimeout, isolation_level=None,
                check_same_thread=False)
            try:
                connection.execute("PRAGMA journal_mode=WAL")
                connection.execute("PRAGMA synchronous=NORMAL")
                for statement in SCHEMA:
                    connection.execute(statement)
            except sqlite3.Error:
                connection.close()
                raise
            self.connection = connection
        return self.connection

    def _disconnect(self):
        if self.connection is not None:
            self.connection.close()
            self.connection = None

    def _query(self, sql, parameters):
        try:
            return self._connect().execute(sql, parameters).fetchall()
        except sqlite3.OperationalError:
            self._disconnect()
            raise

    def _get(self, name, key, now):
        rows = self._query("SELECT value FROM state WHERE name = ? AND key = ?"
                           " AND expires > ?", (name, key, now))
        return rows[0][0] if rows else None

    def _set(self, name, key, value, expires):
        self._query("INSERT INTO state VALUES (?, ?, ?, ?) ON CONFLICT"
                    " (name, key) DO UPDATE SET value = excluded.value,"
                    " expires = excluded.expires",
                    (name, key, value, expires))

    def _add(self, name, key, value, expires, now):
        self._query("INSERT INTO state VALUES (?, ?, ?, ?) ON CONFLICT"
                    " (name, key) DO UPDATE SET value = excluded.value,"
                    " expires = excluded.expires WHERE state.expires <= ?",
                    (name, key, value, expires, now))

    def _delete(self, name, key):
        self._query("DELETE FROM state WHERE name = ? AND key = ?",
                    (name, key))

    def _pop(self, name, key, now):
        rows = self._query("DELETE FROM state WHERE name = ? AND key = ?"
                           " RETURNING value, expires", (name, key))
        if rows and rows[0][1] > now:
            return tuple(rows[0])
        return None

    def _hasAny(self, name, now):
        return bool(self._query("SELECT 1 FROM state WHERE name = ? AND"
                                " expires > ? LIMIT 1", (name, now)))

    def _increment(self, name, key, current, first, expires):
        self._query("INSERT INTO counters VALUES (?, ?, ?, 1, ?) ON CONFLICT"
                    " (name, key, bucket) DO UPDATE SET count = count + 1",
                    (name, key, current, expires))
        rows = self._query("SELECT SUM(count) FROM counters WHERE name = ?"
                           " AND key = ? AND bucket BETWEEN ? AND ?",
                           (name, key, first, current))
        return rows[0][0]

    def _purge(self, now):
        self._query("DELETE FROM state WHERE expires <= ?", (now,))
        self._query("DELETE FROM counters WHERE expires <= ?", (now,))
