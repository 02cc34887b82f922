"""
A client of ClamAV's daemon, clamd: C{zINSTREAM} (the file streamed in
chunks, so clamd needs no access to it), C{zFILDES} (the open file itself
passed over clamd's UNIX socket: no copy, and no access needed either) and
C{zSCAN} (clamd opens the path itself), each on its own connection, with
NUL-terminated replies.

A scan answers C{None} (clean) or the signature found; a scanner error
(clamd's C{... ERROR} replies, an unexpected reply, a connection problem or
a timeout) fails with L{pyfilter.clients.base.ServiceError}.
"""

import socket
import struct

from pyfilter.clients.base import (
    Exchange, ServiceClient, ServiceError, closeAfter)

#: clamd's default StreamMaxLength.
DEFAULT_STREAM_LIMIT = 25 * 1024 * 1024

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


class _Scan(Exchange):
    service = "clamd"

    def __init__(self, prefix):
        Exchange.__init__(self)
        self.prefix = prefix

    def parseReply(self, data, closed):
        end = data.find(b"\0")
        if end < 0:
            if not (closed and data):
                return None
            end = len(data)
        return (parseResult(data[:end].decode("utf-8", "replace"),
                            self.prefix),)


class _StreamScan(_Scan):
    def __init__(self, file, limit):
        _Scan.__init__(self, "stream")
        self.file = file
        self.limit = limit

    def sendRequest(self):
        self.transport.write(b"zINSTREAM\0")
        sent = self.streamFile(self.file, self.limit, _chunk)
        sent.addCallback(self._sent)

    def _sent(self, ignored):
        self.transport.write(b"\0\0\0\0")
        self.requestSent = True


_FILDES = b"zFILDES\0\0"


class _DescriptorScan(_Scan):
    direct = True

    def __init__(self, file):
        _Scan.__init__(self, None)
        self.file = file

    def sendRequest(self):
        # The command, the extra byte clamd wants with a descriptor, and the
        # descriptor go in one message, written directly: Twisted's
        # transport would send the descriptor with the command's first
        # byte, which clamd refuses.  (Sent apart, as clamdscan does, clamd
        # closed about one connection in 600 without an answer at 32
        # concurrent scans; together, none in 8,320.)  Nine bytes on a new
        # connection go in one call.
        try:
            sent = self.transport.socket.sendmsg(
                [_FILDES], [(socket.SOL_SOCKET, socket.SCM_RIGHTS,
                             struct.pack("i", self.file.fileno()))])
        except OSError as e:
            sent = e
        if sent != len(_FILDES):
            self._fail(ServiceError(f"cannot pass the file to clamd: {sent}"))
            self.transport.abortConnection()
            return
        self.requestSent = True


def _chunk(data):
    return struct.pack("!L", len(data)) + data


class _PathScan(_Scan):
    direct = True

    def __init__(self, path):
        _Scan.__init__(self, path)
        self.path = path

    def sendRequest(self):
        self.transport.write(b"zSCAN " + self.path.encode("utf-8",
                                                          "surrogateescape")
                             + b"\0")
        self.requestSent = True


class ClamdClient(ServiceClient):
    """
    clamd at a UNIX socket path or C{host:port}.
    """

    def __init__(self, reactor, where, timeout=30.0, maxConnections=8):
        ServiceClient.__init__(self, reactor, "clamd", where, timeout,
                               maxConnections)

    def scanStream(self, path, limit=DEFAULT_STREAM_LIMIT):
        """
        Stream the first C{limit} bytes of the file at C{path} to clamd.

        @return: a Deferred of the signature found, or C{None}.
        """
        file = open(path, "rb")
        return self._scan(_StreamScan(file, limit), file)

    def scanDescriptor(self, path):
        """
        Pass the open file at C{path} to clamd (UNIX sockets only).

        @return: a Deferred of the signature found, or C{None}.
        """
        file = open(path, "rb", buffering=0)  # only its descriptor is used
        return self._scan(_DescriptorScan(file), file)

    def scanPath(self, path):
        """
        Have clamd open and scan C{path} itself.

        @return: a Deferred of the signature found, or C{None}.
        """
        return self._scan(_PathScan(path))

    def _scan(self, exchange, file=None):
        """
        Converse with clamd and close C{file} (when given) afterwards.

        @return: a Deferred of the signature found, or C{None}.
        """
        d = self.converse(exchange)
        if file is not None:
            d = closeAfter(d, file)
        return d.addCallback(lambda result: result[0])

