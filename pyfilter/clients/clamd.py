"""
A client of ClamAV's daemon, clamd: C{zINSTREAM} (the file streamed in
chunks, so clamd needs no access to it) on a connection of its own,
C{zFILDES} (the open file itself passed over clamd's UNIX socket: no copy,
and no access needed either) and C{zSCAN} (clamd opens the path itself)
in clamd sessions (C{zIDSESSION}) kept open between scans, with
NUL-terminated replies.

A session carries one scan at a time, and there are at most as many as the
client's connections.  One that has been idle for L{SESSION_IDLE} seconds,
that clamd closed (its C{ReadTimeout} ends idle sessions) or that answered
an error is not used again; a scan whose reused session fails before
answering is tried once more on a new one, within the same timeout.
(Measured against clamd 1.4 at 100 KB: a session spares clamd its accept
and a thread hand-over, and pyfilter a connection's set-up, about 40 %
of pyfilter's CPU per scan.  clamd queues session scans apart from
single ones and, when both wait, takes four single ones for one of a
session: on a clamd shared with other clients, pyfilter's scans yield.)

A scan answers C{None} (clean) or the signature found; a scanner error
(clamd's C{... ERROR} replies, an unexpected reply, a connection problem or
a timeout) fails with L{pyfilter.clients.base.ServiceError}.
"""

import socket
import struct

from twisted.internet import defer
from twisted.internet.protocol import Protocol

from pyfilter.clients.base import (
    Exchange, ServiceClient, ServiceError, closeAfter)

#: clamd's default StreamMaxLength.
DEFAULT_STREAM_LIMIT = 25 * 1024 * 1024

#: Seconds a clamd session may stay idle before it is closed rather than
#: used again (clamd's own ReadTimeout, 120 by default, ends it later).
SESSION_IDLE = 10.0

#: The configuration files the reference's pyclamd reads for LocalSocket.
CLAMD_CONFS = ("/etc/clamav/clamd.conf", "/etc/clamd.conf")


def localSocketFromConf(paths=CLAMD_CONFS):
    """
    The C{LocalSocket} of the first clamd configuration file in C{paths}
    that has one, or C{None}.
    """
    for path in paths:
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                for line in f:
                    words = line.split(None, 1)
                    if len(words) == 2 and words[0] == "LocalSocket":
                        return words[1].strip()
        except OSError:
            continue
    return None


def parseResult(text, prefix=None):
    """
    The signature in clamd's reply C{text} for the object C{prefix} names
    (C{"stream"} or the scanned path; C{None}: whatever clamd names, such as
    C{fd[12]} for a passed descriptor), or C{None} when clean.
    """
    text = text.strip()
    if prefix is None:
        _, named, rest = text.partition(": ")
        body = rest if named else None
    else:
        lead = prefix + ": "
        body = text[len(lead):] if text.startswith(lead) else None
    if text.endswith(" ERROR"):
        reason = (body if body is not None else text)[:-len(" ERROR")]
        raise ServiceError(reason.strip() or "unknown error")
    if body == "OK":
        return None
    if body is not None and body.endswith(" FOUND"):
        return body[:-len(" FOUND")]
    raise ServiceError(f"unexpected reply from clamd: {text[:200]!r}")


class _StreamScan(Exchange):
    service = "clamd"

    def __init__(self, file, limit):
        Exchange.__init__(self)
        self.file = file
        self.limit = limit

    def parseReply(self, data, closed):
        end = data.find(b"\0")
        if end < 0:
            if not (closed and data):
                return None
            end = len(data)
        return (parseResult(data[:end].decode("utf-8", "replace"),
                            "stream"),)

    def sendRequest(self):
        self.transport.write(b"zINSTREAM\0")
        sent = self.streamFile(self.file, self.limit, _chunk)
        sent.addCallback(self._sent)

    def _sent(self, ignored):
        self.transport.write(b"\0\0\0\0")
        self.requestSent = True


def _chunk(data):
    return struct.pack("!L", len(data)) + data


#: What opens a session: the session itself, and a first request whose
#: answer (C{1: PONG}) shows that clamd took it.
_OPEN = b"zIDSESSION\0zPING\0"

#: A descriptor goes with the command and one byte more, in one message
#: (clamd refuses a descriptor sent with the command's first byte; sent
#: apart from the command, as clamdscan does, clamd closed about one
#: connection in 600 without an answer at 32 concurrent scans; together,
#: none in 8,320).  Inside a session clamd ignores the extra byte.
_FILDES = b"zFILDES\0\0"


class _SessionLost(ServiceError):
    """
    A session ended, or answered out of turn, before its request's answer.
    """


class _Session(Protocol):
    """
    One clamd session: requests sent one at a time, each answer
    (C{<number>: <reply>}) matched to its request by number.

    @ivar usable: whether the session may carry another request.
    @ivar idleSince: when the last answer came, for L{SESSION_IDLE}.
    """

    #: Requests are short and written in one call: on a UNIX socket the
    #: session runs over a L{pyfilter.clients.base.DirectConnection}.
    direct = True
    maxReply = 64 * 1024

    def __init__(self, client):
        self.client = client
        self.usable = True
        self.sent = 0
        self.pending = None
        self.buffer = b""
        self.idleSince = None

    def request(self, command, descriptor=None):
        """
        Send C{command} (with the open file C{descriptor}, if given).

        @return: a Deferred of clamd's answer, its number taken off; it
            fails with L{_SessionLost} when the session ends first.
        """
        pending = self.pending = defer.Deferred()
        self.sent += 1
        if descriptor is None:
            self.transport.write(command)
            return pending
        try:
            sent = self.transport.socket.sendmsg(
                [command], [(socket.SOL_SOCKET, socket.SCM_RIGHTS,
                             struct.pack("i", descriptor.fileno()))])
        except OSError as e:
            sent = e
        if sent != len(command):
            self.abort(_SessionLost(
                f"cannot pass the file to clamd: {sent}"))
        return pending

    def dataReceived(self, data):
        self.buffer += data
        while self.usable:
            end = self.buffer.find(b"\0")
            if end < 0:
                break
            answer, self.buffer = self.buffer[:end], self.buffer[end + 1:]
            self._answered(answer)
        if len(self.buffer) > self.maxReply:
            self.abort(ServiceError("clamd replied too much"))

    def _answered(self, answer):
        text = answer.decode("utf-8", "replace")
        number, _, reply = text.partition(": ")
        if self.pending is None or number != str(self.sent):
            self.abort(_SessionLost(
                f"unexpected reply from clamd: {text[:200]!r}"))
            return
        pending, self.pending = self.pending, None
        self.idleSince = self.client.reactor.seconds()
        pending.callback(reply)

    def connectionLost(self, reason):
        self.usable = False
        self.client.forget(self)
        if self.pending is not None and self.buffer:
            # An answer cut by the end of the connection is taken as it is.
            self._answered(self.buffer)
        self.abort(_SessionLost("clamd closed the connection before "
                                "replying"))

    def abort(self, error):
        """
        Abort the session; its pending request fails with C{error}.
        """
        pending, self.pending = self.pending, None
        if self.usable:
            self.usable = False
            self.client.forget(self)
            self.transport.abortConnection()
        if pending is not None and not pending.called:
            pending.errback(error)

    def close(self):
        """
        End the session (C{zEND}) and close its connection.
        """
        if self.usable:
            self.usable = False
            self.transport.write(b"zEND\0")
            self.transport.loseConnection()


class ClamdClient(ServiceClient):
    """
    clamd at a UNIX socket path or C{host:port}.

    @ivar idle: the open sessions waiting for a scan, the last used last.
    @ivar closed: whether L{close} was called (sessions are no longer
        kept).
    """

    def __init__(self, reactor, where, timeout=30.0, maxConnections=8):
        ServiceClient.__init__(self, reactor, "clamd", where, timeout,
                               maxConnections)
        self.idle = []
        self.closed = False

    def scanStream(self, path, limit=DEFAULT_STREAM_LIMIT):
        """
        Stream the first C{limit} bytes of the file at C{path} to clamd.

        @return: a Deferred of the signature found, or C{None}.
        """
        file = open(path, "rb")
        d = closeAfter(self.converse(_StreamScan(file, limit)), file)
        return d.addCallback(lambda result: result[0])

    def scanDescriptor(self, path):
        """
        Pass the open file at C{path} to clamd (UNIX sockets only).

        @return: a Deferred of the signature found, or C{None}.
        """
        file = open(path, "rb", buffering=0)  # only its descriptor is used
        return closeAfter(self.bounded(self._scan, _FILDES, file, None),
                          file)

    def scanPath(self, path):
        """
        Have clamd open and scan C{path} itself.

        @return: a Deferred of the signature found, or C{None}.
        """
        command = (b"zSCAN " + path.encode("utf-8", "surrogateescape")
                   + b"\0")
        return self.bounded(self._scan, command, None, path)

    async def _scan(self, command, descriptor, prefix):
        """
        Send C{command} in a session: an idle one, or a new one when there
        is none or the idle one fails before answering.

        @return: the signature found, or C{None}.
        """
        session = self._idleSession()
        if session is not None:
            try:
                reply = await self._ask(session, command, descriptor)
            except _SessionLost:
                session = None
        if session is None:
            session = await self._newSession()
            reply = await self._ask(session, command, descriptor)
        if (session.usable and not self.closed
                and not reply.endswith(" ERROR")):
            self.idle.append(session)
        else:
            session.close()
        return parseResult(reply, prefix)

    def _idleSession(self):
        now = self.reactor.seconds()
        while self.idle:
            session = self.idle.pop()
            if now - session.idleSince < SESSION_IDLE:
                return session
            session.close()
        return None

    async def _newSession(self):
        session = _Session(self)
        await self.connect(session)
        reply = await self._ask(session, _OPEN, None)
        if reply != "PONG":
            session.close()
            raise ServiceError(
                f"clamd did not open a session: {reply[:200]!r}")
        return session

    async def _ask(self, session, command, descriptor):
        """
        clamd's answer to C{command} in C{session}; the session is aborted
        when the wait fails or is cancelled.
        """
        try:
            return await session.request(command, descriptor)
        except BaseException as e:
            session.abort(e)
            raise

    def forget(self, session):
        """
        Take C{session} out of the idle ones (its connection ended).
        """
        if session in self.idle:
            self.idle.remove(session)

    def close(self):
        """
        End every idle session, and each busy one when its scan is over.
        """
        self.closed = True
        idle, self.idle = self.idle, []
        for session in idle:
            session.close()
