"""
The daemon as a Twisted service, following courierfilter's contract.

Start: remove stale sockets of the same name (in both filter directories),
listen on C{.NAME}, set mode 0660 and Courier's mail group, rename to
C{NAME}, build the chain, then close fd 3 (the "ready" signal) if it is the
pipe courierfilter passed.  A configuration error never stops the daemon:
the socket comes up all the same and every message gets a 451 until the
configuration is fixed, so no mail passes unfiltered.

Reload (SIGHUP, or C{reload} on the control socket): read both
configuration files and Courier's again, build and start the new chain
beside the running one, swap it in (L{pyfilter.daemon.generations}).  The
socket stays open throughout; a configuration that fails to load is logged
and the running chain stays in service.

Stop (stdin reached EOF, or SIGTERM): stop accepting, let messages in
flight finish (bounded by the message deadline), release the filters'
resources, exit.  When the admin disabled the filter (C{filterctl stop}:
its link in C{filters/active} is gone) the socket is removed, so Courier
passes mail on as the admin chose.  When courierfilter stops or restarts
while the filter is still enabled, a socket nobody listens on is left in
its place: Courier then answers 432 (try again later) instead of accepting
mail unfiltered until pyfilter is back.
"""

import datetime
import grp
import os
import signal
import socket

from twisted.application.service import Service
from twisted.internet import defer, endpoints, stdio
from twisted.logger import ILogObserver, Logger
from twisted.python.components import Componentized
from twisted.web import server

from pyfilter.engine import loader
from pyfilter.engine.chain import CONFIG_ERROR, StaticChain
from pyfilter.engine.context import Context
from pyfilter.engine.resources import Resources
from pyfilter.config.errors import ConfigError
from pyfilter.daemon.control import ControlFactory
from pyfilter.daemon.generations import Generations
from pyfilter.daemon.decisions import DecisionLog
from pyfilter.daemon.metrics import Metrics
from pyfilter.daemon.requests import RequestHandler
from pyfilter.config.modulesfile import ModulesConfig
from pyfilter.daemon.protocol import RequestFactory
from pyfilter.daemon.startup import StdinWatcher
from pyfilter.legacy.adapter import LegacySupport
from pyfilter.courier.spool import Spool

LISTEN_BACKLOG = 1024


def otherFilterDir(socketPath):
    """
    The same socket name in Courier's other filter directory (filters/ for
    allfilters/ and back), or C{None} when the path is in neither.
    """
    directory, name = os.path.split(socketPath)
    parent, kind = os.path.split(directory)
    other = {"allfilters": "filters", "filters": "allfilters"}.get(kind)
    return os.path.join(parent, other, name) if other else None


def timestamp(seconds):
    """
    C{seconds} since the epoch as an ISO 8601 UTC time, to the second.
    """
    moment = datetime.datetime.fromtimestamp(int(seconds),
                                             datetime.timezone.utc)
    return moment.isoformat().replace("+00:00", "Z")


def _unlink(path):
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


class FilterService(Service):
    """
    @ivar handler: the L{RequestHandler} serving requests.
    @ivar generations: the L{Generations} of the chain.
    @ivar resources: the services filters share, kept across reloads.
    @ivar controlPath: the control socket's path, or C{None} for none.
    @ivar lastReload: C{None}, or the last reload's outcome: C{"at"} (an
        ISO 8601 time), C{"ok"}, C{"error"}.
    @ivar logOutput: the L{pyfilter.daemon.logoutput.LogOutput} the daemon
        logs through when twistd logs to standard output, or C{None}.
    """

    log = Logger()

    def __init__(self, reactor, paths, socketPath, chainPath, modulesPath,
                 stateDir, spoolRoot, resolvers=(), closeStartupPipe=False,
                 watchStdin=True, controlPath=None, handleSignals=True,
                 metricsEndpoint=None, logOutput=None):
        self.reactor = reactor
        self.logOutput = logOutput
        self.metrics = Metrics()
        self.metricsEndpoint = metricsEndpoint
        self.metricsPort = None
        self.paths = paths
        self.socketPath = socketPath
        self.chainPath = chainPath
        self.modulesPath = modulesPath
        self.stateDir = stateDir
        self.spoolRoot = spoolRoot
        self.resolvers = resolvers
        self.closeStartupPipe = closeStartupPipe
        self.watchStdin = watchStdin
        self.controlPath = controlPath
        self.handleSignals = handleSignals
        self.port = None
        self.controlPort = None
        self.resources = Resources()
        self.lastReload = None
        self._reloading = False
        self.ready = defer.Deferred()

    def setServiceParent(self, parent):
        """
        Join C{parent}; given twistd's application (a
        L{twisted.python.components.Componentized}), also make
        L{logOutput} the application's log observer, which twistd then uses
        instead of its own.
        """
        if self.logOutput is not None and isinstance(parent, Componentized):
            parent.setComponent(ILogObserver, self.logOutput)
        super().setServiceParent(parent)

    def startService(self):
        super().startService()
        self.started = self.reactor.seconds()
        modules, settings, configError = self._readSettings()
        self.settings = settings
        context = self._context(modules, settings)
        self.handler = RequestHandler(
            Spool(self.spoolRoot, self.paths.spoolTmp), context.threads,
            settings["max_in_flight"],
            DecisionLog(settings["decision_log"], metrics=self.metrics,
                        output=self.logOutput,
                        later=lambda write: self.reactor.callLater(0, write)))
        self.metrics.inFlight.set_function(
            lambda: len(self.handler.inFlight))
        self._listenMetrics()
        self.generations = Generations(self.handler)
        self._listen(settings["request_timeout"], settings["max_connections"])
        self.metrics.connections.set_function(
            lambda: len(self.factory.connections))
        self.metrics.threadsBusy.set_function(
            lambda: getattr(self.handler.threads, "inUse", 0))
        self._listenControl()
        if self.watchStdin:
            self._watchStdin()
        if self.handleSignals:
            signal.signal(signal.SIGHUP, self._hangUp)
        if configError is not None:
            d = defer.fail(configError)
        else:
            d = self._buildChain(modules, settings, context)
        d.addCallbacks(self._chainReady, self._chainBroken,
                       callbackArgs=(context,), errbackArgs=(context,))
        d.addBoth(self._signalReady)

    def _context(self, modules, settings):
        return Context.build(self.reactor, self.paths, modules, settings,
                             self.stateDir, self.resolvers, self.resources,
                             self.metrics.storeOperation)

    def _buildChain(self, modules, settings, context):
        return loader.buildChain(self.chainPath, modules, context, settings,
                                 LegacySupport(context))

    def _hangUp(self, signum, frame):
        self.reactor.callFromThread(self.reload)

    def reload(self):
        """
        Read the configuration again and put the new chain in service, or
        keep the running one when the new configuration fails to load.

        @return: a Deferred firing with the outcome, as the control channel
            answers it: C{{"ok": True, "generation": N, "chain": [...]}} or
            C{{"ok": False, "error": "..."}}; it never fails.
        """
        if self.generations.current is None:
            return defer.succeed({"ok": False, "error": "the daemon is "
                                  "still starting, try again"})
        if self._reloading:
            self.log.warn("reload requested while one is running: ignored")
            return defer.succeed({"ok": False, "error": "a reload is "
                                  "already running, try again"})
        self._reloading = True
        self.log.info("reloading the configuration")
        d = defer.maybeDeferred(self._loadGeneration)
        d.addCallbacks(self._reloaded, self._reloadFailed)
        d.addBoth(self._reloadDone)
        return d

    @defer.inlineCallbacks
    def _loadGeneration(self):
        modules = ModulesConfig.read(self.modulesPath)
        settings = loader.daemonSettings(modules)
        context = self._context(modules, settings)
        try:
            chain = yield self._buildChain(modules, settings, context)
        except Exception:
            yield context.close()
            raise
        self._applySettings(settings)
        return self.generations.install(chain, context)

    @defer.inlineCallbacks
    def _listenMetrics(self):
        if self.metricsEndpoint is None:
            return
        endpoint = endpoints.serverFromString(self.reactor,
                                              self.metricsEndpoint)
        try:
            self.metricsPort = yield endpoint.listen(
                server.Site(self.metrics.resource()))
        except Exception as e:
            self.log.error("metrics endpoint {endpoint} failed: {error}",
                           endpoint=self.metricsEndpoint, error=e)
        else:
            self.log.info("metrics on {endpoint}",
                          endpoint=self.metricsEndpoint)

    def _applySettings(self, settings):
        self.settings = settings
        self.handler.maxInFlight = settings["max_in_flight"]
        self.handler.decisions.format = settings["decision_log"]
        self.factory.requestTimeout = settings["request_timeout"]
        self.factory.maxConnections = settings["max_connections"]

    def _reloaded(self, generation):
        self._logChain(generation)
        return {"ok": True, "generation": generation.number,
                "chain": generation.names()}

    def _reloadFailed(self, failure):
        if failure.check(ConfigError):
            error = str(failure.value)
        else:
            self.log.failure("reload failed", failure)
            error = f"unexpected error: {failure.value}"
        self.log.error("reload failed, generation {number} stays in "
                       "service: {error}", error=error,
                       number=self.generations.current.number)
        return {"ok": False, "error": error}

    def _reloadDone(self, outcome):
        self._reloading = False
        self.lastReload = {"at": timestamp(self.reactor.seconds()),
                           "ok": outcome["ok"],
                           "error": outcome.get("error")}
        self.metrics.reloaded(outcome["ok"])
        return outcome

    def status(self):
        """
        What C{pyfilter status} shows: the process, the generation in
        service and its chain, the messages in flight, the last reload,
        and the metrics' figures.
        """
        current = self.generations.current
        return {"ok": True, "pid": os.getpid(),
                "started": timestamp(self.started),
                "generation": current.number if current else 0,
                "chain": current.names() if current else [],
                "in_flight": self.generations.inFlight(),
                "retiring": len(self.generations.retiring),
                "last_reload": self.lastReload,
                "metrics": self.metrics.snapshot()}

    def _readSettings(self):
        try:
            modules = ModulesConfig.read(self.modulesPath)
            return modules, loader.daemonSettings(modules), None
        except ConfigError as e:
            return (ModulesConfig(self.modulesPath),
                    loader.daemonSettings(ModulesConfig()), e)

    def _stillEnabled(self):
        """
        C{True} when Courier still lists this filter as active: courierfilter
        is stopping (or restarting) every filter, rather than the admin
        disabling this one with C{filterctl stop}.
        """
        name = os.path.basename(self.socketPath)
        return os.path.lexists(os.path.join(self.paths.sysconfdir, "filters",
                                            "active", name))

    def _leaveRefusingSocket(self):
        """
        Replace the socket, atomically, by one nobody listens on: while
        pyfilter is down Courier then answers 432 (try again later) instead
        of accepting mail unfiltered, as it does when no socket exists.
        The next start removes it.
        """
        stale = self._hiddenPath() + ".stale"
        _unlink(stale)
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as dead:
            dead.bind(stale)
        os.chmod(stale, 0o660)
        self._setGroup(stale)
        os.rename(stale, self.socketPath)
        self.log.info("{path} left refusing connections until pyfilter "
                      "starts again", path=self.socketPath)

    def _hiddenPath(self):
        directory, name = os.path.split(self.socketPath)
        return os.path.join(directory, "." + name)

    def _listen(self, requestTimeout, maxConnections):
        hidden = self._hiddenPath()
        # A socket left at the final path (a previous instance's) is
        # replaced by the rename below, atomically: Courier never finds the
        # path missing.
        for stale in (hidden, otherFilterDir(self.socketPath)):
            if stale:
                _unlink(stale)
        self.factory = RequestFactory(self.handler, self.reactor,
                                      requestTimeout, maxConnections)
        self.factory.noisy = False
        self.port = self.reactor.listenUNIX(hidden, self.factory, mode=0o660,
                                            backlog=LISTEN_BACKLOG)
        os.chmod(hidden, 0o660)
        self._setGroup(hidden)
        os.rename(hidden, self.socketPath)
        self.log.info("listening on {path}", path=self.socketPath)

    def _listenControl(self):
        """
        Listen on the control socket (mode 0660, the mail group); a
        failure is logged and the daemon filters all the same.
        """
        if not self.controlPath:
            return
        _unlink(self.controlPath)
        factory = ControlFactory({"reload": self.reload,
                                  "status": self.status}, self.reactor)
        try:
            self.controlPort = self.reactor.listenUNIX(
                self.controlPath, factory, mode=0o660)
            os.chmod(self.controlPath, 0o660)
        except OSError as e:
            self.log.error("no control socket at {path}: {error}",
                           path=self.controlPath, error=e)
            return
        self._setGroup(self.controlPath)
        self.log.info("control socket {path}", path=self.controlPath)

    def _setGroup(self, path):
        try:
            gid = grp.getgrnam(self.paths.mailgroup).gr_gid
        except KeyError:
            return
        if os.stat(path).st_gid == gid:
            return
        try:
            os.chown(path, -1, gid)
        except PermissionError:
            self.log.warn("cannot give {path} to group {group}: Courier may "
                          "not be able to connect", path=path,
                          group=self.paths.mailgroup)

    def _watchStdin(self):
        devnull = os.open(os.devnull, os.O_WRONLY)
        stdio.StandardIO(StdinWatcher(self._stdinClosed), stdin=0,
                         stdout=devnull, reactor=self.reactor)

    def _stdinClosed(self):
        self.log.info("stdin closed by courierfilter: shutting down")
        if self.reactor.running:
            self.reactor.stop()

    def _chainReady(self, chain, context):
        self._logChain(self.generations.install(chain, context))

    def _logChain(self, generation):
        self.log.info("filter chain ready (generation {number}): {names}",
                      number=generation.number,
                      names=" ".join(generation.names()) or
                      "(empty: every message gets 200 Ok)")

    def _chainBroken(self, failure, context):
        if failure.check(ConfigError):
            reason = str(failure.value)
            self.log.error("configuration error, every message will get a "
                           "temporary failure until it is fixed: {reason}",
                           reason=reason)
        else:
            reason = f"unexpected start-up error: {failure.value}"
            self.log.failure("start-up failed, every message will get a "
                             "temporary failure", failure)
        self.generations.install(StaticChain(CONFIG_ERROR, reason), context)

    def _signalReady(self, _):
        if self.closeStartupPipe:
            self.closeStartupPipe = False
            os.close(3)
        self.ready.callback(None)

    @defer.inlineCallbacks
    def stopService(self):
        super().stopService()
        if self.handleSignals:
            signal.signal(signal.SIGHUP, signal.SIG_DFL)
        if self.metricsPort is not None:
            yield self.metricsPort.stopListening()
            self.metricsPort = None
        if self.controlPort is not None:
            yield self.controlPort.stopListening()
            self.controlPort = None
        if self.port is not None:
            # The port unlinks the path it was bound to (.NAME) when it
            # closes: give the socket that name first.
            if self._stillEnabled():
                os.link(self.socketPath, self._hiddenPath())
                self._leaveRefusingSocket()
            else:
                os.rename(self.socketPath, self._hiddenPath())
            yield self.port.stopListening()
            self.port = None
        deadline = self.settings["message_deadline"] + 5
        abandoned = yield self.factory.drain(deadline)
        if abandoned:
            self.log.warn("{count} connections still open at exit",
                          count=abandoned)
        self.handler.decisions.flush()
        yield self.generations.close()
        yield self.resources.closeAll()
