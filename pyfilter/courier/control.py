"""
Reading Courier's queue control files.

A control file is a list of newline-terminated records: the first byte is
the record letter, the rest of the line its value (see Courier's
comctlfile.h).  A message may have several control files; the first carries
the message-level records, each carries its own recipients, numbered from 0
in the order of their ``N`` record, and its own delivery records
(``S<n>``/``F<n>``) that mark recipients done.

Values are decoded as UTF-8; a value that is not valid UTF-8 is reported the
way the reference does (``(malformed utf8):`` and the form-encoded bytes) so
that comparisons and log lines stay compatible, while L{Recipient.rawAddress}
keeps the exact bytes for anything that writes a control file.
"""

import ipaddress
import urllib.parse
from functools import lru_cache
from typing import NamedTuple

from pyfilter.files import readPathAtMost

#: Control files larger than this are refused (Courier splits recipients
#: over several files of at most ``batchsize`` recipients).
MAX_CONTROL_SIZE = 16 * 1024 * 1024

#: Scalar records read from the first file only (the last occurrence wins),
#: as the reference's get_control_data does.
_SCALARS = "sfeMitEpWvXuU"
_FLAGS = "w8mVT"
_FIRST = frozenset(_SCALARS + _FLAGS)


class ControlFileError(Exception):
    """
    A control file is missing, unreadable, too large, or holds a value that
    cannot be used (such as a malformed client address).
    """


def decodeValue(raw):
    """
    Decode a record value as the reference does: strip ASCII whitespace,
    decode UTF-8, or describe undecodable bytes as
    ``(malformed utf8):<form-encoded bytes>`` keeping ``@`` literal.
    """
    raw = raw.strip()
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return "(malformed utf8):" + urllib.parse.quote_plus(raw, safe="@")


class Recipient(NamedTuple):
    """
    One recipient: its canonical address (C{r}), original recipient (C{R},
    ORCPT) and DSN NOTIFY letters (C{N}); where it is stored: the index of its
    control file in the request and its number within that file.  (A named
    tuple: messages list their recipients for every decision line.)
    """
    address: str
    original: str
    notify: str
    fileIndex: int
    number: int
    rawAddress: bytes = b""
    rawOriginal: bytes = b""

    @property
    def triple(self):
        return (self.address, self.original, self.notify)


class ControlFile:
    """
    The records of one control file, read once and parsed when first asked
    for (a message's files are read before its reply, while they are where
    the request named them, and may be parsed after it); its recipients and
    delivery records are picked out when first asked for.
    """

    def __init__(self, path, data):
        self.path = path
        self.data = data
        self._records = self._recipients = self._completed = None

    @property
    def records(self):
        """
        Every C{(letter, raw value)} in file order (empty lines skipped).
        """
        if self._records is None:
            self._records = [(chr(line[0]), line[1:])
                             for line in self.data.split(b"\n") if line]
        return self._records

    @property
    def recipients(self):
        """
        The raw C{(address, original, notify)} of each recipient, numbered
        by position.
        """
        if self._recipients is None:
            self._pickRecipients()
        return self._recipients

    @property
    def completed(self):
        """
        The numbers of the recipients delivered (C{S}) or failed (C{F}).
        """
        if self._completed is None:
            self._pickRecipients()
        return self._completed

    def _pickRecipients(self):
        recipients = []
        completed = set()
        pendingAddress = pendingOriginal = b""
        for letter, value in self.records:
            if letter == "r":
                pendingAddress = value
            elif letter == "R":
                pendingOriginal = value
            elif letter == "N":
                recipients.append((pendingAddress.strip(),
                                   pendingOriginal.strip(), value.strip()))
                pendingAddress = pendingOriginal = b""
            elif letter == "S" or letter == "F":
                number = value.split(b" ", 1)[0]
                if number.isdigit():
                    completed.add(int(number))
        self._recipients, self._completed = recipients, completed

    @classmethod
    def read(cls, path):
        try:
            data = readPathAtMost(path, MAX_CONTROL_SIZE)
        except OSError as e:
            raise ControlFileError(f"cannot read control file {path!r}: "
                                   f"{e.strerror or e}") from e
        if len(data) > MAX_CONTROL_SIZE:
            raise ControlFileError(f"control file {path!r} is larger than "
                                   f"{MAX_CONTROL_SIZE} bytes")
        return cls.parse(path, data)

    @classmethod
    def parse(cls, path, data):
        return cls(path, data)


class ControlFiles:
    """
    The control files of one message, in request order.
    """

    def __init__(self, files):
        if not files:
            raise ControlFileError("no control file given")
        self.files = files
        self._scalars = None
        self._recipients = None

    @classmethod
    def read(cls, paths):
        return cls([ControlFile.read(path) for path in paths])

    @property
    def recipients(self):
        """
        The L{Recipient}s not yet delivered, in order (picked out when first
        asked for).
        """
        if self._recipients is None:
            self._recipients = self._undeliveredRecipients()
        return self._recipients

    def _undeliveredRecipients(self):
        recipients = []
        for index, controlFile in enumerate(self.files):
            for number, (address, original, notify) in enumerate(
                    controlFile.recipients):
                if number in controlFile.completed:
                    continue
                recipients.append(Recipient(
                    decodeValue(address), decodeValue(original),
                    decodeValue(notify), index, number, address, original))
        return recipients

    def first(self, letter):
        """
        The first value of a record letter across all files, decoded, or
        C{None}.
        """
        for controlFile in self.files:
            for recordLetter, value in controlFile.records:
                if recordLetter == letter:
                    return decodeValue(value)
        return None

    def values(self, letter):
        """
        Every value of a record letter across all files, decoded, in order.
        """
        return [decodeValue(value) for controlFile in self.files
                for recordLetter, value in controlFile.records
                if recordLetter == letter]

    def scalar(self, letter, default=None):
        """
        A message-level record from the first file (the last occurrence),
        as the reference's get_control_data reads it.
        """
        value = self._firstFileScalars().get(letter)
        return default if value is None else decodeValue(value)

    def flag(self, letter):
        return letter in self._firstFileScalars()

    def _firstFileScalars(self):
        if self._scalars is None:
            self._scalars = {letter: value
                             for letter, value in self.files[0].records
                             if letter in _FIRST}
        return self._scalars

    def environment(self, name):
        """
        The value of the first C{O} record C{NAME=VALUE} for C{name}, or
        C{None}.
        """
        prefix = name + "="
        rawPrefix = prefix.encode("utf-8")
        for controlFile in self.files:
            for letter, raw in controlFile.records:
                if letter == "O" and raw.lstrip().startswith(rawPrefix):
                    value = decodeValue(raw)
                    if value.startswith(prefix):
                        return value[len(prefix):]
        return None

    def remoteIP(self):
        """
        The client address from C{OTCPREMOTEIP=}, IPv4-mapped IPv6 addresses
        given as IPv4; C{None} for local submissions.

        @raise ControlFileError: the recorded value is not an IP address.
        """
        value = self.environment("TCPREMOTEIP")
        if value is None:
            return None
        try:
            return clientAddress(value.strip("[]"))
        except ValueError:
            raise ControlFileError(f"malformed TCPREMOTEIP {value!r}") from None


@lru_cache(maxsize=1024)
def clientAddress(text):
    """
    The L{ipaddress} address C{text} names, IPv4-mapped IPv6 addresses given
    as IPv4; remembered for the latest clients (parsing one takes longer
    than reading the control file).

    @raise ValueError: C{text} is not an IP address.
    """
    address = ipaddress.ip_address(text)
    if address.version == 6 and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address
