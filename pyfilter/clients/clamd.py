"""
A client of ClamAV's daemon, clamd: C{zINSTREAM} (the file streamed in
chunks, so clamd needs no access to it), C{zFILDES} (the open file itself
passed over clamd's UNIX socket: no copy, and no access needed either) and
C{zSCAN} (clamd opens the path itself), in clamd sessions (C{zIDSESSION})
kept open between scans, with NUL-terminated replies.

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
    ServiceClient, ServiceError, closeAfter, sendFile)

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
    @ivar streaming: while a file is being streamed, the Deferred that
        fires when it has been written.
    @ivar ended: fires when the connection has ended.
    """

    maxReply = 64 * 1024

    def __init__(self, client, direct):
        """
        @param direct: whether requests are short and written in one call
            (no stream), so that on a UNIX socket the session can run over
            a L{pyfilter.clients.base.DirectConnection}.
        """
        self.client = client
        self.direct = direct
        self.streaming = None
        self.usable = True
        self.sent = 0
        self.pending = None
        self.buffer = b""
        self.idleSince = None
        self.ended = defer.Deferred()

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

    def stream(self, file, limit):
        """
        Stream the first C{limit} bytes of C{file} (from its start).

        @return: a Deferred of clamd's answer, as L{request}'s.
        """
        file.seek(0)
        pending = self.request(b"zINSTREAM\0")
        self.streaming = sendFile(file, limit, self.transport, _chunk)
        self.streaming.addCallbacks(self._streamed, self._streamFailed)
        return pending

    def _streamed(self, ignored):
        self.streaming = None
        if self.usable:
            self.transport.write(b"\0\0\0\0")

    def _streamFailed(self, failure):
        self.streaming = None
        self.abort(_SessionLost("clamd stopped reading the request: "
                                f"{failure.getErrorMessage()}"))

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
        self.ended.callback(None)
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
        End the session (C{zEND}) and close its connection; abort it while
        a stream is still being sent.
        """
        if self.streaming is not None:
            self.abort(ServiceError("clamd session closed"))
        elif self.usable:
            self.usable = False
            self.transport.write(b"zEND\0")
            self.transport.loseConnection()


class ClamdClient(ServiceClient):
    """
    clamd at a UNIX socket path or C{host:port}.

    @ivar idle: the open sessions waiting for a scan, the last used last,
        by whether they are direct (see L{_Session}).
    @ivar closed: whether L{close} was called (sessions are no longer
        kept).
    """

    def __init__(self, reactor, where, timeout=30.0, maxConnections=8):
        ServiceClient.__init__(self, reactor, "clamd", where, timeout,
                               maxConnections)
        self.idle = {True: [], False: []}
        self.closed = False

    def scanStream(self, path, limit=DEFAULT_STREAM_LIMIT):
        """
        Stream the first C{limit} bytes of the file at C{path} to clamd.

        @return: a Deferred of the signature found, or C{None}.
        """
        file = open(path, "rb")
        scanning = self.bounded(self._scan, False, "stream",
                                lambda session: session.stream(file, limit))
        return closeAfter(scanning, file)

    def scanDescriptor(self, path):
        """
        Pass the open file at C{path} to clamd (UNIX sockets only).

        @return: a Deferred of the signature found, or C{None}.
        """
        file = open(path, "rb", buffering=0)  # only its descriptor is used
        scanning = self.bounded(
            self._scan, True, None,
            lambda session: session.request(_FILDES, file))
        return closeAfter(scanning, file)

    def scanPath(self, path):
        """
        Have clamd open and scan C{path} itself.

        @return: a Deferred of the signature found, or C{None}.
        """
        command = (b"zSCAN " + path.encode("utf-8", "surrogateescape")
                   + b"\0")
        return self.bounded(self._scan, True, path,
                            lambda session: session.request(command))

    async def _scan(self, direct, prefix, ask):
        """
        Ask clamd (C{ask(session)}: a Deferred of its answer) in a session:
        an idle one, or a new one when there is none or the idle one fails
        before answering.

        @param direct: whether the session may be direct.
        @param prefix: the name clamd gives the object scanned (see
            L{parseResult}).
        @return: the signature found, or C{None}.
        """
        session = self._idleSession(direct)
        if session is not None:
            try:
                reply = await self._ask(session, ask)
            except _SessionLost:
                session = None
        if session is None:
            session = await self._newSession(direct)
            reply = await self._ask(session, ask)
        if (session.usable and not self.closed
                and not reply.endswith(" ERROR")):
            self.idle[direct].append(session)
        else:
            session.close()
        return parseResult(reply, prefix)

    def _idleSession(self, direct):
        now = self.reactor.seconds()
        idle = self.idle[direct]
        while idle:
            session = idle.pop()
            if now - session.idleSince < SESSION_IDLE:
                return session
            session.close()
        return None

    async def _newSession(self, direct):
        session = _Session(self, direct)
        await self.connect(session)
        reply = await self._ask(
            session, lambda session: session.request(_OPEN))
        if reply != "PONG":
            session.close()
            raise ServiceError(
                f"clamd did not open a session: {reply[:200]!r}")
        return session

    async def _ask(self, session, ask):
        """
        clamd's answer to C{ask(session)}; the session is aborted when the
        wait fails or is cancelled.
        """
        try:
            return await ask(session)
        except BaseException as e:
            session.abort(e)
            raise

    def forget(self, session):
        """
        Take C{session} out of the idle ones (its connection ended).
        """
        idle = self.idle[session.direct]
        if session in idle:
            idle.remove(session)

    def close(self):
        """
        End every idle session, and each busy one when its scan is over.

        @return: a Deferred that fires when the idle sessions have ended.
        """
        self.closed = True
        ending = []
        for idle in self.idle.values():
            while idle:
                session = idle.pop()
                session.close()
                ending.append(session.ended)
        return defer.gatherResults(ending)
