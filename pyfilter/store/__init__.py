"""
The state store: keys with a time to live, shared by the stateful filters
(greylist, comeagain, ratelimit, ratelimitauth, auto_whitelist).

Configured by the modules config's C{[ttldb]} section, as the reference's
TtlDb was:

  - absent, C{type = 'dbm'} or C{type = 'sqlite'}: the embedded SQLite store
    in the daemon's state directory (C{dir} is the reference's dbm
    directory; it is only read by C{pyfilter import-state});
  - C{type = 'psycopg2'} (or C{'pg'}): PostgreSQL, for several servers
    sharing one policy, with C{host} (a name, or a socket directory
    starting with C{/}), C{port}, C{db}, C{user}, C{password};
  - C{type = 'memory'}: in the daemon's memory only (tests).

pyfilter's own options in the section: C{timeout} (seconds any store
operation may take, default 5), C{purge_interval} (seconds between
background purges of expired entries, default 300), C{pool_size}
(PostgreSQL connections, default 8), C{count_interval} (seconds between
writes of the rate counters, default 1: each daemon counts in memory and
adds its counts to the store's in batches, L{pyfilter.store.counting}; 0
writes every event before answering).

Every operation returns a Deferred and fails with L{StoreError} when the
store cannot answer (down, too slow, busy); the store logs once when an
outage starts and once when it ends.  Expired entries are never returned,
whether or not the background purge has removed them yet.  Times come from
the store's clock (the reactor), so tests drive every window with a
L{twisted.internet.task.Clock}.
"""

import hashlib
import ipaddress

from twisted.internet import defer, task
from twisted.logger import Logger
from twisted.python.failure import Failure

from pyfilter.config.errors import ConfigError
from pyfilter.engine.options import (
    nonNegativeInteger, number, positiveNumber, string)
from pyfilter.outage import Unavailable

#: Where C{pyfilter import-state} puts the reference's entries: the
#: reference's database name with this suffix.
REFERENCE_SUFFIX = ".reference"

DEFAULT_TIMEOUT = 5.0
DEFAULT_PURGE_INTERVAL = 300.0
DEFAULT_POOL_SIZE = 8
DEFAULT_COUNT_INTERVAL = 1.0


class StoreError(Unavailable):
    """
    The store could not answer: unreachable, too slow, or overloaded.
    """

    service = "store"


#: The C{on_error} of the filters keeping state: what they answer while the
#: store cannot answer.
STORE_UNAVAILABLE = ("451 4.3.0 Temporary failure of the mail filter's state "
                     "store, try again later")


def tupleKey(*parts):
    """
    The key of a tuple of texts: a digest of an unambiguous encoding (each
    part preceded by its length), so that distinct tuples never share a key.
    """
    digest = hashlib.blake2b(digest_size=16)
    for part in parts:
        encoded = part.encode("utf-8", "surrogateescape")
        digest.update(len(encoded).to_bytes(4, "big"))
        digest.update(encoded)
    return digest.hexdigest()


def referenceKey(*parts):
    """
    The reference's key for the same tuple: the hex MD5 of the parts
    concatenated without separator (found only in imported entries).
    """
    joined = "".join(parts).encode("utf-8", "surrogateescape")
    return hashlib.md5(joined, usedforsecurity=False).hexdigest()


def clientNetwork(address, ipv4Prefix=24, ipv6Prefix=48):
    """
    The network of C{address} (an L{ipaddress} address) as text, such as
    C{192.0.2.0/24}.
    """
    prefix = ipv4Prefix if address.version == 4 else ipv6Prefix
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))


def referenceNetwork(address):
    """
    The reference's text for the same /24 or /48: C{192.0.2} or
    C{2001:0db8:0000}, as found in its keys.
    """
    if address.version == 4:
        return str(address).rsplit(".", 1)[0]
    return address.exploded[:14]


class Store:
    """
    The operations every back end provides, with timeouts, error
    translation and outage logging.  Back ends implement L{_execute}.

    @ivar clock: the time source (C{seconds()}, C{callLater}).
    @ivar available: C{False} while an outage is going on.
    """

    log = Logger()

    def __init__(self, clock, timeout=DEFAULT_TIMEOUT,
                 purgeInterval=DEFAULT_PURGE_INTERVAL):
        self.clock = clock
        self.timeout = timeout
        self.purgeInterval = purgeInterval
        self.available = True
        self._purging = None
        self.counting = None

    def countInMemory(self, interval):
        """
        Answer L{increment} from the daemon's own count and write the counts
        every C{interval} seconds (L{pyfilter.store.counting}).
        """
        from pyfilter.store.counting import WriteBehindCounters
        self.counting = WriteBehindCounters(self, interval)

    def now(self):
        return self.clock.seconds()

    def start(self):
        """
        Start the background purge (every C{purgeInterval} seconds).
        """
        if self._purging is None:
            self._purging = task.LoopingCall(self._purgeLogged)
            self._purging.clock = self.clock
            self._purging.start(self.purgeInterval, now=False)

    def close(self):
        """
        Stop the background purge, write the counts kept in memory, close.
        """
        if self._purging is not None and self._purging.running:
            self._purging.stop()
        if self.counting is None:
            return self._closeBackend()
        return self.counting.close().addCallback(
            lambda _: self._closeBackend())

    def _purgeLogged(self):
        d = self.purge()
        d.addErrback(lambda f: None)  # already logged as an outage
        return d

    def get(self, name, key):
        """
        @return: a Deferred with the value (an integer) of C{key} in table
            C{name}, or C{None} if absent or expired.
        """
        return self._call("get", name, key, self.now())

    def set(self, name, key, value, ttl):
        """
        Store C{value} under C{key} for C{ttl} seconds, replacing any entry.
        """
        return self._call("set", name, key, int(value), self.now() + ttl)

    def add(self, name, key, value, ttl):
        """
        Store C{value} under C{key} for C{ttl} seconds unless a live entry
        exists (that one is kept: the first writer wins between daemons).
        """
        now = self.now()
        return self._call("add", name, key, int(value), now + ttl, now)

    def refresh(self, name, key, value, ttl):
        """
        Replace a live entry of C{key} with C{value} for C{ttl} seconds; an
        absent or expired one stays absent.  One round trip where L{get}
        and L{set} take two.

        @return: a Deferred with whether a live entry was replaced.
        """
        now = self.now()
        return self._call("refresh", name, key, int(value), now + ttl, now)

    def delete(self, name, key):
        return self._call("delete", name, key)

    def pop(self, name, key):
        """
        Remove C{key} and return its C{(value, expires)}, or C{None}.
        """
        return self._call("pop", name, key, self.now())

    def hasAny(self, name):
        """
        @return: a Deferred with C{True} if table C{name} holds a live entry.
        """
        return self._call("hasAny", name, self.now())

    def increment(self, name, key, window, bucket=60):
        """
        Count one event for C{key} now, in buckets of C{bucket} seconds.

        @return: a Deferred with the number of events counted for C{key} in
            the buckets overlapping the last C{window} seconds (this one
            included).  Counting and summing are atomic per bucket, so
            concurrent daemons lose no event.  After L{countInMemory}, the
            other daemons' events are those written by the last batch.
        """
        now = self.now()
        current = int(now // bucket)
        first = current - max(1, int(window // bucket)) + 1
        expires = (current + 1) * bucket + window
        if self.counting is not None:
            return self.counting.increment(name, key, current, first, expires)
        return self._call("increment", name, key, current, first, expires, 1)

    def purge(self):
        """
        Remove every expired entry and counter.
        """
        return self._call("purge", self.now())

    def _call(self, operation, *args):
        d = defer.maybeDeferred(self._execute, operation, *args)
        d.addTimeout(self.timeout, self.clock)
        d.addCallbacks(self._succeeded, self._failed,
                       errbackArgs=(operation,))
        return d

    def _succeeded(self, result):
        if not self.available:
            self.available = True
            self.log.info("State store {store} is available again",
                          store=self.describe())
        return result

    def _failed(self, failure, operation):
        error = (f"{failure.type.__name__}: "
                 f"{' '.join(failure.getErrorMessage().split())}")
        if self.available:
            self.available = False
            self.log.error(
                "State store {store} is unavailable ({operation}: {error}); "
                "filters answer their on_store_error until it recovers",
                store=self.describe(), operation=operation, error=error)
        if failure.check(StoreError):
            return failure
        return Failure(StoreError(f"state store {operation}: {error}"))

    def describe(self):
        raise NotImplementedError()

    def _execute(self, operation, *args):
        raise NotImplementedError()

    def _closeBackend(self):
        return None


class Table:
    """
    One named table of a store, keyed by tuples of texts; optionally falls
    back to entries imported from the reference (keyed by the reference's
    MD5) and moves each one it finds to its new key.
    """

    def __init__(self, store, name, reference=False):
        self.store = store
        self.name = name
        self.reference = reference
        self.referenceName = name + REFERENCE_SUFFIX

    @defer.inlineCallbacks
    def start(self):
        """
        Look whether imported reference entries exist (once, at start).
        """
        if self.reference:
            try:
                self.reference = yield self.store.hasAny(self.referenceName)
            except StoreError:
                pass  # keep looking them up; the store logged the outage

    @defer.inlineCallbacks
    def get(self, parts, referenceParts=None):
        """
        The value for the tuple C{parts}, or C{None}; C{referenceParts} are
        the texts the reference hashed for it, when they differ.
        """
        value = yield self.store.get(self.name, tupleKey(*parts))
        if value is None:
            value = yield self.adopt(parts, referenceParts)
        return value

    @defer.inlineCallbacks
    def adopt(self, parts, referenceParts=None):
        """
        Move the imported reference entry for C{parts} to its own key.

        @return: its value, or C{None} when there is none.
        """
        if not self.reference:
            return None
        found = yield self.store.pop(self.referenceName,
                                     referenceKey(*(referenceParts or parts)))
        if found is None:
            return None
        value, expires = found
        yield self.store.set(self.name, tupleKey(*parts), value,
                             expires - self.store.now())
        return value

    def set(self, parts, value, ttl):
        return self.store.set(self.name, tupleKey(*parts), value, ttl)

    def add(self, parts, value, ttl):
        return self.store.add(self.name, tupleKey(*parts), value, ttl)

    def refresh(self, parts, value, ttl):
        return self.store.refresh(self.name, tupleKey(*parts), value, ttl)

    def delete(self, parts):
        return self.store.delete(self.name, tupleKey(*parts))

    def increment(self, parts, window, bucket=60):
        return self.store.increment(self.name, tupleKey(*parts), window,
                                    bucket)




def _setting(section, modules, name, check, default):
    value = section.get(name, default)
    try:
        return check(value)
    except ValueError as e:
        raise ConfigError(modules.where("ttldb", name)
                          + f": {e}, got {value!r}") from e


def storeFromConfig(modules, stateDir, reactor, clock=None):
    """
    The store the C{[ttldb]} section of C{modules} describes, not started.

    @raise ConfigError: an unknown type or a bad setting.
    """
    section = modules.section("ttldb")
    countInterval = _setting(section, modules, "count_interval",
                             _nonNegativeNumber, DEFAULT_COUNT_INTERVAL)
    store = _backend(section, modules, stateDir, reactor, clock or reactor)
    if countInterval:
        store.countInMemory(countInterval)
    return store


def _nonNegativeNumber(value):
    if number(value) < 0:
        raise ValueError("expected a non-negative number")
    return value


def _backend(section, modules, stateDir, reactor, clock):
    kind = _setting(section, modules, "type", string, "dbm")
    timeout = _setting(section, modules, "timeout", positiveNumber,
                       DEFAULT_TIMEOUT)
    purgeInterval = _setting(section, modules, "purge_interval",
                             positiveNumber, DEFAULT_PURGE_INTERVAL)
    if kind in ("dbm", "sqlite"):
        from pyfilter.store.sqlite import SQLiteStore
        return SQLiteStore(stateDir, reactor, clock, timeout, purgeInterval)
    if kind == "memory":
        from pyfilter.store.memory import MemoryStore
        return MemoryStore(clock, timeout, purgeInterval)
    if kind in ("psycopg2", "pg"):
        from pyfilter.store.postgres import PostgresStore
        settings = {}
        for option in ("host", "db", "user", "password"):
            if option in section:
                settings[option] = _setting(section, modules, option,
                                            string, None)
        if "port" in section:
            port = section["port"]
            try:
                settings["port"] = int(port)
            except (TypeError, ValueError):
                raise ConfigError(modules.where("ttldb", "port")
                                  + f": expected a port number, got {port!r}")
        poolSize = _setting(section, modules, "pool_size",
                            nonNegativeInteger, DEFAULT_POOL_SIZE)
        return PostgresStore(settings, reactor, clock, timeout, purgeInterval,
                             max(1, poolSize))
    raise ConfigError(modules.where("ttldb", "type")
                      + f": unknown store type {kind!r} (use 'dbm' for the "
                      f"embedded store or 'psycopg2' for PostgreSQL)")


def storeFor(context):
    """
    The daemon's one store: created from C{[ttldb]} and started on first
    use, closed when the daemon stops.
    """
    def openStore():
        store = storeFromConfig(context.modules, context.stateDir,
                                context.reactor)
        store.start()
        context.onStop(store.close)
        return store
    return context.shared("store", openStore)
