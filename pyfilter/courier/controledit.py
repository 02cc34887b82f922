"""
Changing Courier's control files: mark a recipient done, add a recipient,
change a recipient's DSN NOTIFY flags; byte-level, validated, durable.

What Courier does with the files around a global filter (Courier 1.0.16:
read in its submit source, and checked through a real Courier on this
machine):

  - Before asking the filters, submit flushes and closes the data file and
    every control file.  After the reply it works on them only by path: it
    hard-links the data file for further control files, opens it by name
    for recipient filters, renames the first control file into place, and
    courierd later opens both by name.  Checked: a filter that renamed a new
    data file over Courier's got the new bytes delivered.  So the data file
    may be replaced by write-temp-then-rename (see L{pyfilter.courier.rewrite}).
  - A control file must never be replaced that way: its inode number is
    the message's queue id and names its queue files (C{C<inode>},
    C{D<inode>}).  Replacing it would free the inode for the next message
    being received, which would then get the same queue file names.  So
    control files are edited in place, as Courier itself edits them:
    records are appended (one C{write} at the end of the file per file and
    edit batch), and NOTIFY flags are changed by overwriting the
    value of the C{N} record with a value of the same length (letters are
    a set to Courier, so the shorter value is padded by repeating a letter:
    C{NSF} without S becomes C{NFF}, C{NS} becomes C{NN}, never).  Every
    intermediate state of such an overwrite is a valid record.  Each edited
    file is fsync'ed before the edit returns.
  - Crash safety: a message counts as received only once every filter has
    answered.  If pyfilter dies in the middle of an edit, submit answers
    C{432} and deletes all the message's files (checked: a filter that
    exits during a request gets the mail refused with 432 and nothing is
    delivered), so a half-finished edit never reaches the queue.
  - A recipient marked done with C{S<n> <time>} (no C{l}/C{r} delivery
    flag, as written here) is never reported in a success DSN: Courier's
    DSN code reports successes only for local (C{l}) or relayed (C{r})
    deliveries.

Values are bytes (text is encoded as UTF-8); a value containing a control
character (newline, CR, NUL, ...) is refused with L{InvalidValue}, so an
address can never inject records.  Recipients are given as
L{pyfilter.courier.control.Recipient}s; their raw bytes are written back unchanged,
and an edit checks that the recipient is still where the Recipient says it
is (L{ControlFileError} otherwise).
"""

import os
import time

from pyfilter.courier.control import ControlFileError

DEFAULT_REASON = "Removed by pyfilter"

#: DSN NOTIFY letters Courier understands, in the order they are written.
NOTIFY_LETTERS = "SFDN"


class InvalidValue(ValueError):
    """
    A value that cannot be written into a control file record.
    """


def recordValue(value):
    """
    C{value} (text or bytes) as bytes for a record.

    @raise InvalidValue: it contains a control character.
    """
    raw = value.encode("utf-8") if isinstance(value, str) else bytes(value)
    if any(byte < 0x20 or byte == 0x7F for byte in raw):
        raise InvalidValue(f"control character in control file value "
                           f"{raw!r}")
    return raw


def notifyValue(notify):
    """
    DSN NOTIFY letters as bytes: a subset of C{S F D N}, C{N} alone.
    """
    raw = recordValue(notify)
    letters = set(raw.decode("ascii", "replace"))
    if not letters <= set(NOTIFY_LETTERS) or ("N" in letters
                                              and len(letters) > 1):
        raise InvalidValue(f"invalid DSN NOTIFY flags {raw!r}")
    return raw


def _paddedNotify(old, new):
    """
    C{new} padded to the length of C{old} by repeating its last letter (or
    C{None} if it cannot be: longer, or empty for a non-empty C{old}).
    """
    if len(new) > len(old) or (not new and old):
        return None
    return new + new[-1:] * (len(old) - len(new))


class _FileEdits:
    """
    The pending edits of one control file.
    """

    def __init__(self, path):
        self.path = path
        self.appended = []
        self.notifyChanges = {}

    def apply(self):
        if not (self.appended or self.notifyChanges):
            return
        fd = os.open(self.path, os.O_RDWR)
        try:
            content = _readAll(fd)
            for number, (recipient, new) in sorted(
                    self.notifyChanges.items()):
                offset, old = _notifyRecord(content, self.path, recipient)
                padded = _paddedNotify(old, new)
                if padded is None:
                    raise ControlFileError(
                        f"{self.path}: recipient {number} changed while "
                        f"being edited")
                os.pwrite(fd, padded, offset)
            if self.appended:
                data = b"".join(self.appended)
                if content and not content.endswith(b"\n"):
                    data = b"\n" + data
                os.lseek(fd, 0, os.SEEK_END)
                _writeAll(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)


def _readAll(fd):
    chunks = []
    while True:
        chunk = os.pread(fd, 65536, sum(len(c) for c in chunks))
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def _writeAll(fd, data):
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _notifyRecord(content, path, recipient):
    """
    The offset and value of the C{N} record of C{recipient} in C{content},
    after checking that its C{r} record still holds the recipient's address.
    """
    offset = 0
    number = 0
    address = b""
    for line in content.split(b"\n"):
        letter = line[:1]
        if letter == b"r":
            address = line[1:]
        elif letter == b"N":
            if number == recipient.number:
                if address.strip() != recipient.rawAddress:
                    break
                return offset + 1, line[1:]
            number += 1
            address = b""
        offset += len(line) + 1
    raise ControlFileError(f"{path}: recipient {recipient.number} "
                           f"<{recipient.address}> not found")


class ControlEdits:
    """
    A batch of edits to the control files of one message, written by
    L{commit}: per file, all appended records in one write, then one fsync.

    @param onCommit: called after every commit (the message then forgets
        the control files it had read).
    """

    def __init__(self, controlPaths, clock=time.time, onCommit=None):
        if not controlPaths:
            raise ControlFileError("no control file given")
        self.controlPaths = list(controlPaths)
        self.clock = clock
        self.onCommit = onCommit
        self._files = [_FileEdits(path) for path in self.controlPaths]

    def _fileOf(self, recipient):
        if not 0 <= recipient.fileIndex < len(self._files):
            raise ControlFileError(f"recipient <{recipient.address}> is in "
                                   f"control file {recipient.fileIndex}, "
                                   f"which is not in this request")
        return self._files[recipient.fileIndex]

    def markDone(self, recipient, reason=DEFAULT_REASON):
        """
        Mark C{recipient} delivered, as Courier marks recipients it handled
        at submission time: C{I<n> R 250 Ok - <reason>} and
        C{S<n> <unix time>} in its own file.
        """
        reasonBytes = recordValue(reason)
        number = str(recipient.number).encode("ascii")
        now = str(int(self.clock())).encode("ascii")
        self._fileOf(recipient).appended.append(
            b"I" + number + b" R 250 Ok - " + reasonBytes + b"\n"
            + b"S" + number + b" " + now + b"\n")

    def addRecipient(self, address, original="", notify=""):
        """
        Add a recipient (C{r}, C{R}, C{N} records) to the last control file.
        C{address} and C{original} may be bytes (such as a Recipient's raw
        values) or text.
        """
        addressBytes = recordValue(address)
        if not addressBytes.strip():
            raise InvalidValue("empty recipient address")
        self._files[-1].appended.append(
            b"r" + addressBytes + b"\n"
            + b"R" + recordValue(original) + b"\n"
            + b"N" + notifyValue(notify) + b"\n")

    def setNotify(self, recipient, notify):
        """
        Change the DSN NOTIFY flags of C{recipient}: in place when the new
        flags fit in the old record (always the case when letters are only
        removed), otherwise by marking it done and adding it again with the
        new flags.
        """
        new = notifyValue(notify)
        old = recipient.notify.encode("ascii", "replace")
        padded = _paddedNotify(old, new)
        if padded is None:
            self.markDone(recipient, "Re-added with NOTIFY changed by "
                                     "pyfilter")
            self.addRecipient(recipient.rawAddress, recipient.rawOriginal,
                              new)
        elif padded != old:
            self._fileOf(recipient).notifyChanges[recipient.number] = (
                recipient, new)

    def commit(self):
        """
        Write every pending edit; each edited file is fsync'ed.
        """
        try:
            for fileEdits in self._files:
                fileEdits.apply()
        finally:
            self._files = [_FileEdits(path) for path in self.controlPaths]
            if self.onCommit is not None:
                self.onCommit()


def markDone(controlPaths, recipient, reason=DEFAULT_REASON):
    """
    Mark C{recipient} (a L{pyfilter.courier.control.Recipient}) delivered.
    """
    edits = ControlEdits(controlPaths)
    edits.markDone(recipient, reason)
    edits.commit()


def addRecipient(controlPaths, address, original="", notify=""):
    """
    Append a recipient to the last control file of C{controlPaths}.
    """
    edits = ControlEdits(controlPaths)
    edits.addRecipient(address, original, notify)
    edits.commit()


def setNotify(controlPaths, recipient, notify):
    """
    Change the DSN NOTIFY flags of C{recipient}.
    """
    edits = ControlEdits(controlPaths)
    edits.setNotify(recipient, notify)
    edits.commit()


def mergeNotify(first, second):
    """
    The NOTIFY flags asking for every notification either of two recipients
    asked for: empty (Courier's default: failures and delays) absorbs
    C{F}, C{D} and C{N}; C{N} (never) only survives if both say never.
    """
    def wanted(flags):
        return set(flags) - {"N"}

    if first == "" or second == "":
        other = second if first == "" else first
        return "" if "S" not in other else "SFD"
    letters = wanted(first) | wanted(second)
    return "".join(c for c in NOTIFY_LETTERS if c in letters) or "N"

