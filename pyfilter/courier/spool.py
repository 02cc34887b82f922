"""
Courier's spool, where every file a request names must lie.

A request's paths are checked twice: lexically when the request arrives
(L{Spool.resolve}: no C{..} or absolute path leads out; relative paths are
taken from Courier's C{tmp} directory), and with symbolic links resolved
when a filter first uses a file (L{Spool.confine}), so that a chain that
reads no file costs no system call.
"""

import os
import sys

from pyfilter.courier.control import ControlFileError

_FS_ENCODING = sys.getfilesystemencoding()

#: Directories whose real path L{Spool.confine} remembers.
_REAL_DIRECTORIES = 256


class OutsideSpool(ValueError):
    """
    A request line that is not a path inside the spool.
    """


class Spool:
    """
    @ivar root: the spool directory (Courier's localstatedir).
    @ivar tmp: where relative request paths are taken from.
    """

    def __init__(self, root, tmp):
        self.root = os.path.normpath(os.path.abspath(root))
        self.tmp = tmp
        self.prefix = os.path.join(self.root, "")
        self.realPrefix = os.path.join(os.path.realpath(root), "")
        self._realDirectories = {}

    def resolve(self, raw):
        """
        The absolute path of a request line (bytes): relative paths are
        taken from Courier's tmp directory; the normalised path must lie
        inside the spool.

        @raise OutsideSpool: it does not, or it is not a path.
        """
        text = raw.decode(_FS_ENCODING, "surrogateescape").strip()
        if not text or "\0" in text:
            raise OutsideSpool(f"invalid path {raw!r}")
        if text.startswith(self.prefix) and "/." not in text \
                and "//" not in text:
            return text
        path = os.path.normpath(os.path.join(self.tmp, text))
        if not path.startswith(self.prefix):
            raise OutsideSpool(f"path {text!r} is outside {self.root}")
        return path

    def confine(self, path):
        """
        The real path (symbolic links resolved) of C{path}, which must lie
        inside the spool.

        The real paths of directories are remembered (at most
        L{_REAL_DIRECTORIES}): Courier's spool directories are its own, only
        its user could turn one into a link, and resolving every component
        of every path took a sixth of the daemon's time per message.

        @raise ControlFileError: it does not (the chain answers the
            reference's 451 for unusable control files).
        """
        directory, _, name = path.rpartition("/")
        realDirectory = self._realDirectories.get(directory)
        if realDirectory is None:
            if len(self._realDirectories) >= _REAL_DIRECTORIES:
                self._realDirectories.clear()
            realDirectory = self._realDirectories[directory] = \
                os.path.join(os.path.realpath(directory or "/"), "")
        real = realDirectory + name
        if os.path.islink(real):
            real = os.path.realpath(real)
        if not real.startswith(self.realPrefix):
            raise ControlFileError(f"{path!r} leads outside the spool, to "
                                   f"{real!r}")
        return real
