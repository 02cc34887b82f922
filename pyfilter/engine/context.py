"""
What the daemon gives every filter: the reactor, Courier's paths and
configuration, the modules configuration, the state directory, the bounded
thread pool, and a register of the services filters share (DNS resolver,
state store, service clients, quarantine): each module providing such a
service keeps its one instance here (L{Context.shared}), created on first
use and released when no chain generation uses it any more
(L{pyfilter.engine.resources}).
"""

from twisted.internet import defer
from twisted.logger import Logger

from pyfilter.courier.sysconf import CourierConfig
from pyfilter.engine.resources import Resources
from pyfilter.engine.threads import BoundedThreads


class Context:
    """
    Everything a filter may need from the daemon, handed to its
    constructor: a filter reads its services from here rather than
    creating its own, so that a reload or C{pyfilter check} gives it the
    same ones.

    @ivar reactor: the reactor (a L{twisted.internet.task.Clock} in tests).
    @ivar paths: Courier's L{pyfilter.courier.paths.CourierPaths}.
    @ivar courier: Courier's configuration files
        (L{pyfilter.courier.sysconf.CourierConfig}).
    @ivar modules: the modules file
        (L{pyfilter.config.modulesfile.ModulesConfig}).
    @ivar stateDir: the directory for state (the embedded store, the
        quarantine).
    @ivar threads: the L{BoundedThreads} for blocking code.
    @ivar resolverServers: C{HOST:PORT} of the DNS servers (C{--resolver}),
        empty for /etc/resolv.conf.
    @ivar resources: the L{Resources} shared services come from (one per
        daemon, kept across reloads).
    @ivar observeStore: C{observeStore(operation, seconds, ok)} is told of
        every state store operation (the daemon's metrics), or C{None}.
    """

    log = Logger()

    def __init__(self, reactor, paths, courier, modules, stateDir, threads,
                 resolverServers=(), resources=None, observeStore=None):
        self.reactor = reactor
        self.paths = paths
        self.courier = courier
        self.modules = modules
        self.stateDir = stateDir
        self.threads = threads
        self.resolverServers = tuple(resolverServers)
        self._ownsResources = resources is None
        self.resources = Resources() if resources is None else resources
        self.observeStore = observeStore
        self._closers = []

    @classmethod
    def build(cls, reactor, paths, modules, settings, stateDir, resolvers=(),
              resources=None, observeStore=None):
        """
        The context the daemon (and C{pyfilter check}) runs filters with:
        Courier's configuration from C{paths.sysconfdir}, a thread pool
        sized by the C{[pyfilter]} C{settings}.

        @param resources: the daemon's L{Resources}, so that a reload's
            context shares what the running one holds.
        @param observeStore: see L{observeStore}.
        """
        context = cls(reactor, paths, CourierConfig(paths.sysconfdir), modules,
                      stateDir, None, resolvers, resources, observeStore)
        size, queued = settings["threads"], settings["thread_queue"]

        def createThreads():
            threads = BoundedThreads(reactor, size, queued)
            context.onStop(threads.stop)
            return threads
        context.threads = context.shared(("threads", size, queued),
                                         createThreads)
        return context

    def shared(self, key, create):
        """
        The daemon's one instance of a shared service: C{create()} on first
        use (it may call L{onStop} to be released), the same object after,
        in this context and in a reload's new one.

        @param key: what names the service and every setting it is made
            from, such as C{("clamd", address)}: a reload whose settings
            differ makes a new one.
        """
        return self.resources.acquire(key, create, self)

    def onStop(self, closer):
        """
        Call C{closer()} (which may return a Deferred) when this context
        closes; called while a shared service is made, when the last
        context using that service closes.
        """
        if not self.resources.collect(closer):
            self._closers.append(closer)

    @defer.inlineCallbacks
    def close(self):
        """
        Release what this context made (its filters first), then the shared
        services no other context uses (all of them when the context has
        its L{Resources} to itself, as outside the daemon).
        """
        closers, self._closers = self._closers, []
        yield defer.DeferredList(
            [defer.maybeDeferred(closer) for closer in reversed(closers)],
            consumeErrors=True)
        if self._ownsResources:
            yield self.resources.closeAll()
        else:
            yield self.resources.release(self)
