"""
Turning one framed request into a reply: resolve the paths, build the
L{Message}, run the chain; beyond a bound of messages in flight, answer
"busy" at once.

Paths are confined to Courier's spool twice: lexically here (no C{..} or
absolute path leads out), and with symbolic links resolved when a filter
first uses them (L{RequestHandler.confine}), so that a chain that reads no
file costs no system call.
"""

import os
import sys

from twisted.internet import defer
from twisted.logger import Logger

from pyfilter.courier.control import ControlFileError
from pyfilter.engine.message import Message
from pyfilter.engine.reply import Reply

_FS_ENCODING = sys.getfilesystemencoding()

BUSY = Reply("451", "4.3.2 Mail filter busy, try again later")
BAD_REQUEST = Reply("451", "4.3.0 Malformed mail filter request")
REFUSED_PATH = Reply("451", "4.3.0 Mail filter request refused")

#: Directories whose real path L{RequestHandler.confine} remembers.
_REAL_DIRECTORIES = 256


class RequestError(Exception):
    """
    The request cannot be served (a path outside the spool, no control
    file, an undecodable path).
    """


class RequestHandler:
    """
    @ivar chain: the chain, or C{None} until it is ready.
    @ivar inFlight: the Deferreds of messages being filtered.
    """

    log = Logger()

    def __init__(self, spoolTmp, spoolRoot, maxInFlight=512):
        self.spoolTmp = spoolTmp
        self.spoolRoot = os.path.normpath(os.path.abspath(spoolRoot))
        self.spoolPrefix = os.path.join(self.spoolRoot, "")
        self.spoolRealPrefix = os.path.join(os.path.realpath(spoolRoot), "")
        self.maxInFlight = maxInFlight
        self._realDirectories = {}
        self.chain = None
        self.inFlight = set()
        self._waiting = []

    def setChain(self, chain):
        self.chain = chain
        waiting, self._waiting = self._waiting, []
        for d, message in waiting:
            self.chain.decide(message).chainDeferred(d)

    def resolve(self, raw):
        """
        The absolute path of a request line: relative paths are taken from
        Courier's tmp directory; the normalised path must lie inside
        Courier's spool.
        """
        text = raw.decode(_FS_ENCODING, "surrogateescape").strip()
        if not text or "\0" in text:
            raise RequestError(f"invalid path {raw!r}")
        if text.startswith(self.spoolPrefix) and "/." not in text \
                and "//" not in text:
            return text
        path = os.path.normpath(os.path.join(self.spoolTmp, text))
        if not path.startswith(self.spoolPrefix):
            raise RequestError(f"path {text!r} is outside {self.spoolRoot}")
        return path

    def confine(self, path):
        """
        The real path (symbolic links resolved) of C{path}, which must lie
        inside Courier's spool.

        The real paths of directories are remembered (at most
        L{_REAL_DIRECTORIES}): Courier's spool directories are its own, only
        its user could turn one into a link, and resolving every component
        of every path took a sixth of the daemon's time per message.

        @raise ControlFileError: it does not.
        """
        directory, name = os.path.split(path)
        real = self._realDirectories.get(directory)
        if real is None:
            if len(self._realDirectories) >= _REAL_DIRECTORIES:
                self._realDirectories.clear()
            real = self._realDirectories[directory] = os.path.realpath(
                directory)
        real = os.path.join(real, name)
        if os.path.islink(real):
            real = os.path.realpath(real)
        if not real.startswith(self.spoolRealPrefix):
            raise ControlFileError(f"{path!r} leads outside the spool, to "
                                   f"{real!r}")
        return real

    def handle(self, rawPaths):
        """
        Decide about the message named by C{rawPaths} (data path, then
        control paths).

        @return: a Deferred that fires with the L{Reply}; it never fails.
        """
        if len(self.inFlight) >= self.maxInFlight:
            self.log.warn("{count} messages in flight: answering busy",
                          count=len(self.inFlight))
            return defer.succeed(BUSY)
        try:
            if len(rawPaths) < 2:
                raise RequestError("request names no control file")
            paths = [self.resolve(raw) for raw in rawPaths]
        except RequestError as e:
            self.log.warn("refused request: {error}", error=e)
            return defer.succeed(REFUSED_PATH)
        message = Message(paths[0], paths[1:], checkPath=self.confine)
        if self.chain is None:
            d = defer.Deferred()
            self._waiting.append((d, message))
        else:
            d = self.chain.decide(message)
        if d.called:
            return d
        self.inFlight.add(d)
        d.addBoth(self._finished, d)
        return d

    def _finished(self, result, d):
        self.inFlight.discard(d)
        return result
