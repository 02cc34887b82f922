"""
The PostgreSQL state store, for several Courier servers sharing one
policy (C{[ttldb] type = 'psycopg2'}).

Queries go through txpostgres (psycopg2's asynchronous mode, so the
reactor never blocks) on a pool of at most C{pool_size} connections, opened
when needed.  Every write is one atomic statement (C{INSERT ... ON
CONFLICT}), so servers never race between a read and a write.  A query that
fails or does not answer within the store's timeout closes its connection
(the server then abandons the query), a failure also closes the idle ones;
the next query opens a fresh one, so
the store recovers by itself after the server restarts.  After a failed
connection attempt, queries fail at once for C{retryDelay} seconds rather
than piling up connection attempts.
"""

import collections

from twisted.internet import defer
from txpostgres import txpostgres

from pyfilter.store.base import Store, StoreError

MAX_WAITING = 4096

# One statement, hence one transaction; the advisory lock keeps servers
# starting together from racing on the catalog.
SCHEMA = """DO $$ BEGIN
PERFORM pg_advisory_xact_lock(7432171);
CREATE TABLE IF NOT EXISTS pyfilter_state (name TEXT NOT NULL,
 key TEXT NOT NULL, value BIGINT NOT NULL,
 expires DOUBLE PRECISION NOT NULL, PRIMARY KEY (name, key));
CREATE INDEX IF NOT EXISTS pyfilter_state_expires ON pyfilter_state (expires);
CREATE TABLE IF NOT EXISTS pyfilter_counters (name TEXT NOT NULL,
 key TEXT NOT NULL, bucket BIGINT NOT NULL, count BIGINT NOT NULL,
 expires DOUBLE PRECISION NOT NULL, PRIMARY KEY (name, key, bucket));
CREATE INDEX IF NOT EXISTS pyfilter_counters_expires
 ON pyfilter_counters (expires);
END $$"""

STATEMENTS = {
    "get": ("SELECT value FROM pyfilter_state WHERE name = %s AND key = %s"
            " AND expires > %s"),
    "set": ("INSERT INTO pyfilter_state VALUES (%s, %s, %s, %s) ON CONFLICT"
            " (name, key) DO UPDATE SET value = EXCLUDED.value,"
            " expires = EXCLUDED.expires"),
    "add": ("INSERT INTO pyfilter_state VALUES (%s, %s, %s, %s) ON CONFLICT"
            " (name, key) DO UPDATE SET value = EXCLUDED.value,"
            " expires = EXCLUDED.expires"
            " WHERE pyfilter_state.expires <= %s"),
    "refresh": ("UPDATE pyfilter_state SET value = %(value)s,"
                " expires = %(expires)s WHERE name = %(name)s"
                " AND key = %(key)s AND expires > %(now)s RETURNING 1"),
    "delete": "DELETE FROM pyfilter_state WHERE name = %s AND key = %s",
    "pop": ("DELETE FROM pyfilter_state WHERE name = %s AND key = %s"
            " RETURNING value, expires, expires > %s"),
    "hasAny": ("SELECT 1 FROM pyfilter_state WHERE name = %s"
               " AND expires > %s LIMIT 1"),
    # The CTE's insert is not visible to the outer query: add its count to
    # the sum of the window's other buckets.
    "increment": (
        "WITH hit AS (INSERT INTO pyfilter_counters"
        " VALUES (%(name)s, %(key)s, %(current)s, %(events)s, %(expires)s)"
        " ON CONFLICT (name, key, bucket) DO UPDATE"
        " SET count = pyfilter_counters.count + EXCLUDED.count"
        " RETURNING count)"
        " SELECT (SELECT count FROM hit) + COALESCE((SELECT SUM(count)"
        " FROM pyfilter_counters WHERE name = %(name)s AND key = %(key)s"
        " AND bucket >= %(first)s AND bucket < %(current)s), 0)"),
    "purge": ("WITH gone AS (DELETE FROM pyfilter_state WHERE expires <= %s)"
              " DELETE FROM pyfilter_counters WHERE expires <= %s"),
}


def _first(rows):
    return rows[0][0] if rows else None


def _pop(rows):
    if rows and rows[0][2]:
        return rows[0][0], rows[0][1]
    return None


def _increment(rows):
    return int(rows[0][0])


RESULTS = {
    "get": _first,
    "pop": _pop,
    "hasAny": bool,
    "refresh": bool,
    "increment": _increment,
}


def _parameters(operation, args):
    if operation == "increment":
        return dict(zip(("name", "key", "current", "first", "expires",
                         "events"), args))
    if operation == "refresh":
        return dict(zip(("name", "key", "value", "expires", "now"), args))
    if operation == "purge":
        return (args[0], args[0])
    return args


class PostgresStore(Store):
    def __init__(self, settings, reactor, clock=None, timeout=5.0,
                 purgeInterval=300.0, poolSize=8, retryDelay=1.0):
        super().__init__(clock or reactor, timeout, purgeInterval)
        self.reactor = reactor
        self.connectArgs = {
            {"db": "dbname"}.get(name, name): value
            for name, value in settings.items()}
        self.connectArgs.setdefault("connect_timeout",
                                    max(1, int(timeout)))
        self.poolSize = poolSize
        self.retryDelay = retryDelay
        self.idle = []
        self.opened = 0
        self.waiting = collections.deque()
        self.downUntil = None
        self.schemaReady = False
        self.connections = set()
        self.closed = False

    def describe(self):
        where = self.connectArgs.get("host", "localhost")
        return f"PostgreSQL {self.connectArgs.get('dbname', '')}@{where}"

    def _closeBackend(self):
        self.closed = True
        for connection in list(self.connections):
            _closeQuietly(connection)
        self.connections.clear()
        self.idle = []

    def _execute(self, operation, *args):
        rows = operation in ("get", "pop", "hasAny", "refresh", "increment")
        d = self.query(STATEMENTS[operation], _parameters(operation, args),
                       rows)
        return d.addCallback(RESULTS.get(operation, lambda _: None))

    def query(self, sql, parameters, rows=True):
        """
        Run one statement on a pooled connection.

        @return: a cancellable Deferred with the rows (if C{rows}); cancelling
            it closes the connection, which aborts the query on the server.
        """
        state = {"connection": None}

        def take():
            connection, state["connection"] = state["connection"], None
            return connection

        def cancel(_):
            connection = take()
            if connection is not None:
                self._discard(connection)

        result = defer.Deferred(cancel)
        acquired = self._acquire()

        def run(connection):
            if result.called:
                self._release(connection)
                return
            state["connection"] = connection
            if rows:
                running = connection.runQuery(sql, parameters)
            else:
                running = connection.runOperation(sql, parameters)
            running.addCallbacks(finished, failed)

        def finished(value):
            connection = take()
            if connection is not None:
                self._release(connection)
                result.callback(value)

        def failed(failure):
            connection = take()
            if connection is not None:
                # The others most likely lost the server too.
                for idle in self.idle:
                    self._discard(idle)
                self.idle = []
                self._discard(connection)
                result.errback(failure)

        def notAcquired(failure):
            if not result.called:
                result.errback(failure)

        acquired.addCallbacks(run, notAcquired)
        result.addErrback(self._noteIfCancelled, acquired)
        return result

    def _noteIfCancelled(self, failure, acquired):
        if failure.check(defer.CancelledError) and acquired in self.waiting:
            acquired.cancel()
        return failure

    def _acquire(self):
        if self.idle:
            return defer.succeed(self.idle.pop())
        if self.opened < self.poolSize:
            return self._open()
        if len(self.waiting) >= MAX_WAITING:
            return defer.fail(StoreError(
                f"{len(self.waiting)} PostgreSQL queries already waiting"))
        waiter = defer.Deferred(lambda d: self.waiting.remove(d))
        self.waiting.append(waiter)
        return waiter

    def _open(self):
        downUntil = self.downUntil
        if downUntil is not None and self.clock.seconds() < downUntil:
            return defer.fail(StoreError(
                "PostgreSQL unreachable, retrying shortly"))
        if self.closed:
            return defer.fail(StoreError("the store is closed"))
        self.opened += 1
        connection = txpostgres.Connection(reactor=self.reactor)
        self.connections.add(connection)
        d = connection.connect(**self.connectArgs)
        # Closing a connection still connecting fails its Deferred.
        giveUp = self.clock.callLater(self.timeout, _closeQuietly, connection)
        d.addBoth(_cancelTimer, giveUp)
        if not self.schemaReady:
            d.addCallback(lambda _: self._createSchema(connection))
        d.addCallbacks(lambda _: self._connected(connection),
                       self._connectFailed, errbackArgs=(connection,))
        return d

    def _createSchema(self, connection):
        d = connection.runOperation(SCHEMA)
        return d.addCallback(lambda _: setattr(self, "schemaReady", True))

    def _connected(self, connection):
        self.downUntil = None
        return connection

    def _connectFailed(self, failure, connection):
        self.opened -= 1
        self.connections.discard(connection)
        self.downUntil = self.clock.seconds() + self.retryDelay
        _closeQuietly(connection)
        if self.opened:
            self._openForWaiter()
        else:
            waiting, self.waiting = self.waiting, collections.deque()
            for waiter in waiting:
                waiter.errback(failure)
        return failure

    def _release(self, connection):
        if self.closed:
            self._discard(connection)
        elif self.waiting:
            self.waiting.popleft().callback(connection)
        else:
            self.idle.append(connection)

    def _discard(self, connection):
        self.opened -= 1
        self.connections.discard(connection)
        _closeQuietly(connection)
        self._openForWaiter()

    def _openForWaiter(self):
        if self.waiting and self.opened < self.poolSize:
            waiter = self.waiting.popleft()
            self._open().chainDeferred(waiter)


def _cancelTimer(result, timer):
    if timer.active():
        timer.cancel()
    return result


def _closeQuietly(connection):
    try:
        connection.close()
    except Exception:
        pass
