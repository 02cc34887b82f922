"""
The courierfilter request framing, and nothing else.

Courier connects, writes the data file path, one or more control file
paths and an empty line, then waits for one reply.  The protocol bounds the
line length, the number of paths, the request's size and the time it may
take; a malformed request gets a 451 reply and is closed.  The reply is
written once and the connection closed.

The factory knows the open connections: beyond a bound a new one is
answered "busy" at once; one periodic sweep (running while the factory is
listening) times out requests that take too long, instead of a timer per
connection; and shutdown waits until every reply has been delivered.
"""

import re

from twisted.internet import defer, task
from twisted.internet.protocol import Factory, Protocol
from twisted.logger import Logger

from pyfilter.handler import BAD_REQUEST, BUSY

MAX_PATH_LENGTH = 4096
MAX_PATHS = 10001
MAX_REQUEST_BYTES = 1024 * 1024
SWEEP_INTERVAL = 1.0

_REQUEST_END = re.compile(rb"(?:^|\n)\r?\n")


class RequestProtocol(Protocol):
    log = Logger()

    def connectionMade(self):
        self.buffer = b""
        self.started = self.factory.reactor.seconds()
        self.answered = len(self.factory.connections) >= \
            self.factory.maxConnections
        self.factory.connectionOpened(self)
        if self.answered:
            self.log.warn("{count} connections open: answering busy",
                          count=len(self.factory.connections))
            self._reply(BUSY)

    def dataReceived(self, data):
        if self.answered:
            return
        buffer = self.buffer + data if self.buffer else data
        end = _REQUEST_END.search(buffer)
        if end is None:
            if len(buffer) > MAX_REQUEST_BYTES:
                self.refuse(f"request larger than {MAX_REQUEST_BYTES} bytes")
            elif buffer.count(b"\n") > MAX_PATHS:
                self.refuse(f"more than {MAX_PATHS} paths")
            elif len(buffer) > MAX_PATH_LENGTH and max(
                    map(len, buffer.split(b"\n"))) > MAX_PATH_LENGTH:
                self.refuse(f"request line longer than {MAX_PATH_LENGTH} "
                            f"bytes")
            else:
                self.buffer = buffer
            return
        self.buffer = b""
        if end.start() == 0:
            self.refuse("empty request")
            return
        paths = buffer[:end.start()].split(b"\n")
        if len(paths) > MAX_PATHS:
            self.refuse(f"more than {MAX_PATHS} paths")
            return
        for index, path in enumerate(paths):
            if len(path) > MAX_PATH_LENGTH:
                self.refuse(f"request line longer than {MAX_PATH_LENGTH} "
                            f"bytes")
                return
            if path.endswith(b"\r"):
                paths[index] = path[:-1]
        self.answered = True
        self.transport.pauseProducing()
        self.factory.handler.handle(paths).addCallback(self._reply)

    def refuse(self, reason):
        """
        Answer a malformed (or too slow) request with 451 and close.
        """
        if self.answered:
            return
        self.log.warn("malformed request: {reason}", reason=reason)
        self.answered = True
        self._reply(BAD_REQUEST)

    def _reply(self, reply):
        self.transport.write(reply.toBytes())
        self.transport.loseConnection()

    def connectionLost(self, reason):
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
        self._sweep = task.LoopingCall(self._timeOutRequests)
        self._sweep.clock = reactor

    def startFactory(self):
        self._sweep.start(SWEEP_INTERVAL, now=False)

    def stopFactory(self):
        if self._sweep.running:
            self._sweep.stop()

    def connectionOpened(self, protocol):
        self.connections.add(protocol)

    def connectionClosed(self, protocol):
        self.connections.discard(protocol)
        if not self.connections:
            idle, self._idle = self._idle, []
            for waiter in idle:
                waiter.callback(None)

    def _timeOutRequests(self):
        expired = self.reactor.seconds() - self.requestTimeout
        for protocol in list(self.connections):
            if not protocol.answered and protocol.started <= expired:
                protocol.refuse(f"request not complete after "
                                f"{self.requestTimeout}s")

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
