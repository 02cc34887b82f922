"""
What every state store back end is: the operations (L{Store}) with
timeouts, error translation and outage logging around a back end's
C{_execute}, and what they fail with (L{StoreError}).
"""

from twisted.internet import defer, task
from twisted.logger import Logger
from twisted.python.failure import Failure

from pyfilter.outage import Unavailable
from pyfilter.store.counting import WriteBehindCounters

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


class Store:
    """
    The operations every back end provides, with timeouts, error
    translation and outage logging.  Back ends implement L{_execute}.

    @ivar clock: the time source (C{seconds()}, C{callLater}).
    @ivar available: C{False} while an outage is going on.
    @ivar observe: C{observe(operation, seconds, ok)} is told of every
        operation once it ended (the daemon's metrics), or C{None}.
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
        self.observe = None

    def countInMemory(self, interval):
        """
        Answer L{increment} from the daemon's own count and write the counts
        every C{interval} seconds (L{pyfilter.store.counting}).
        """
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
        began = self.clock.seconds()
        d = defer.maybeDeferred(self._execute, operation, *args)
        d.addTimeout(self.timeout, self.clock)
        d.addCallbacks(self._succeeded, self._failed,
                       errbackArgs=(operation,))
        if self.observe is not None:
            d.addBoth(self._observed, operation, began)
        return d

    def _observed(self, result, operation, began):
        self.observe(operation, self.clock.seconds() - began,
                     not isinstance(result, Failure))
        return result

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
                "filters answer their on_error until it recovers",
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
