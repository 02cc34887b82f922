"""
The courierfilter request framing, and nothing else.

Courier connects, writes the data file path, one or more control file
paths and an empty line, then waits for one reply.  The protocol bounds the
line length, the number of paths and the time the request may take; a
malformed request gets a 451 reply and is closed.  The reply is written
once and the connection closed.  The factory knows the open connections so
that shutdown can wait until every reply has been delivered.
"""

from twisted.internet import defer

from twisted.internet.protocol import Factory
from twisted.logger import Logger
from twisted.protocols.basic import LineOnlyReceiver

from pyfilter.handler import BAD_REQUEST, BUSY

MAX_PATH_LENGTH = 4096
MAX_PATHS = 10001


class RequestProtocol(LineOnlyReceiver):
    delimiter = b"\n"
    MAX_LENGTH = MAX_PATH_LENGTH
    log = Logger()

    def connectionMade(self):
        self.paths = []
        self.timer = None
        self.answered = len(self.factory.connections) >= \
            self.factory.maxConnections
        self.factory.connections.add(self)
        if self.answered:
            self.log.warn("{count} connections open: answering busy",
                          count=len(self.factory.connections))
            self._reply(BUSY)
            return
        self.timer = self.factory.reactor.callLater(
            self.factory.requestTimeout, self._timedOut)

    def lineReceived(self, line):
        if self.answered:
            return
        if line.endswith(b"\r"):
            line = line[:-1]
        if line:
            if len(self.paths) >= MAX_PATHS:
                self._refuse(f"more than {MAX_PATHS} paths")
            else:
                self.paths.append(line)
            return
        if not self.paths:
            self._refuse("empty request")
            return
        self._stopTimer()
        self.answered = True
        self.transport.pauseProducing()
        self.factory.handler.handle(self.paths).addCallback(self._reply)

    def lineLengthExceeded(self, line):
        self._refuse(f"request line longer than {self.MAX_LENGTH} bytes")

    def _timedOut(self):
        self.timer = None
        self._refuse(f"request not complete after "
                     f"{self.factory.requestTimeout}s")

    def _refuse(self, reason):
        if self.answered:
            return
        self.log.warn("malformed request: {reason}", reason=reason)
        self._stopTimer()
        self.answered = True
        self._reply(BAD_REQUEST)

    def _reply(self, reply):
        self.transport.write(reply.toBytes())
        self.transport.loseConnection()

    def _stopTimer(self):
        if self.timer is not None and self.timer.active():
            self.timer.cancel()
        self.timer = None

    def connectionLost(self, reason):
        self._stopTimer()
        self.factory.connectionClosed(self)


class RequestFactory(Factory):
    protocol = RequestProtocol

    def __init__(self, handler, reactor, requestTimeout=30,
                 maxConnections=1024):
        self.handler = handler
        self.reactor = reactor
        self.requestTimeout = requestTimeout
        self.maxConnections = maxConnections
        self.connections = set()
        self._idle = []

    def connectionClosed(self, protocol):
        self.connections.discard(protocol)
        if not self.connections:
            idle, self._idle = self._idle, []
            for waiter in idle:
                waiter.callback(None)

    def drain(self, timeout):
        """
        Wait until every connection is closed (its reply delivered), at most
        C{timeout} seconds.

        @return: a Deferred firing with the number of connections abandoned.
        """
        if not self.connections:
            return defer.succeed(0)
        waiter = defer.Deferred()
        self._idle.append(waiter)
        timer = self.reactor.callLater(timeout, waiter.cancel)

        def done(result):
            if timer.active():
                timer.cancel()
            return len(self.connections)

        return waiter.addBoth(done)
