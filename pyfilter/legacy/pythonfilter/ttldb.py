"""
The reference's C{pythonfilter.ttldb} for legacy filter modules: tokens
with a time to live, kept in pyfilter's state store.

C{TtlDb(name, ttl, purge_interval)} is a table from keys (texts, such as
the hex digests the reference's filters use) to times (whole seconds, as
C{time.time()} gives the time a token was last used).  An entry lives until
its time plus C{ttl} seconds.  It is used as the reference's was::

    db = ttldb.TtlDb('mydb', 60 * 60 * 24, 60 * 60)   # in init_filter
    db.lock()
    try:
        if key in db:                   # or db.has_key(key)
            first = int(db[key])
        db[key] = time.time()
        del db[other]
    finally:
        db.unlock()

with the exceptions L{TtlDbError}, L{OpenError} (the store cannot be
opened: an unknown C{[ttldb]} type or a bad setting) and L{LockError}.

Where the entries live (table C{ttldb:<name>}, apart from pyfilter's own
filters' tables):
  - in the daemon, in its state store, as the modules config's C{[ttldb]}
    section says: the embedded SQLite store in the state directory (no
    type, C{'dbm'}) or PostgreSQL (C{'psycopg2'}, C{'pg'}), so several
    servers sharing one PostgreSQL database share the tables;
  - outside the daemon (a script importing a module, or the reference's
    own unit tests), in a store opened from the same C{[ttldb]} section for
    each TtlDb: the embedded store in the directory C{$PYFILTER_STATE_DIR},
    by default the daemon's state directory (so that a script sees what
    the daemon sees; SQLite lets both use it at once), run by a reactor of
    its own in a background thread.

Every operation blocks its caller (a legacy module's thread in the
daemon's pool) while the store's reactor does the work, for at most the
store's C{timeout} (C{[ttldb] timeout}, default 5 seconds) plus one second;
a store that fails or does not answer raises L{TtlDbError}, which the
chain answers 451.  Creating a TtlDb is fine anywhere (at import, in
C{init_filter}); an operation from the reactor's own thread (a lookup in
C{init_filter}) would wait for itself, and one while the daemon's reactor
is not running would wait in vain: both raise L{TtlDbError} instead.

As the reference's back end for the same C{type}: with C{'dbm'} (or no
type), reading or deleting a missing key raises C{KeyError} and values read
back as bytes (C{b'1700000000'}); with C{'psycopg2'} or C{'pg'}, reading a
missing key gives C{None}, deleting one does nothing, and values read back
as text.  A value is stored as C{int(value)}: one that is not a number
raises as the reference's did.

Differences from the reference, all fixes:
  - an entry expires exactly at its time plus C{ttl}, and lookups never see
    an expired one (the reference kept it until its next purge, up to
    C{purge_interval} later); L{TtlDb.purge} does nothing, as the store
    removes expired entries in the background (every C{[ttldb]
    purge_interval} seconds), never on the mail path: the
    C{purge_interval} argument is accepted and unused;
  - C{lock()} is one re-entrant lock per table name in the process (the
    reference's was one per object, and calling C{purge()} inside it hung
    the thread); waiting for it more than L{LOCK_TIMEOUT} seconds raises
    L{LockError}, as does C{unlock()} without C{lock()}.  As with the
    reference, it does not serialise other processes: each write is one
    atomic statement;
  - an unknown C{type} (C{'mysql'}) or a bad setting raises L{OpenError}
    (the reference: C{KeyError}); C{[ttldb] dir} is not used (C{pyfilter
    import-state} reads the reference's files there for pyfilter's own
    filters; a legacy module's table starts empty).
"""

import os
import queue
import threading
import weakref

from twisted.internet import defer
from twisted.internet.selectreactor import SelectReactor
from twisted.python import threadable
from twisted.python.failure import Failure

from pyfilter.legacy.courier import config
from pyfilter.config.errors import ConfigError
from pyfilter.store import storeFromConfig
from pyfilter.store.base import DEFAULT_TIMEOUT
from pyfilter.store import storeFor
from pyfilter.store.opening import storeKey
from pyfilter.config.locations import STATE_DIR

TABLE_PREFIX = "ttldb:"
#: Seconds a thread waits for another thread's C{lock()} to be released.
LOCK_TIMEOUT = 30.0
#: Seconds a caller waits beyond the store's own timeout.
ANSWER_MARGIN = 1.0
#: The environment variable naming the state directory outside the daemon.
STATE_DIR_VARIABLE = "PYFILTER_STATE_DIR"
#: The C{[ttldb]} types whose reference back end was SQL.
_SQL_TYPES = ("psycopg2", "pg")


class TtlDbError(Exception):
    """
    The store failed or did not answer, or a call was misplaced.
    """


class LockError(TtlDbError):
    """
    C{lock()} waited too long, or C{unlock()} came without C{lock()}.
    """


class OpenError(TtlDbError):
    """
    The store the C{[ttldb]} section describes cannot be opened.
    """


def _callIn(backing, timeout, function, *args):
    """
    Call C{function(*args)} (it may return a Deferred) in C{backing}'s
    reactor thread, and wait at most C{timeout} seconds for its result.

    @raise TtlDbError: it failed, did not answer in time, or the caller
        cannot wait for the reactor.
    """
    if not backing.canWait():
        raise TtlDbError("pythonfilter.ttldb cannot wait for the state store "
                         "in the reactor's thread or while the reactor is "
                         "not running: use it in do_filter")
    answers = queue.Queue(maxsize=1)

    def begin():
        defer.maybeDeferred(function, *args).addBoth(answers.put)

    backing.reactor.callFromThread(begin)
    try:
        answer = answers.get(timeout=timeout)
    except queue.Empty:
        raise TtlDbError(f"the state store did not answer in {timeout:g} "
                         f"seconds") from None
    if isinstance(answer, Failure):
        raise TtlDbError(answer.getErrorMessage()) from answer.value
    return answer


class _ContextBacking:
    """
    The state store of the daemon's context, in its reactor.
    """

    def __init__(self, context):
        self.context = context
        self.reactor = context.reactor

    def canWait(self):
        """
        Whether the calling thread may wait for the reactor: it is running,
        in another thread.
        """
        return self.reactor.running and not threadable.isInIOThread()

    def openStore(self):
        store = storeFor(self.context)
        # A TtlDb lives as long as its module, imported once: its store
        # outlives the chain generation that made it.
        self.context.resources.keep(storeKey(self.context))
        return store

    def release(self, store):
        """
        Nothing: the daemon closes its store when it stops.
        """


class _PrivateBacking:
    """
    Outside the daemon: a reactor of its own, in a daemon thread, which
    runs one store per TtlDb.
    """

    def __init__(self):
        self.reactor = SelectReactor()
        # Leave the process's I/O thread (its global reactor's) as it is.
        self.reactor._registerAsIOThread = False
        self.thread = threading.Thread(
            target=self.reactor.run, kwargs={"installSignalHandlers": False},
            name="pyfilter-ttldb", daemon=True)
        self.thread.start()

    def canWait(self):
        return threading.current_thread() is not self.thread

    def openStore(self):
        stateDir = os.environ.get(STATE_DIR_VARIABLE) or STATE_DIR
        store = storeFromConfig(config._modules(), stateDir, self.reactor)
        store.start()
        return store

    def release(self, store):
        self.reactor.callFromThread(store.close)


class _Backings:
    """
    The context legacy modules run in, and the private reactor made when
    there is none.
    """

    lock = threading.Lock()
    context = None
    private = None

    @classmethod
    def current(cls):
        with cls.lock:
            if cls.context is not None:
                return cls.context
            if cls.private is None:
                cls.private = _PrivateBacking()
            return cls.private


def useContext(context):
    """
    Keep every TtlDb created from now on in C{context}'s state store (the
    daemon's loader calls this before it imports a legacy module);
    C{None}: outside the daemon.
    """
    with _Backings.lock:
        _Backings.context = (None if context is None
                             else _ContextBacking(context))


class _NameLocks:
    lock = threading.Lock()
    locks = {}

    @classmethod
    def forName(cls, name):
        with cls.lock:
            return cls.locks.setdefault(name, threading.RLock())


def _key(key):
    if isinstance(key, str):
        return key
    if isinstance(key, bytes):
        return key.decode("utf-8", "surrogateescape")
    raise TypeError(f"TtlDb keys are strings or bytes, not "
                    f"{type(key).__name__}")


class TtlDb:
    """
    One table of tokens and the times they were last used.
    """

    def __init__(self, name, ttl, purge_interval):
        self.name = name
        self.ttl = float(ttl)
        self.purge_interval = purge_interval
        self.table = TABLE_PREFIX + name
        try:
            kind = config.get_module_config("ttldb").get("type", "dbm")
            self._backing = _Backings.current()
            if self._backing.canWait():
                self._store = _callIn(self._backing,
                                      DEFAULT_TIMEOUT + ANSWER_MARGIN,
                                      self._backing.openStore)
            else:
                self._store = self._backing.openStore()
        except (ConfigError, TtlDbError) as e:
            raise OpenError(f"Failed to open the {name} db: {e}") from e
        self._sql = kind in _SQL_TYPES
        self._lock = _NameLocks.forName(name)
        weakref.finalize(self, self._backing.release, self._store)

    def _call(self, function, *args):
        return _callIn(self._backing, self._store.timeout + ANSWER_MARGIN,
                       function, *args)

    def lock(self):
        """
        Take this table's lock (re-entrant; other threads wait for it).

        @raise LockError: another thread held it for L{LOCK_TIMEOUT}
            seconds.
        """
        if not self._lock.acquire(timeout=LOCK_TIMEOUT):
            raise LockError(f"TtlDb {self.name}: still locked after "
                            f"{LOCK_TIMEOUT:g} seconds")

    def unlock(self):
        """
        @raise LockError: this thread does not hold the lock.
        """
        try:
            self._lock.release()
        except RuntimeError as e:
            raise LockError(f"TtlDb {self.name}: unlock() without lock()"
                            ) from e

    def purge(self):
        """
        Nothing to do: expired entries are never found, and the store
        removes them in the background.
        """

    def __contains__(self, key):
        return self._call(self._store.get, self.table, _key(key)) is not None

    has_key = __contains__

    def __getitem__(self, key):
        value = self._call(self._store.get, self.table, _key(key))
        if value is None:
            if self._sql:
                return None
            raise KeyError(key)
        return str(value) if self._sql else str(value).encode("ascii")

    def __setitem__(self, key, value):
        seconds = int(value)
        expires = float(value) + self.ttl
        self._call(self._set, _key(key), seconds, expires)

    def _set(self, key, seconds, expires):
        return self._store.set(self.table, key, seconds,
                               expires - self._store.now())

    def __delitem__(self, key):
        if self._sql:
            self._call(self._store.delete, self.table, _key(key))
        elif self._call(self._store.pop, self.table, _key(key)) is None:
            raise KeyError(key)
