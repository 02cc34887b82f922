"""
Talking to a mail service (clamd, spamd, authdaemond, an LDAP server) over
its UNIX or TCP socket, the way every such client in pyfilter must: with a
bound on concurrent connections (and on requests waiting for one), one
timeout covering the wait, the connection and the exchange, and a
connection that is aborted whenever the caller's Deferred is cancelled.

Failures reach the caller as L{ServiceError} (an
L{pyfilter.outage.Unavailable}) with a short reason; the filter base turns
that into the filter's C{on_error} answer.
"""

import socket

from twisted.internet import defer, error
from twisted.internet.abstract import isIPAddress, isIPv6Address
from twisted.internet.endpoints import (
    HostnameEndpoint, TCP4ClientEndpoint, TCP6ClientEndpoint,
    UNIXClientEndpoint)
from twisted.internet.protocol import Factory, Protocol
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.protocols.basic import FileSender

from pyfilter.engine.options import hostAndPort
from pyfilter.outage import Unavailable


class ServiceError(Unavailable):
    """
    A service could not answer: C{str(error)} is the reason, fit for a
    reply text; C{service} is the client's name for it.
    """


def closeAfter(d, file):
    """
    Close C{file} once the Deferred C{d} has fired; return C{d}.
    """
    def close(result):
        file.close()
        return result
    return d.addBoth(close)


def endpointFor(reactor, where, timeout):
    """
    A client endpoint for a service address (an absolute UNIX socket path,
    or C{host:port}: see L{pyfilter.engine.options.address}).  An IP
    address gets a plain TCP endpoint: a C{HostnameEndpoint} resolves even
    an address, in a thread, for every connection (measured for a spamd
    check: 0.4 ms more per message, a third more of the client's CPU).
    """
    if where.startswith("/"):
        return UNIXClientEndpoint(reactor, where, timeout=timeout)
    host, port = hostAndPort(where)
    if isIPAddress(host):
        return TCP4ClientEndpoint(reactor, host, port, timeout=timeout)
    if isIPv6Address(host):
        return TCP6ClientEndpoint(reactor, host, port, timeout=timeout)
    return HostnameEndpoint(reactor, host, port, timeout=timeout)


class _OneProtocol(Factory):
    """
    The factory of one connection's protocol, without the two log lines
    per connection ("Starting factory", "Stopping factory") of
    L{twisted.internet.endpoints.connectProtocol}'s.
    """

    noisy = False

    def __init__(self, protocol):
        self.connecting = protocol

    def buildProtocol(self, addr):
        return self.connecting


def connectQuietly(endpoint, protocol):
    """
    Connect C{protocol} through C{endpoint}, logging nothing.

    @return: a Deferred of C{protocol}, once connected.
    """
    return endpoint.connect(_OneProtocol(protocol))


def connectUNIXNow(reactor, path, protocol):
    """
    Connect C{protocol} to the UNIX socket at C{path} at once: a local
    connection is made or refused within the call, so it needs no reactor
    turn.  An L{Exchange} whose C{direct} is set gets a L{DirectConnection}
    as its transport, others Twisted's.

    @return: C{True} when connected, C{False} when the listener's queue is
        full (try again through an endpoint, which waits).
    @raise error.ConnectError: refused, or no such socket (Twisted's
        exception for the error, as its endpoint gives).
    """
    connecting = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM
                               | socket.SOCK_NONBLOCK | socket.SOCK_CLOEXEC)
    try:
        connecting.connect(path)
    except BlockingIOError:
        connecting.close()
        return False
    except OSError as e:
        connecting.close()
        raise error.getConnectError((e.errno, e.strerror)) from None
    if getattr(protocol, "direct", False):
        DirectConnection(reactor, connecting, protocol)
        return True
    try:
        reactor.adoptStreamConnection(connecting.fileno(), socket.AF_UNIX,
                                      _OneProtocol(protocol))
    finally:
        connecting.close()
    return True


class DirectConnection:
    """
    The transport of an exchange whose request is written in one call (a
    short command, with descriptors passed alongside): the socket itself,
    read by the reactor, closed as soon as the exchange is over.  Measured
    against Twisted's transport for a clamd scan: 11 system calls instead
    of 21 (no descriptor copy and address look-ups, no extra reactor turn
    to close), a fifth fewer of the daemon's instructions per message.

    @ivar socket: the connected, non-blocking socket.
    """

    def __init__(self, reactor, connected, protocol):
        self.reactor = reactor
        self.socket = connected
        self.protocol = protocol
        self.disconnected = False
        reactor.addReader(self)
        protocol.makeConnection(self)

    def fileno(self):
        return -1 if self.disconnected else self.socket.fileno()

    def logPrefix(self):
        return self.protocol.__class__.__name__

    def write(self, data):
        """
        Write C{data} (a short request) at once.
        """
        if self.disconnected:
            return
        try:
            sent = self.socket.send(data)
        except OSError as e:
            sent = e
        if sent != len(data):
            self._close(ServiceError(f"cannot write the request: {sent}"))

    def doRead(self):
        try:
            data = self.socket.recv(65536)
        except BlockingIOError:
            return None
        except OSError as e:
            self._close(e)
            return None
        if not data:
            self._close(None)
            return None
        self.protocol.dataReceived(data)
        return None

    def connectionLost(self, reason):
        self._close(reason.value)

    def loseConnection(self):
        self._close(None)

    abortConnection = loseConnection

    def _close(self, why):
        if self.disconnected:
            return
        self.reactor.removeReader(self)
        self.disconnected = True
        self.socket.close()
        self.protocol.connectionLost(Failure(
            why if why is not None else error.ConnectionDone()))


class ServiceClient:
    """
    Connections to one service.

    @ivar name: the service's name in reasons and logs.
    @ivar where: its address (socket path or C{host:port}).
    """

    log = Logger()

    def __init__(self, reactor, name, where, timeout, maxConnections,
                 maxWaiting=None):
        self.reactor = reactor
        self.name = name
        self.where = where
        self.timeout = timeout
        self.maxWaiting = (maxWaiting if maxWaiting is not None
                           else 8 * maxConnections)
        self.waiting = 0
        self.slots = defer.DeferredSemaphore(maxConnections)
        self.endpoint = endpointFor(reactor, where, timeout)

    def converse(self, protocol, conversation=None):
        """
        Connect C{protocol}, run C{conversation(protocol)} (a Deferred or
        coroutine; by default, wait for an L{Exchange}'s result), then close
        the connection.

        @return: a cancellable Deferred of the conversation's result; it
            fails with L{ServiceError} when the service cannot be reached,
            does not answer within the timeout, or too many requests wait.
        """
        conversation = conversation or (lambda exchange: exchange.result)
        return self.bounded(self._connected, protocol, conversation)

    def bounded(self, work, *args):
        """
        Run the coroutine C{work(*args)} in one of the client's connection
        slots, within its timeout.

        @return: a cancellable Deferred of C{work}'s result; it fails with
            L{ServiceError} when C{work} does not finish within the timeout
            or too many requests wait for a slot.
        """
        d = defer.Deferred.fromCoroutine(self._inSlot(work, args))
        d.addTimeout(self.timeout, self.reactor)
        d.addErrback(self._failed)
        return d

    def _failed(self, failure):
        if failure.check(defer.TimeoutError):
            raise ServiceError(
                f"{self.name} did not answer within {self.timeout:g} seconds",
                self.name)
        if failure.check(ServiceError) and "service" not in vars(
                failure.value):
            failure.value.service = self.name
        return failure

    def _connect(self, protocol):
        """
        Connect C{protocol}: within this turn on a UNIX socket, else (or
        when its queue is full) through the endpoint.
        """
        if self.where.startswith("/") and connectUNIXNow(
                self.reactor, self.where, protocol):
            return defer.succeed(protocol)
        return connectQuietly(self.endpoint, protocol)

    async def connect(self, protocol):
        """
        Connect C{protocol} to the service.

        @raise ServiceError: the service cannot be reached.
        """
        try:
            await self._connect(protocol)
        except error.ConnectingCancelledError:
            raise defer.CancelledError() from None
        except error.ConnectError as e:
            raise ServiceError(
                f"cannot connect to {self.name} at {self.where}: "
                f"{str(e).strip().rstrip('.')}") from e

    async def _inSlot(self, work, args):
        if self.waiting >= self.maxWaiting:
            raise ServiceError(f"too many requests waiting for {self.name}")
        self.waiting += 1
        try:
            await self.slots.acquire()
        finally:
            self.waiting -= 1
        try:
            return await work(*args)
        finally:
            self.slots.release()

    async def _connected(self, protocol, conversation):
        await self.connect(protocol)
        try:
            result = await conversation(protocol)
        except BaseException:
            protocol.transport.abortConnection()
            raise
        if getattr(protocol, "requestSent", True):
            protocol.transport.loseConnection()
        else:
            protocol.transport.abortConnection()
        return result


class Exchange(Protocol):
    """
    One request and one reply on a fresh connection.  Subclasses write the
    request in L{sendRequest} (L{streamFile} sends a file in chunks) and
    recognise the end of the reply in L{parseReply}.

    @cvar maxReply: the longest reply accepted, in bytes.
    @ivar result: fires with the parsed reply or fails with
        L{ServiceError}.
    @ivar requestSent: whether the whole request was written.
    """

    maxReply = 64 * 1024
    service = "the service"
    #: Whether the request is written in one call (L{sendRequest} uses only
    #: the transport's C{socket} and C{write}), so that on a UNIX socket it
    #: can go over a L{DirectConnection}.
    direct = False

    def __init__(self):
        self.result = defer.Deferred()
        self.requestSent = False
        self.buffer = bytearray()

    def connectionMade(self):
        self.sendRequest()

    def sendRequest(self):
        raise NotImplementedError()

    def parseReply(self, data, closed):
        """
        The parsed reply in C{data}, or C{None} while incomplete (C{closed}:
        whether the service closed the connection); raise L{ServiceError}
        for a malformed reply.
        """
        raise NotImplementedError()

    def streamFile(self, file, limit, transform=None):
        """
        Send at most C{limit} bytes of C{file} as a pull producer (only one
        chunk in memory at a time).

        @return: a Deferred that fires when the data is written.
        """
        sent = sendFile(file, limit, self.transport, transform)
        sent.addErrback(self._streamFailed)
        return sent

    def _streamFailed(self, failure):
        self._fail(ServiceError(
            f"{self.service} stopped reading the request: "
            f"{failure.getErrorMessage()}"))

    def dataReceived(self, data):
        if self.result.called:
            return
        self.buffer += data
        if len(self.buffer) > self.maxReply:
            self._fail(ServiceError(f"{self.service} replied too much"))
            return
        self._parse(closed=False)

    def connectionLost(self, reason):
        if not self.result.called:
            self._parse(closed=True)
        if not self.result.called:
            self._fail(ServiceError(
                f"{self.service} closed the connection before replying"))

    def _parse(self, closed):
        try:
            parsed = self.parseReply(bytes(self.buffer), closed)
        except ServiceError as e:
            self._fail(e)
            return
        if parsed is not None:
            self.result.callback(parsed)

    def _fail(self, exception):
        if not self.result.called:
            self.result.errback(exception)


def sendFile(file, limit, transport, transform=None):
    """
    Send at most C{limit} bytes of C{file} to C{transport} as a pull
    producer (only one chunk in memory at a time), each chunk passed
    through C{transform} when given.

    @return: a Deferred that fires when the data is written.
    """
    return _ChunkSender().beginFileTransfer(_Limited(file, limit),
                                            transport, transform)


class _ChunkSender(FileSender):
    """
    L{FileSender} with 64 KiB chunks (clamd's and spamd's reads are
    cheaper in larger pieces).
    """

    CHUNK_SIZE = 64 * 1024


class _Limited:
    """
    A file's C{read} that stops after C{limit} bytes.
    """

    def __init__(self, file, limit):
        self.file = file
        self.left = limit

    def read(self, size):
        data = self.file.read(min(size, self.left))
        self.left -= len(data)
        return data
