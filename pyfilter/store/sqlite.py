"""
The embedded state store: one SQLite database, C{state.sqlite} in the
daemon's state directory.

Every statement runs in one dedicated thread holding the one connection,
so the reactor never waits for the disk.  The operations asked for during
one turn of the reactor are handed to the thread together, and the thread
runs everything waiting in one transaction, so that under load one
hand-over, one commit and one wake-up of the reactor serve many messages
(the number waiting is bounded by C{MAX_QUEUED}).  The database is in WAL
mode with a
busy timeout, and each write is a single atomic statement (an UPSERT), so
two pyfilter processes may share the directory: both see one greylist and
one rate counter.
"""

import os
import queue
import sqlite3
import threading
import time

from twisted.internet import defer
from twisted.python.failure import Failure

from pyfilter.files import giveToDirectoryOwner
from pyfilter.store.base import Store, StoreError

FILENAME = "state.sqlite"
MAX_QUEUED = 4096
_STOP = object()

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


#: Tries to open the database, and the pause after the first (doubled
#: after the second), in the store's own thread.
_CONNECT_ATTEMPTS = 3
_CONNECT_PAUSE = 0.05


class SQLiteStore(Store):
    def __init__(self, directory, reactor, clock=None, timeout=5.0,
                 purgeInterval=300.0, busyTimeout=None):
        super().__init__(clock or reactor, timeout, purgeInterval)
        self.path = os.path.join(directory, FILENAME)
        self.reactor = reactor
        self.busyTimeout = timeout if busyTimeout is None else busyTimeout
        self.queue = queue.Queue()
        self.thread = None
        self.queued = 0
        self.pending = []
        self.handing = None
        self.connection = None

    def describe(self):
        return f"SQLite {self.path}"

    def _startThread(self):
        if self.thread is None:
            self.thread = threading.Thread(target=self._work,
                                           name="pyfilter-sqlite",
                                           daemon=True)
            self.thread.start()

    def start(self):
        self._startThread()
        super().start()

    def _closeBackend(self):
        if self.thread is None:
            return None
        if self.handing is not None:
            self.handing.cancel()
            self._handOver()
        thread, self.thread = self.thread, None
        self.queue.put(_STOP)
        thread.join()

    def _execute(self, operation, *args):
        if self.queued >= MAX_QUEUED:
            return defer.fail(StoreError(
                f"{self.queued} SQLite operations already waiting"))
        self._startThread()
        self.queued += 1
        d = defer.Deferred()
        self.pending.append((getattr(self, "_" + operation), args, d))
        if self.handing is None:
            self.handing = self.reactor.callLater(0, self._handOver)
        return d

    def _handOver(self):
        """
        Give the thread the operations asked for during this turn.
        """
        self.handing = None
        pending, self.pending = self.pending, []
        self.queue.put(pending)

    def _deliver(self, outcomes):
        self.queued -= len(outcomes)
        for d, outcome in outcomes:
            if isinstance(outcome, Failure):
                d.errback(outcome)
            else:
                d.callback(outcome)

    # Everything below runs in the store's thread.

    def _work(self):
        while True:
            handed = [self.queue.get()]
            while True:
                try:
                    handed.append(self.queue.get_nowait())
                except queue.Empty:
                    break
            stop = _STOP in handed
            batch = [operation for operations in handed
                     if operations is not _STOP for operation in operations]
            if batch:
                self.reactor.callFromThread(self._deliver,
                                            self._runBatch(batch))
            if stop:
                self._disconnect()
                return

    def _runBatch(self, batch):
        """
        Run C{batch} in one transaction; return each Deferred with its
        result or Failure.
        """
        try:
            connection = self._connect()
            connection.execute("BEGIN IMMEDIATE")
        except sqlite3.Error:
            self._disconnect()
            failure = Failure()
            return [(d, failure) for _, _, d in batch]
        outcomes = []
        for function, args, d in batch:
            try:
                outcomes.append((d, function(*args)))
            except Exception:
                outcomes.append((d, Failure()))
        try:
            connection.execute("COMMIT")
        except sqlite3.Error:
            failure = Failure()
            self._disconnect()
            return [(d, failure) for _, _, d in batch]
        return outcomes

    def _connect(self):
        if self.connection is None:
            for attempt in range(_CONNECT_ATTEMPTS):
                try:
                    self.connection = self._open()
                    break
                except sqlite3.OperationalError as e:
                    # Another process creating the database at the same
                    # moment (switching it to WAL, adding the tables) can
                    # make these answer "locked" without waiting.
                    if "locked" not in str(e) or \
                            attempt == _CONNECT_ATTEMPTS - 1:
                        raise
                    time.sleep(_CONNECT_PAUSE * (attempt + 1))
        return self.connection

    def _open(self):
        connection = sqlite3.connect(
            self.path, timeout=self.busyTimeout, isolation_level=None,
            check_same_thread=False)
        try:
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")
            for statement in SCHEMA:
                connection.execute(statement)
            giveToDirectoryOwner(os.path.dirname(self.path), [
                FILENAME + suffix for suffix in ("", "-wal", "-shm")])
        except sqlite3.Error:
            connection.close()
            raise
        return connection

    def _disconnect(self):
        if self.connection is not None:
            self.connection.close()
            self.connection = None

    def _query(self, sql, parameters):
        return self.connection.execute(sql, parameters).fetchall()

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

    def _refresh(self, name, key, value, expires, now):
        return bool(self._query(
            "UPDATE state SET value = ?, expires = ? WHERE name = ? AND"
            " key = ? AND expires > ? RETURNING 1",
            (value, expires, name, key, now)))

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

    def _increment(self, name, key, current, first, expires, events):
        self._query("INSERT INTO counters VALUES (?, ?, ?, ?, ?) ON CONFLICT"
                    " (name, key, bucket) DO UPDATE"
                    " SET count = count + excluded.count",
                    (name, key, current, events, expires))
        rows = self._query("SELECT SUM(count) FROM counters WHERE name = ?"
                           " AND key = ? AND bucket BETWEEN ? AND ?",
                           (name, key, first, current))
        return rows[0][0]

    def _purge(self, now):
        self._query("DELETE FROM state WHERE expires <= ?", (now,))
        self._query("DELETE FROM counters WHERE expires <= ?", (now,))
