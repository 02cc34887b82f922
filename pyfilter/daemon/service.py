"""
The daemon as a Twisted service, following courierfilter's contract.

Start: remove stale sockets of the same name (in both filter directories),
listen on C{.NAME}, set mode 0660 and Courier's mail group, rename to
C{NAME}, build the chain, then close fd 3 (the "ready" signal) if it is the
pipe courierfilter passed.  A configuration error never stops the daemon:
the socket comes up all the same and every message gets a 451 until the
configuration is fixed, so no mail passes unfiltered.

Stop (stdin reached EOF, or SIGTERM): stop accepting, let messages in
flight finish (bounded by the message deadline), release the filters'
resources, exit.  When the admin disabled the filter (C{filterctl stop}:
its link in C{filters/active} is gone) the socket is removed, so Courier
passes mail on as the admin chose.  When courierfilter stops or restarts
while the filter is still enabled, a socket nobody listens on is left in
its place: Courier then answers 432 (try again later) instead of accepting
mail unfiltered until pyfilter is back.
"""

import grp
import os
import socket

from twisted.application.service import Service
from twisted.internet import defer, stdio
from twisted.logger import Logger

from pyfilter.engine import loader
from pyfilter.engine.chain import CONFIG_ERROR, StaticChain
from pyfilter.engine.context import Context
from pyfilter.config.errors import ConfigError
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


def _unlink(path):
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


class FilterService(Service):
    """
    @ivar handler: the L{RequestHandler} serving requests.
    """

    log = Logger()

    def __init__(self, reactor, paths, socketPath, chainPath, modulesPath,
                 stateDir, spoolRoot, resolvers=(), closeStartupPipe=False,
                 watchStdin=True):
        self.reactor = reactor
        self.paths = paths
        self.socketPath = socketPath
        self.chainPath = chainPath
        self.modulesPath = modulesPath
        self.stateDir = stateDir
        self.spoolRoot = spoolRoot
        self.resolvers = resolvers
        self.closeStartupPipe = closeStartupPipe
        self.watchStdin = watchStdin
        self.port = None
        self.context = None
        self.ready = defer.Deferred()

    def startService(self):
        super().startService()
        modules, settings, configError = self._readSettings()
        self.settings = settings
        self.context = Context.build(self.reactor, self.paths, modules,
                                     settings, self.stateDir, self.resolvers)
        self.handler = RequestHandler(
            Spool(self.spoolRoot, self.paths.spoolTmp), self.context.threads,
            settings["max_in_flight"])
        self._listen(settings["request_timeout"], settings["max_connections"])
        if self.watchStdin:
            self._watchStdin()
        if configError is not None:
            d = defer.fail(configError)
        else:
            d = loader.buildChain(self.chainPath, modules, self.context,
                                  settings, LegacySupport(self.context))
        d.addCallbacks(self._chainReady, self._chainBroken)
        d.addBoth(self._signalReady)

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

    def _chainReady(self, chain):
        self.log.info("filter chain ready: {names}",
                      names=" ".join(e.name for e in chain.entries) or
                      "(empty: every message gets 200 Ok)")
        self.handler.setChain(chain)

    def _chainBroken(self, failure):
        if failure.check(ConfigError):
            reason = str(failure.value)
            self.log.error("configuration error, every message will get a "
                           "temporary failure until it is fixed: {reason}",
                           reason=reason)
        else:
            reason = f"unexpected start-up error: {failure.value}"
            self.log.failure("start-up failed, every message will get a "
                             "temporary failure", failure)
        self.handler.setChain(StaticChain(CONFIG_ERROR, reason))

    def _signalReady(self, _):
        if self.closeStartupPipe:
            self.closeStartupPipe = False
            os.close(3)
        self.ready.callback(None)

    @defer.inlineCallbacks
    def stopService(self):
        super().stopService()
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
        yield self.context.close()
