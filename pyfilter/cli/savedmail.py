"""
Saved messages (an C{.eml} file, a Maildir file) handed to the chain by
C{pyfilter check} as Courier would hand them: the message and a control
file with the envelope the admin gives, in a private temporary spool.

The envelope sender is the one given, else the message's C{Return-Path}
(which a delivery agent adds when it stores the message), else the null
sender C{<>}.
"""

import email.utils
import errno
import os
import shutil
import stat
import tempfile
from dataclasses import dataclass

from pyfilter.courier import headerblock
from pyfilter.courier.queuefiles import writeQueueFiles

HEADER_LIMIT = 256 * 1024


@dataclass
class Envelope:
    """
    What the SMTP client said, for the control file.

    @ivar sender: the sender, C{None} for the message's own (see
        L{envelopeSender}).
    @ivar recipients: the recipients' addresses.
    @ivar ip: the client's address, C{None} for local mail.
    @ivar helo: the client's HELO name, C{None} for its address literal.
    @ivar auth: the SMTP AUTH user, C{None} when it did not authenticate.
    """
    sender: str
    recipients: list
    ip: str = None
    helo: str = None
    auth: str = None


def returnPath(path):
    """
    The address of the message's first C{Return-Path} field (C{""} for
    C{<>}), or C{None} when it has none.

    @raise OSError: the file cannot be read, or is no regular file (a
        directory, or a pipe that would block).
    """
    if not stat.S_ISREG(os.stat(path).st_mode):
        raise OSError(errno.EINVAL, "not a regular file", path)
    with open(path, "rb") as f:
        data, block = headerblock.read(f, HEADER_LIMIT)
    for name, value in headerblock.fields(headerblock.lines(data, block)):
        if name.lower() == "return-path":
            return email.utils.parseaddr(value)[1]
    return None


def envelopeSender(given, path):
    """
    The envelope sender of the saved message at C{path}: C{given}, else its
    C{Return-Path}, else the null sender (C{""}, written as C{<>}).
    """
    if given is not None:
        return "" if given == "<>" else given
    found = returnPath(path)
    return found if found is not None else ""


class TemporarySpool:
    """
    A private directory (mode 0700) for the queue files of saved messages,
    one subdirectory per message, removed by L{remove}.
    """

    def __init__(self):
        self.directory = tempfile.mkdtemp(prefix="pyfilter-check-")
        self._count = 0

    def queue(self, path, envelope, queueId):
        """
        Write the data file (a copy of C{path}) and the control file for
        C{envelope}, as Courier would.

        @return: C{(dataPath, controlPath)}.
        @raise OSError: the message cannot be read.
        """
        self._count += 1
        ip = envelope.ip
        helo = envelope.helo
        if ip is not None and helo is None:
            helo = f"[{ip}]"
        return writeQueueFiles(
            os.path.join(self.directory, str(self._count)), source=path,
            sender=envelopeSender(envelope.sender, path),
            recipients=envelope.recipients, ip=ip, helo=helo,
            auth=envelope.auth, queueId=queueId)

    def discard(self, dataPath):
        """
        Remove one message's queue files (given its data file).
        """
        shutil.rmtree(os.path.dirname(dataPath), ignore_errors=True)

    def remove(self):
        shutil.rmtree(self.directory, ignore_errors=True)
