"""
The control channel: a UNIX socket (mode 0660, Courier's mail group, like
the filter socket) where C{pyfilter reload} and C{pyfilter status} talk to
the daemon.

A client sends one command per line (C{reload}, C{status}); the daemon
answers each with one line of JSON, an object with C{"ok"}: C{true} or
C{false}; on C{false}, C{"error"} says why.  Bounded: lines of at most
L{MAX_LINE} bytes, a few connections at once, idle connections closed
after L{IDLE_TIMEOUT} seconds, one command at a time per connection.
"""

import json

from twisted.internet import defer
from twisted.internet.protocol import Factory
from twisted.logger import Logger
from twisted.protocols.basic import LineOnlyReceiver
from twisted.protocols.policies import TimeoutMixin

MAX_LINE = 256
IDLE_TIMEOUT = 30
MAX_CONNECTIONS = 4


def encode(answer):
    return json.dumps(answer, sort_keys=True).encode("utf-8") + b"\n"


class ControlProtocol(LineOnlyReceiver, TimeoutMixin):
    delimiter = b"\n"
    MAX_LENGTH = MAX_LINE

    log = Logger()

    def connectionMade(self):
        if len(self.factory.connections) >= self.factory.maxConnections:
            self.transport.write(encode(
                {"ok": False, "error": "too many control connections"}))
            self.transport.loseConnection()
            return
        self.factory.connections.add(self)
        self.setTimeout(self.factory.idleTimeout)

    def connectionLost(self, reason):
        self.factory.connections.discard(self)
        self.setTimeout(None)
        self.lost = True

    def lineReceived(self, line):
        command = line.strip().decode("ascii", "replace")
        if not command:
            return
        run = self.factory.commands.get(command)
        if run is None:
            self._answer({"ok": False, "error": f"unknown command "
                          f"{command!r} (known: "
                          f"{', '.join(sorted(self.factory.commands))})"})
            return
        # One command at a time; a reload may outlast the idle timeout.
        self.setTimeout(None)
        self.transport.pauseProducing()
        d = defer.maybeDeferred(run)
        d.addErrback(self._failed, command)
        d.addCallback(self._answer)
        d.addCallback(lambda _: self.transport.resumeProducing())

    def _failed(self, failure, command):
        self.log.failure("control command {command} failed", failure,
                         command=command)
        return {"ok": False, "error": f"{command} failed: {failure.value}"}

    lost = False

    def _answer(self, answer):
        if not self.lost:
            self.transport.write(encode(answer))
            self.setTimeout(self.factory.idleTimeout)

    def lineLengthExceeded(self, line):
        self.transport.write(encode(
            {"ok": False, "error": f"line longer than {MAX_LINE} bytes"}))
        self.transport.loseConnection()

    def timeoutConnection(self):
        self.transport.loseConnection()


class ControlFactory(Factory):
    """
    @ivar commands: callables by command name, returning the answer (a
        dict, or a Deferred of one).
    """

    protocol = ControlProtocol
    noisy = False

    def __init__(self, commands, reactor, idleTimeout=IDLE_TIMEOUT,
                 maxConnections=MAX_CONNECTIONS):
        self.commands = commands
        self.reactor = reactor
        self.idleTimeout = idleTimeout
        self.maxConnections = maxConnections
        self.connections = set()

    def buildProtocol(self, addr):
        protocol = Factory.buildProtocol(self, addr)
        protocol.callLater = self.reactor.callLater
        return protocol
