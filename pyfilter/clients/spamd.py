"""
A client of SpamAssassin's daemon, spamd, speaking its SPAMC/1.5 protocol
directly: a C{HEADERS} request with the message streamed from its file, and
a reply giving the verdict (C{Spam: True ; 7.2 / 5.0}) and the message's
headers as SpamAssassin rewrote them (with C{X-Spam-Status} and friends).
"""

import os
import re

from pyfilter.courier import headerblock
from pyfilter.clients.base import (
    Exchange, ServiceClient, ServiceError, closeAfter)

_STATUS = re.compile(rb"^SPAMD/\d+\.\d+ (\d+) ?(.*)$")
_SPAM = re.compile(r"^(True|False|Yes|No) ; (-?[\d.]+) / (-?[\d.]+)$")


class SpamResult:
    """
    spamd's verdict.

    @ivar isSpam: whether spamd judged the message spam.
    @ivar score: its score; C{threshold}: the score needed for spam.
    @ivar headers: the rewritten headers (an C{email.message.Message}, read
        as the message's own are: L{pyfilter.courier.headerblock}).
    """

    def __init__(self, isSpam, score, threshold, headers):
        self.isSpam = isSpam
        self.score = score
        self.threshold = threshold
        self.headers = headers

    def spamHeaders(self):
        """
        The C{X-Spam-*} fields of the rewritten headers, in spamd's order,
        as C{(name, value)} with the value's original bytes, folded as
        spamd folded it (the rewrite writes the message's own line ends).
        """
        return [(name, value.encode("ascii", "surrogateescape").rstrip(
                    b"\r\n"))
                for name, value in self.headers.raw_items()
                if name.lower().startswith("x-spam-")]


def parseResponse(data, closed):
    """
    The L{SpamResult} in spamd's complete response C{data}, or C{None}
    while incomplete.
    """
    head, separator, body = data.partition(b"\r\n\r\n")
    if not separator:
        if closed:
            raise ServiceError("spamd closed the connection mid-reply")
        return None
    lines = head.split(b"\r\n")
    status = _STATUS.match(lines[0])
    if status is None:
        raise ServiceError(f"unexpected reply from spamd: {lines[0][:200]!r}")
    if status.group(1) != b"0":
        raise ServiceError("spamd: " + status.group(2).decode("ascii",
                                                              "replace"))
    fields = {}
    for line in lines[1:]:
        name, _, value = line.decode("latin-1").partition(":")
        fields[name.strip().lower()] = value.strip()
    spam = _SPAM.match(fields.get("spam", ""))
    if spam is None:
        raise ServiceError("spamd's reply has no verdict")
    try:
        length = int(fields.get("content-length", "0"))
    except ValueError:
        raise ServiceError("spamd's reply has a bad Content-length") from None
    if len(body) < length:
        if closed:
            raise ServiceError("spamd closed the connection mid-reply")
        return None
    return SpamResult(spam.group(1) in ("True", "Yes"),
                      float(spam.group(2)), float(spam.group(3)),
                      headerblock.parse(body[:length]))


class _Headers(Exchange):
    service = "spamd"
    maxReply = 4 * 1024 * 1024

    def __init__(self, file, user):
        Exchange.__init__(self)
        self.file = file
        self.user = user

    def sendRequest(self):
        size = os.fstat(self.file.fileno()).st_size
        request = f"HEADERS SPAMC/1.5\r\nContent-length: {size}\r\n"
        if self.user:
            request += f"User: {self.user}\r\n"
        self.transport.write((request + "\r\n").encode("utf-8"))
        self.streamFile(self.file, size).addCallback(self._sent)

    def _sent(self, ignored):
        self.requestSent = True

    def parseReply(self, data, closed):
        return parseResponse(data, closed)


class SpamdClient(ServiceClient):
    """
    spamd at C{host:port} or a UNIX socket path.
    """

    def __init__(self, reactor, where, timeout=45.0, maxConnections=8):
        ServiceClient.__init__(self, reactor, "spamd", where, timeout,
                               maxConnections)

    def check(self, path, user=None):
        """
        Have spamd check the message in the file at C{path}, for C{user}
        (spamd's default user when C{None}).

        @return: a Deferred of a L{SpamResult}.
        """
        file = open(path, "rb")
        return closeAfter(self.converse(_Headers(file, user)), file)
