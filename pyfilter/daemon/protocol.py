"""
The courierfilter request framing, and nothing else.

Courier connects, writes the data file path, one or more control file
paths and an empty line, then waits for one reply.  The protocol bounds the
line length, the number of paths, the request's size and the time it may
take.  The reply is written once and the connection closed.

A request answered before its end (malformed, too slow, cut short by the
client's half-close, or refused as busy) gets its 451 and a lingering
close: our half of the connection is shut after the reply, and what the
client still writes is read and discarded until it closes its half too, at
most L{LINGER_BYTES} bytes and L{LINGER_SECONDS} seconds.  Closing at once
would leave a client that is still writing with a broken pipe instead of
the reply.

The factory knows the open connections: beyond a bound a new one is
answered "busy" at once; one periodic sweep (running while the factory is
listening) times out requests that take too long and lingering closes,
instead of a timer per connection; and shutdown waits until every reply
has been delivered.
"""

import re

from twisted.internet import defer, task
from twisted.internet.interfaces import IHalfCloseableProtocol
from twisted.internet.protocol import Factory, Protocol
from twisted.logger import Logger
from zope.interface import implementer

from pyfilter.daemon.eager import readNow, writeNow
from pyfilter.daemon.requests import BAD_REQUEST, BUSY

MAX_PATH_LENGTH = 4096
MAX_PATHS = 10001
MAX_REQUEST_BYTES = 1024 * 1024
SWEEP_INTERVAL = 1.0

#: Bounds of a lingering close: bytes discarded, and seconds waited for the
#: client to close its half (a local client still writing a request of the
#: largest size needs milliseconds).
LINGER_BYTES = MAX_REQUEST_BYTES
LINGER_SECONDS = 5.0

_REQUEST_END = re.compile(rb"(?:^|\n)\r?\n")


@implementer(IHalfCloseableProtocol)
class RequestProtocol(Protocol):
    """
    One courierfilter request: one connection from Courier.  It collects
    the paths up to the empty line, hands them to the factory's
    C{handler} (a L{pyfilter.daemon.requests.RequestHandler}), writes the
    reply it decides and closes the connection.  Malformed, oversized or
    too slow requests get a 451 without reaching the handler.

    @ivar answered: a reply has been written or is being decided.
    @ivar lingerStarted: when the lingering close began, or C{None}.
    @ivar inputEnded: the client has closed its half of the connection.
    """

    log = Logger()

    def connectionMade(self):
        self.buffer = b""
        self.started = self.factory.reactor.seconds()
        self.lingerStarted = None
        self.discarded = 0
        self.inputEnded = False
        self.answered = len(self.factory.connections) >= \
            self.factory.maxConnections
        self.factory.connectionOpened(self)
        if self.answered:
            self.log.warn("{count} connections open: answering busy",
                          count=len(self.factory.connections))
            self._answerEarly(BUSY)
        elif (len(self.factory.connections) == 1
              and self.factory.handler.quiet()):
            # Alone with an idle daemon (one message at a time, the usual
            # case): read the request in the turn that accepted it.
            # Otherwise requests are read in the reactor's turns, in turn:
            # read at once, a stream of new connections would keep the
            # reactor in its accept loop while those accepted earlier (and
            # their decision lines) wait.
            readNow(self.transport)

    def dataReceived(self, data):
        if self.lingerStarted is not None:
            self._discard(data)
            return
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
        decided = self.factory.handler.handle(paths)
        if not decided.called:
            # Nothing more is read while the chain decides.
            self.transport.pauseProducing()
        decided.addCallback(self._reply)

    def readConnectionLost(self):
        """
        The client closed its half: a request without its empty line gets
        451 (silently if the client sent nothing at all, like a probe of the
        socket); a lingering close ends; a request being decided still gets
        its reply.
        """
        self.inputEnded = True
        if self.lingerStarted is not None:
            self.transport.loseConnection()
        elif not self.answered:
            if self.buffer:
                self.refuse("the client closed its half of the connection "
                            "before the end of the request")
            else:
                self.answered = True
                self._answerEarly(BAD_REQUEST)

    def writeConnectionLost(self):
        """
        Our half is closed (after an early answer); reading goes on.
        """

    def refuse(self, reason):
        """
        Answer a malformed (or too slow) request with 451, then close.
        """
        if self.answered:
            return
        self.log.warn("malformed request: {reason}", reason=reason)
        self.answered = True
        self._answerEarly(BAD_REQUEST)

    def _reply(self, reply):
        self.transport.write(reply.toBytes())
        self.transport.loseConnection()
        writeNow(self.transport)

    def _answerEarly(self, reply):
        """
        Write C{reply} to a request that has not ended, then close our half
        and linger (unless the client's half is closed already, or the
        daemon is shutting down).
        """
        self.transport.write(reply.toBytes())
        if self.inputEnded or self.factory.draining:
            self.transport.loseConnection()
        else:
            self.lingerStarted = self.factory.reactor.seconds()
            self.transport.loseWriteConnection()
        writeNow(self.transport)

    def _discard(self, data):
        self.discarded += len(data)
        if self.discarded > LINGER_BYTES:
            self.log.warn("client still writing {bytes} bytes after its "
                          "reply: closing", bytes=self.discarded)
            self.stopLingering()

    def stopLingering(self):
        """
        End a lingering close now (once the reply is flushed).
        """
        self.transport.loseConnection()

    def connectionLost(self, reason):
        self.factory.connectionClosed(self)


class RequestFactory(Factory):
    """
    The listening socket's factory: it keeps the open connections, answers
    busy beyond C{maxConnections}, refuses requests not complete after
    C{requestTimeout} seconds (checked every L{SWEEP_INTERVAL} seconds),
    and on shutdown lets the open requests finish (L{drain}).

    @ivar handler: what decides a complete request's reply.
    @ivar connections: the open L{RequestProtocol}s.
    @ivar draining: shutting down: requests answered early close at once.
    """

    protocol = RequestProtocol

    def __init__(self, handler, reactor, requestTimeout=30,
                 maxConnections=1024):
        self.handler = handler
        self.reactor = reactor
        self.requestTimeout = requestTimeout
        self.maxConnections = maxConnections
        self.connections = set()
        self.draining = False
        self._idle = []
        self._sweep = task.LoopingCall(self._timeOut)
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

    def _timeOut(self):
        now = self.reactor.seconds()
        expired = now - self.requestTimeout
        lingered = now - LINGER_SECONDS
        for protocol in list(self.connections):
            if protocol.lingerStarted is not None:
                if protocol.lingerStarted <= lingered:
                    protocol.transport.abortConnection()
            elif not protocol.answered and protocol.started <= expired:
                protocol.refuse(f"request not complete after "
                                f"{self.requestTimeout}s")

    def drain(self, timeout):
        """
        End lingering closes, and wait until every connection is closed (its
        reply delivered), at most C{timeout} seconds.

        @return: a Deferred firing with the number of connections abandoned.
        """
        self.draining = True
        for protocol in list(self.connections):
            if protocol.lingerStarted is not None:
                protocol.stopLingering()
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
