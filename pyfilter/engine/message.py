"""
The message being filtered, built once per request and shared by every
filter of the chain.

Nothing is read until a filter asks: the paths Courier sent are confined to
its spool on first use of L{Message.dataPath} or L{Message.controlPaths}
(symbolic links resolved), the control files are parsed on first use of
L{Message.control}, the header block on first use of L{Message.headers}, the
MIME structure on first use of L{Message.structure}, each once.  A chain
whose filters need no file (or an empty chain) costs no file access at all.

Anything wrong with the files Courier named (outside the spool, missing,
unreadable, a malformed record value) raises L{ControlFileError}, which the
chain answers with the reference's 451.
"""

import os

from pyfilter.courier import mime
from pyfilter.courier.control import ControlFileError, ControlFiles


class Message:
    """
    @param checkPath: called with each path before it is used; returns the
        path to use (the real path) or raises L{ControlFileError}.
    """

    def __init__(self, dataPath, controlPaths, control=None, checkPath=None):
        self._dataPath = dataPath
        self._controlPaths = list(controlPaths)
        self._checkPath = checkPath
        self._dataChecked = self._controlChecked = checkPath is None
        self._control = control
        self._headers = None
        self._structure = None
        self._remoteIP = None
        self._remoteIPRead = False

    @property
    def dataPath(self):
        """
        The data file's path, checked to lie in Courier's spool.
        """
        if not self._dataChecked:
            self._dataPath = self._checkPath(self._dataPath)
            self._dataChecked = True
        return self._dataPath

    @property
    def controlPaths(self):
        """
        The control files' paths in request order, checked.
        """
        if not self._controlChecked:
            self._controlPaths = [self._checkPath(path)
                                  for path in self._controlPaths]
            self._controlChecked = True
        return self._controlPaths

    @property
    def control(self):
        """
        The parsed L{ControlFiles}.
        """
        if self._control is None:
            self._control = ControlFiles.read(self.controlPaths)
        return self._control

    def reloadControl(self):
        """
        Read the control files again, after a filter edited them, so that
        later filters see the new recipients.
        """
        self._control = ControlFiles.read(self.controlPaths)
        self._remoteIPRead = False

    def dataChanged(self):
        """
        Forget the parsed headers and MIME structure, after a filter
        rewrote the data file, so that later filters see the new message.
        """
        self._headers = None
        self._structure = None

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
        Courier's queue id (the C{M} record); C{""} when there is none or
        the control files cannot be read (it is used in log lines).
        """
        try:
            return self.control.first("M") or ""
        except ControlFileError:
            return ""

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

        @raise ControlFileError: the recorded address is malformed.
        """
        if not self._remoteIPRead:
            self._remoteIP = self.control.remoteIP()
            self._remoteIPRead = True
        return self._remoteIP

    @property
    def size(self):
        return os.stat(self.dataPath).st_size

    @property
    def headers(self):
        """
        The message's own headers, an L{email.message.Message} without body
        (compat32 policy), parsed once, with the email package's rules
        (L{pyfilter.courier.headerblock}): the fields a program built on the email
        package sees.
        """
        if self._headers is None:
            if self._structure is not None:
                self._headers = self._structure.parts[0].headers
            else:
                self._headers = mime.readHeaders(self.dataPath)
        return self._headers

    def header(self, name):
        """
        Every raw value of the header C{name}, in order (an empty list if
        absent): a string, folding kept, 8-bit bytes as surrogate escapes
        (the email package's raw form, never a L{email.header.Header}).
        """
        key = name.lower()
        return [value for field, value in self.headers.raw_items()
                if field.lower() == key]

    @property
    def structure(self):
        """
        The message's MIME L{mime.Structure}, found once.
        """
        if self._structure is None:
            self._structure = mime.scanStructure(self.dataPath)
        return self._structure
