"""
What the daemon gives every filter: the reactor, Courier's paths and
configuration, the modules configuration, the state directory, the bounded
thread pool, and a register of the services filters share (DNS resolver,
state store, service clients, quarantine): each module providing such a
service keeps its one instance here (L{Context.shared}), created on first
use and released when the daemon stops.
"""

from twisted.internet import defer
from twisted.logger import Logger

from pyfilter.courier.sysconf import CourierConfig
from pyfilter.engine.threads import BoundedThreads


class Context:
    """
    @ivar reactor: the reactor (a L{twisted.internet.task.Clock} in tests).
    @ivar paths: Courier's L{pyfilter.courier.paths.CourierPaths}.
    @ivar courier: Courier's configuration files
        (L{pyfilter.courier.sysconf.CourierConfig}).
    @ivar modules: the modules file (L{pyfilter.config.modulesfile.ModulesConfig}).
    @ivar stateDir: the directory for state (the embedded store, the
        quarantine).
    @ivar threads: the L{BoundedThreads} for blocking code.
    @ivar resolverServers: C{HOST:PORT} of the DNS servers (C{--resolver}),
        empty for /etc/resolv.conf.
    """

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
        self._shared = {}
        self._closers = []

    @classmethod
    def build(cls, reactor, paths, modules, settings, stateDir, resolvers=()):
        """
        The context the daemon (and C{pyfilter check}) runs filters with:
        Courier's configuration from C{paths.sysconfdir}, a thread pool
        sized by the C{[pyfilter]} C{settings}.
        """
        threads = BoundedThreads(reactor, settings["threads"],
                                 settings["thread_queue"])
        context = cls(reactor, paths, CourierConfig(paths.sysconfdir), modules,
                      stateDir, threads, resolvers)
        context.onStop(threads.stop)
        return context

    def shared(self, key, create):
        """
        The daemon's one instance of a shared service: C{create()} on first
        use (it may call L{onStop} to be released), the same object after.

        @param key: what names the service, such as C{("clamd", address)}.
        """
        found = self._shared.get(key)
        if found is None:
            found = self._shared[key] = create()
        return found

    def onStop(self, closer):
        """
        Call C{closer()} (which may return a Deferred) when the daemon stops.
        """
        self._closers.append(closer)

    def close(self):
        return defer.DeferredList(
            [defer.maybeDeferred(closer) for closer in reversed(self._closers)],
            consumeErrors=True)
