"""
The message being filtered, built once per request and shared by every
filter of the chain.

Nothing is read until a filter asks: the paths Courier sent are confined to
its spool on first use of L{Message.dataPath} or L{Message.controlPaths}
(symbolic links resolved), the control files are parsed on first use of
L{Message.control}, the header block on first use of L{Message.headers}, the
MIME structure on first use of L{Message.structure}, each once.  A chain
whose filters need no file (or an empty chain) costs no file access at all.

A filter that changes the message does it through the message
(L{Message.rewrite} for the data file, L{Message.editControl} for the
control files), which then forgets what it had read, so that later filters
see the new message.

Anything wrong with the files Courier named (outside the spool, missing,
unreadable, a malformed record value) raises L{ControlFileError}, which the
chain answers with the reference's 451.
"""

import os
import time

from pyfilter.courier import mime, rewrite
from pyfilter.courier.control import ControlFileError, ControlFiles
from pyfilter.courier.controledit import ControlEdits
from pyfilter.engine.threads import InlineThreads


class Message:
    """
    @param spool: the L{pyfilter.courier.spool.Spool} the files must lie in
        (their real paths are checked on first use), or C{None} to use the
        paths as they are.
    @param threads: the daemon's L{pyfilter.engine.threads.BoundedThreads},
        where L{rewrite} runs (by default it runs in the caller's thread).
    @ivar deadline: the reactor time by which the filter now running must
        answer (set by the chain).
    @ivar outages: C{(filter, service, reason)} for each outage a filter
        met on this message (L{pyfilter.engine.filter.Filter.unavailable}).
    @ivar notes: filter name to the details it noted about this message
        (L{pyfilter.engine.filter.Filter.note}), for the decision log.
    """

    def __init__(self, dataPath, controlPaths, control=None, spool=None,
                 threads=None):
        self._dataPath = dataPath
        self._controlPaths = list(controlPaths)
        self._spool = spool
        self._threads = threads or InlineThreads()
        self._dataChecked = self._controlChecked = spool is None
        self.deadline = None
        self.outages = []
        self.notes = {}
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
            self._dataPath = self._spool.confine(self._dataPath)
            self._dataChecked = True
        return self._dataPath

    @property
    def controlPaths(self):
        """
        The control files' paths in request order, checked.
        """
        if not self._controlChecked:
            self._controlPaths = [self._spool.confine(path)
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

    def readControl(self):
        """
        Read the control files now if nothing has yet, while they are where
        the request named them (Courier moves them once it has its reply);
        a failure is left for whoever asks for L{control} next.
        """
        try:
            self.control
        except ControlFileError:
            pass

    def editControl(self, clock=time.time):
        """
        Changes to the control files: a
        L{pyfilter.courier.controledit.ControlEdits} whose C{commit()} also
        makes the message read the control files again when next asked.
        """
        return ControlEdits(self.controlPaths, clock,
                            onCommit=self._controlChanged)

    def _controlChanged(self):
        self._control = None
        self._remoteIPRead = False

    def rewrite(self, change):
        """
        Rewrite the data file in the thread pool: C{change(edit)} is called
        with a L{pyfilter.courier.rewrite.Rewrite} of it; once committed,
        the message reads its headers and structure again when next asked.

        @return: a Deferred that fires with C{None} when the new file is in
            place (so a filter may answer it: no opinion, once rewritten).
        """
        d = rewrite.rewriteMessage(self._threads, self.dataPath, change)
        return d.addCallback(self._dataChanged)

    def _dataChanged(self, _):
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
        (L{pyfilter.courier.headerblock}): the fields a program built on the
        email package sees.
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
