"""
A bounded pool for blocking code (legacy C{do_filter} modules, pyspf).

At most C{size} calls run at once and at most C{queued} wait; beyond that a
call fails at once with L{PoolBusy} rather than queueing without limit.  A
call counts until its thread really returns, so calls abandoned by a timeout
but still stuck in their thread keep their place: a hung module fills the
pool only up to its bound and is answered 451 from then on, instead of
piling up threads.
"""

import threading

from twisted.internet import defer
from twisted.internet.threads import deferToThreadPool
from twisted.logger import Logger
from twisted.python.threadpool import ThreadPool


def _daemonThread(*args, **kwargs):
    return threading.Thread(*args, daemon=True, **kwargs)


class PoolBusy(Exception):
    """
    Every thread is busy and the wait queue is full.
    """


class BoundedThreads:
    """
    The one thread pool for blocking code (legacy C{do_filter} modules,
    blocking libraries): at most C{size} calls in threads at once and
    C{queued} more waiting; a call beyond that fails at once with
    L{PoolBusy} instead of waiting without bound.

    @ivar inUse: calls running or waiting now.
    @ivar limit: C{size + queued}, the most calls accepted at once.
    """

    log = Logger()

    def __init__(self, reactor, size=8, queued=64, name="pyfilter"):
        self.reactor = reactor
        self.size = size
        self.limit = size + queued
        self.inUse = 0
        self.pool = ThreadPool(minthreads=0, maxthreads=size, name=name)
        self.pool.threadFactory = _daemonThread
        self._started = False

    def start(self):
        if not self._started:
            self._started = True
            self.pool.start()

    def stop(self):
        """
        Stop the pool.  Threads still stuck in a call are not waited for:
        they are daemon threads, and end with the process.
        """
        if self._started:
            self._started = False
            if self.inUse:
                self.log.warn("{count} blocking calls still running at exit",
                              count=self.inUse)
            else:
                self.pool.stop()

    def run(self, function, *args, **kwargs):
        """
        Call C{function(*args, **kwargs)} in a pool thread.

        @return: a Deferred with its result; it fails with L{PoolBusy} at
            once when the pool and its queue are full.
        """
        if self.inUse >= self.limit:
            return defer.fail(PoolBusy(
                f"{self.inUse} calls already running or waiting"))
        self.start()
        self.inUse += 1

        def work():
            try:
                return function(*args, **kwargs)
            finally:
                self.reactor.callFromThread(self._release)

        return deferToThreadPool(self.reactor, self.pool, work)

    def _release(self):
        self.inUse -= 1


class InlineThreads:
    """
    The thread pool's interface, calling in the caller's thread: for tests
    and one-shot tools, where blocking does no harm.
    """

    def run(self, function, *args, **kwargs):
        return defer.maybeDeferred(function, *args, **kwargs)
