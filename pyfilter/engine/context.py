"""
What the daemon gives every filter: the reactor, Courier's paths and
configuration, the modules configuration, the state directory, the bounded
thread pool, and shared services (DNS resolver, state store) created on
first use.
"""

from twisted.logger import Logger


class Context:
    log = Logger()

    def __init__(self, reactor, paths, courier, modules, stateDir, threads,
                 resolverServers=()):
        self.reactor = reactor
        self.paths = paths
        self.courier = courier
        self.modules = modules
        self.stateDir = stateDir
        self.threads = threads
        self.resolverServers = tuple(resolverServers)
        self._resolver = None
        self._store = None
        self._closers = []

    @classmethod
    def build(cls, reactor, paths, modules, settings, stateDir, resolvers=()):
        """
        The context the daemon (and C{pyfilter check}) runs filters with:
        Courier's configuration from C{paths.sysconfdir}, a thread pool
        sized by the C{[pyfilter]} C{settings}; legacy modules' C{courier}
        helpers share the same objects.
        """
        from pyfilter.legacy.courier import config as legacyConfig
        from pyfilter.courier.sysconf import CourierConfig
        from pyfilter.engine.threads import BoundedThreads
        threads = BoundedThreads(reactor, settings["threads"],
                                 settings["thread_queue"])
        context = cls(reactor, paths, CourierConfig(paths.sysconfdir), modules,
                      stateDir, threads, resolvers)
        legacyConfig.configure(paths, context.courier, modules)
        context.onStop(threads.stop)
        return context

    def onStop(self, closer):
        """
        Call C{closer()} (which may return a Deferred) when the daemon stops.
        """
        self._closers.append(closer)

    def close(self):
        from twisted.internet import defer
        return defer.DeferredList(
            [defer.maybeDeferred(closer) for closer in reversed(self._closers)],
            consumeErrors=True)

    @property
    def resolver(self):
        """
        The daemon's one DNS resolver (servers from C{--resolver}, else
        /etc/resolv.conf), with Twisted's cache.
        """
        if self._resolver is None:
            from pyfilter.clients import dns
            self._resolver = dns.makeResolver(self.resolverServers,
                                              self.reactor)
            self.onStop(self._resolver.close)
        return self._resolver

    @property
    def store(self):
        """
        The daemon's one state store (the modules config's C{[ttldb]}
        section: the embedded store in the state directory by default,
        PostgreSQL for several servers), opened on first use.
        """
        if self._store is None:
            from pyfilter import store
            self._store = store.openStore(self)
        return self._store
