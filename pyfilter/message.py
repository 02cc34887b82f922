"""
The message being filtered, built once per request and shared by every
filter of the chain.

Control files are read when the L{Message} is built (they are small, and a
message whose control files cannot be read cannot be filtered).  The data
file is touched only when a filter asks: the header block is parsed on first
use of L{Message.headers}, the MIME structure found on first use of
L{Message.structure}, both once.
"""

import os

from pyfilter import mime
from pyfilter.control import ControlFiles


class Message:
    """
    @ivar dataPath: absolute path of the data file.
    @ivar controlPaths: absolute paths of the control files, in request order.
    @ivar control: the parsed L{ControlFiles}.
    """

    def __init__(self, dataPath, controlPaths, control=None):
        self.dataPath = dataPath
        self.controlPaths = list(controlPaths)
        self.control = control or ControlFiles.read(self.controlPaths)
        self._headers = None
        self._structure = None
        self._remoteIP = self.control.remoteIP

    @property
    def sender(self):
        """
        The envelope sender (C{""} for the null sender), C{None} when there
        is no C{s} record.
        """
        return self.control.first("s")

    @property
    def recipients(self):
        """
        The undelivered L{Recipient}s, in control file order.
        """
        return self.control.recipients

    @property
    def authUser(self):
        """
        The SMTP AUTH name, or C{None} for unauthenticated mail.
        """
        return self.control.first("i")

    @property
    def messageId(self):
        """
        Courier's queue id (the C{M} record), or C{""}.
        """
        return self.control.first("M") or ""

    @property
    def receivedFrom(self):
        """
        The C{f} record, such as C{dns; mx.example (rdns [192.0.2.1])}.
        """
        return self.control.first("f")

    @property
    def helo(self):
        """
        The HELO name: the second word of the C{f} record, or C{None}.
        """
        words = (self.receivedFrom or "").split()
        return words[1] if len(words) > 1 else None

    @property
    def remoteIP(self):
        """
        The client's L{ipaddress} address, C{None} for local submissions.

        @raise pyfilter.control.ControlFileError: the recorded address is
            malformed.
        """
        if callable(self._remoteIP):
            self._remoteIP = self._remoteIP()
        return self._remoteIP

    @property
    def size(self):
        return os.stat(self.dataPath).st_size

    @property
    def headers(self):
        """
        The message's own headers, an L{email.message.Message} without body
        (compat32 policy), parsed once.
        """
        if self._headers is None:
            if self._structure is not None:
                self._headers = self._structure.parts[0].headers
            else:
                self._headers = mime.readHeaders(self.dataPath)
        return self._headers

    def header(self, name):
        """
        Every value of the header C{name}, in order (an empty list if absent).
        """
        return self.headers.get_all(name) or []

    @property
    def structure(self):
        """
        The message's MIME L{mime.Structure}, found once.
        """
        if self._structure is None:
            self._structure = mime.scanStructure(self.dataPath)
        return self._structure
