"""
Write-behind rate counting: L{pyfilter.store.Store.increment} answered from
the daemon's own count, the store's counters updated in batches.

A counter (one key's bucket and window) is read from the store on its
first event, which waits for the store's answer as before.  Later events
are counted in memory and answered at once: the store's total as last read
plus the events counted since.  Every C{interval} seconds the events
counted are added to the store, one statement per counter, which also
reads the new total (other daemons' events included); a counter that
counted nothing during an interval is forgotten, so its next event reads
the store again.

So one daemon counts exactly, and a message costs no round trip to the
store; daemons sharing a store see each other's events at most
C{interval} seconds (and a round trip) late: a client sending through
several servers at once may get that much of the other servers' traffic
past the limit.  No counted event is dropped: a batch that fails is added
to the next one (the store's outage makes the events waiting for it answer
the filter's C{on_error}, as before; the old name C{on_store_error} is
still accepted), and closing the store writes what is left.
Only a daemon that dies without stopping loses its last interval's counts.
"""

from twisted.internet import defer
from twisted.logger import Logger
from twisted.python.failure import Failure

#: Counters kept in memory at most; beyond that an event goes straight to
#: the store, as without write-behind.
MAX_COUNTERS = 65536


class _Counter:
    """
    @ivar args: the store's C{increment} arguments (name, key, bucket,
        first bucket of the window, expiry).
    @ivar total: the store's total at its last answer, or C{None} while
        unknown (never read, or the last write failed).
    @ivar sending: events in the batch on its way to the store.
    @ivar pending: events counted since, not yet sent.
    @ivar waiting: C{(Deferred, position among pending)} of the events
        waiting for the store's total.
    """

    __slots__ = ("args", "total", "sending", "pending", "waiting")

    def __init__(self, args):
        self.args = args
        self.total = None
        self.sending = 0
        self.pending = 0
        self.waiting = []


class WriteBehindCounters:
    log = Logger()

    def __init__(self, store, interval, maxCounters=MAX_COUNTERS):
        self.store = store
        self.interval = interval
        self.maxCounters = maxCounters
        self.counters = {}
        self.timer = None
        self.sends = set()

    def increment(self, *args):
        """
        Count one event; the arguments are the store's C{increment}
        operation's, without the count.

        @return: a Deferred with the window's total, this event included.
        """
        counter = self.counters.get(args)
        if counter is None:
            if len(self.counters) >= self.maxCounters:
                return self.store._call("increment", *args, 1)
            counter = self.counters[args] = _Counter(args)
        counter.pending += 1
        if self.timer is None:
            self.timer = self.store.clock.callLater(self.interval,
                                                    self._tick)
        if counter.total is not None:
            return defer.succeed(counter.total + counter.sending
                                 + counter.pending)
        d = defer.Deferred()
        counter.waiting.append((d, counter.pending))
        if not counter.sending:
            self._send(counter)
        return d

    def _tick(self):
        self.timer = None
        now = self.store.now()
        for args, counter in list(self.counters.items()):
            if counter.sending:
                continue
            if not counter.pending:
                del self.counters[args]
            elif args[-1] <= now:
                self.log.warn("{count} events of expired rate counters "
                              "could not be written to the state store",
                              count=counter.pending)
                del self.counters[args]
            else:
                self._send(counter)
        if self.counters:
            self.timer = self.store.clock.callLater(self.interval,
                                                    self._tick)

    def _send(self, counter):
        batch = counter.pending
        counter.sending, counter.pending = batch, 0
        waiting, counter.waiting = counter.waiting, []
        d = self.store._call("increment", *counter.args, batch)
        self.sends.add(d)
        d.addBoth(self._sent, d, counter, batch, waiting)

    def _sent(self, result, d, counter, batch, waiting):
        self.sends.discard(d)
        counter.sending = 0
        later, counter.waiting = counter.waiting, []
        if isinstance(result, Failure):
            counter.pending += batch
            counter.total = None
            for waiter, _ in waiting + later:
                waiter.errback(result)
            return None
        counter.total = result
        for waiter, position in waiting:
            waiter.callback(result - batch + position)
        for waiter, position in later:
            waiter.callback(result + position)
        return None

    def write(self):
        """
        Send every event counted so far, without waiting for the interval.

        @return: a Deferred that fires (never fails) when they are written,
            or could not be (logged).
        """
        for counter in list(self.counters.values()):
            if counter.pending and not counter.sending:
                self._send(counter)
        if not self.sends:
            return defer.succeed(None)
        d = defer.DeferredList(list(self.sends))
        return d.addCallback(lambda _: self._written())

    def _written(self):
        if any(counter.pending and counter.total is not None
               for counter in self.counters.values()):
            return self.write()  # counted while the batches were on their way
        lost = sum(counter.pending for counter in self.counters.values())
        if lost:
            self.log.warn("{count} rate counter events could not be "
                          "written to the state store", count=lost)
        return None

    def close(self):
        """
        Stop the interval and write what was counted.
        """
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        return self.write()
