"""
An SMTP call-out: ask a mail server whether it would accept a recipient,
without sending a message.

The dialogue is the one courier-pythonfilter's dialback has: greeting (its
code is not checked), C{HELO}, C{MAIL FROM}, C{RCPT TO}, then C{QUIT}; never
C{EHLO}, C{STARTTLS} or C{DATA}.  It stops at the first C{HELO} or
C{MAIL FROM} reply that is not 2xx, or at the C{RCPT TO} reply.  The
connection is always closed: with C{QUIT} after a reply, aborted after a
timeout or a cancellation.

This is a small LineReceiver rather than twisted.mail's SMTPClient, which
always goes on to C{DATA} once a recipient is accepted and reports
recipient replies only after the whole transaction; a RCPT-only dialogue
would mean overriding its internal states.

The connection and every command wait at most C{timeout} seconds, and never
past the C{deadline} (a time on the reactor's clock).
"""

from twisted.internet import defer, endpoints
from twisted.protocols.basic import LineReceiver
from twisted.protocols.policies import TimeoutMixin

from pyfilter.clients.base import connectQuietly

CONNECT = "connect"
HELO = "HELO"
MAIL = "MAIL"
RCPT = "RCPT"


class CalloutError(Exception):
    """
    The dialogue broke during C{stage} (L{CONNECT}, L{HELO}, L{MAIL} or
    L{RCPT}): refused or lost connection, timeout, or a garbled reply.
    """

    def __init__(self, stage, reason):
        Exception.__init__(self, stage, reason)
        self.stage = stage
        self.reason = reason

    def __str__(self):
        return f"during {self.stage}: {self.reason}"


class Answer:
    """
    How the dialogue ended: the C{code} (an integer) the server replied at
    C{stage} (L{HELO} or L{MAIL} when it refused those, else L{RCPT}).
    """

    def __init__(self, stage, code):
        self.stage = stage
        self.code = code

    def __repr__(self):
        return f"Answer({self.stage!r}, {self.code!r})"

    def __eq__(self, other):
        return (isinstance(other, Answer)
                and (self.stage, self.code) == (other.stage, other.code))


class CalloutProtocol(LineReceiver, TimeoutMixin):
    delimiter = b"\n"
    MAX_LENGTH = 4096

    def __init__(self, reactor, helo, mailFrom, recipient, timeout,
                 deadline):
        self.reactor = reactor
        self.timeout = timeout
        self.deadline = deadline
        self.commands = [
            (HELO, f"HELO {helo}"),
            (MAIL, f"MAIL FROM:<{mailFrom}>"),
            (RCPT, f"RCPT TO:<{recipient}>"),
        ]
        self.stage = CONNECT
        self.result = defer.Deferred(self._cancel)
        self.connecting = None

    def callLater(self, period, func):
        return self.reactor.callLater(period, func)

    def _wait(self):
        self.setTimeout(max(0, min(self.timeout,
                                   self.deadline - self.reactor.seconds())))

    def connectionMade(self):
        self._wait()

    def lineReceived(self, line):
        if self.result.called:
            return
        line = line.rstrip(b"\r")
        code = line[:3]
        if not (code.isdigit() and line[3:4] in (b"", b" ", b"-")):
            self._fail(f"garbled reply {line[:80]!r}")
            return
        if line[3:4] == b"-":
            self.resetTimeout()
            return
        self._replied(int(code))

    def _replied(self, code):
        if self.stage == RCPT or (self.stage != CONNECT and code // 100 != 2):
            self._finish(Answer(self.stage, code))
            return
        self.stage, command = self.commands.pop(0)
        self.sendLine(command.encode("utf-8", "surrogateescape") + b"\r")
        self._wait()

    def _finish(self, answer):
        self.setTimeout(None)
        self.sendLine(b"QUIT\r")
        self.transport.loseConnection()
        if not self.result.called:
            self.result.callback(answer)

    def _fail(self, reason):
        self.setTimeout(None)
        if self.transport is not None:
            self.transport.abortConnection()
        if not self.result.called:
            self.result.errback(CalloutError(self.stage, reason))

    def timeoutConnection(self):
        self._fail("timed out")

    def lineLengthExceeded(self, line):
        self._fail("reply line too long")

    def connectionLost(self, reason):
        self.setTimeout(None)
        if not self.result.called:
            self.result.errback(
                CalloutError(self.stage, reason.getErrorMessage()))

    def _cancel(self, result):
        if self.connecting is not None and not self.connecting.called:
            self.connecting.cancel()
        if self.transport is not None:
            self.setTimeout(None)
            self.transport.abortConnection()


def callout(reactor, address, port, helo, mailFrom, recipient, timeout,
            deadline):
    """
    Ask the server at C{address} (an IPv4 or IPv6 address) and C{port}
    whether it accepts C{recipient}.

    @return: a cancellable Deferred with the L{Answer}; it fails with
        L{CalloutError}.
    """
    protocol = CalloutProtocol(reactor, helo, mailFrom, recipient, timeout,
                               deadline)
    endpointType = (endpoints.TCP6ClientEndpoint if ":" in address
                    else endpoints.TCP4ClientEndpoint)
    connectTimeout = max(0.001, min(timeout, deadline - reactor.seconds()))
    endpoint = endpointType(reactor, address, port, timeout=connectTimeout)
    protocol.connecting = connectQuietly(endpoint, protocol)

    def notConnected(failure):
        if not protocol.result.called:
            protocol.result.errback(
                CalloutError(CONNECT, failure.getErrorMessage()))

    protocol.connecting.addErrback(notConnected)
    return protocol.result
