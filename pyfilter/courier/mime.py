"""
Finding a message's MIME structure without decoding it: the parts the
standard library's email parser (CPython 3.11's C{email.feedparser}, which
courier-pythonfilter walks) finds, with the same headers, or a note that
the message is one whose structure the email package may read otherwise
(L{Structure.anomaly}), for the caller to ask the email package itself
(L{pyfilter.courier.emailscan}).

The data file is memory-mapped and searched for boundary lines with C-speed
searches; header blocks are read by L{pyfilter.courier.headerblock}, the email
package's rules.  Bodies are never decoded nor copied, so a 5 MB attachment
costs a scan, not a parse, and memory does not grow with the message.

The email package's rules the scanner follows, and the cases where it stops
instead (an anomaly):

  - a boundary line is C{--boundary}, then C{--} for the closing one, then
    only spaces and tabs, at the start of a line (after LF, CRLF or a lone
    CR); a line that is a boundary line of several open multiparts belongs
    to the outermost, and ends every part inside it;
  - every C{message/*} part holds a message, whose header block starts
    right after the part's own; a C{multipart/digest}'s parts are
    C{message/rfc822} unless they say otherwise; a multipart without
    boundary has no parts; a C{message/delivery-status} part holds blocks
    of fields separated by blank lines, each a message (one that holds
    parts, and a status body over L{MAX_STATUS_BYTES}, are anomalies);
  - a header block ends at the first line that is not a header line
    (L{pyfilter.courier.headerblock}); one with a line starting with C{--} (which
    may be a boundary line, which ends a block), one ending in a C{From }
    line (which the email package gives to the body) and one longer than
    C{maxHeaderBytes} are anomalies;
  - a C{Content-Type} field is read by the email package's compat32 rules;
    one that C{policy.default}'s parser may read otherwise (its type not a
    plain C{token/token}; for a multipart, any parameter not plain, an
    empty boundary) is an anomaly, and so is a part whose C{Content-Type}
    fields differ (which L{pyfilter.courier.emailscan} refuses);
  - a boundary line right after a delimiter line (which the email package
    skips) is an anomaly, and so are name fields that need the email
    package (L{pyfilter.courier.filenames}) longer than L{MAX_DECODED_CHARACTERS}
    in all, and names the email package cannot read.

The parts before an anomaly are exact; the scan ends there (the part where
it ends is kept, so that the message's own headers are always the first
part, but it and what may follow are the email package's to read).  Every
scan is also bounded (parts, nesting depth): a message beyond the bounds is
reported as truncated.
"""

import hashlib
import mmap
import os
import re
from dataclasses import dataclass, field

from pyfilter.courier import filenames
from pyfilter.courier import headerblock

MAX_HEADER_BYTES = 1024 * 1024
MAX_PARTS = 10000
MAX_DEPTH = 100
#: Characters of name fields the scanner decodes through the email package
#: (its parser is slow: about 60 ms for a 16 KiB field, 10 to 100 us for a
#: usual one).
MAX_DECODED_CHARACTERS = 16 * 1024
#: Longest C{message/delivery-status} body the scanner reads.
MAX_STATUS_BYTES = 64 * 1024

_DASH_HOPS = 32
_READ_LIMIT = 256 * 1024
_PLAIN_TYPE = re.compile(r"[ \t\r\n]*" + filenames.TOKEN + "/"
                         + filenames.TOKEN + r"[ \t\r\n]*(?:;|\Z)")


class Part:
    """
    One MIME entity: its parsed headers (an L{email.message.Message} with an
    empty body, compat32), its nesting depth (0 for the message itself),
    its content type (as the email package gives it, default types
    included), the raw values of its C{Content-Type} fields
    (C{typeFields}) and whether the first is plain (C{plainType}), the
    names a client may give it
    (L{pyfilter.courier.filenames.partNames}), how many characters of fields
    finding them took through the email package (C{decoded}) and, if they
    cannot be found, why (C{unreadable}).
    """

    __slots__ = ("headers", "depth", "contentType", "typeFields",
                 "plainType", "names", "decoded", "unreadable")

    def __init__(self, headers, depth, defaultType="text/plain"):
        if defaultType != "text/plain":
            headers.set_default_type(defaultType)
        self.headers = headers
        self.depth = depth
        named = filenames.nameFields(headers.raw_items())
        self.typeFields = typeFields(named)
        self.plainType = bool(self.typeFields
                              and _PLAIN_TYPE.match(self.typeFields[0]))
        if self.plainType:
            self.contentType = _plainContentType(self.typeFields[0])
        else:
            self.contentType = headers.get_content_type()
        self.unreadable = None
        try:
            self.names, self.decoded = filenames.namesOf(named)
        except filenames.UnreadableName as e:
            self.names, self.decoded = frozenset(), 0
            self.unreadable = str(e)

    @property
    def isMultipart(self):
        return self.contentType.startswith("multipart/")

    @property
    def filename(self):
        """
        The name courier-pythonfilter tests
        (L{pyfilter.courier.filenames.referenceName}), or C{None}; C{None} too when
        the email package cannot read it.
        """
        try:
            return filenames.referenceName(self.headers)
        except filenames.UnreadableName:
            return None


@dataclass
class Structure:
    """
    @ivar parts: the parts found, in file order (the message first).
    @ivar truncated: a bound (depth, parts) cut the scan short.
    @ivar anomaly: C{None}, or why the email package may see another
        structure than C{parts} (then the scan stopped there, and only the
        headers of C{parts[0]}, the message's own, are to be trusted).
    """
    parts: list = field(default_factory=list)
    truncated: bool = False
    anomaly: str = None


@dataclass
class _Multipart:
    delimiter: bytes
    depth: int
    digest: bool


def _plainContentType(value):
    """
    The content type in a plain C{Content-Type} value, read as
    C{Message.get_content_type} reads it: the part before the first
    semicolon, stripped, in lower case.
    """
    return value.partition(";")[0].strip().lower()


def typeFields(fields):
    """
    The raw values of the C{Content-Type} fields among C{fields}.
    """
    return [value for name, value in fields if name.lower() == "content-type"]


def conflictingTypes(values):
    """
    Whether a part's C{Content-Type} fields (their raw values) differ: the
    email package reads the first, a client may read another, and see
    other parts.
    """
    return len(values) > 1 and len({" ".join(value.split()).lower()
                                    for value in values}) > 1


def _typeAnomaly(part):
    """
    Why the email package's policies may disagree on this part's
    structure, or C{None}.
    """
    if not part.typeFields:
        return None
    if conflictingTypes(part.typeFields):
        return "a part with different Content-Type fields"
    if not part.plainType:
        return "a Content-Type that is not a plain type/subtype"
    if part.isMultipart and not filenames.isPlain(part.typeFields[0]):
        return "a multipart Content-Type with parameters that are not plain"
    return None


def _blockAnomaly(block, text, headerLines, maxHeaderBytes):
    if not block.complete:
        return f"a header block over {maxHeaderBytes} bytes"
    if text.startswith("--") or "\n--" in text or "\r--" in text:
        return "a header line starting with '--'"
    if headerblock.fromLineLast(headerLines):
        return "a header block ending in a 'From ' line"
    return None


def _boundaryLine(data, start, delimiter):
    """
    Whether the line at C{start} is a boundary line of C{delimiter}:
    C{(closing, start of the next line)}, or C{None}.
    """
    position = start + len(delimiter)
    if data[start:position] != delimiter:
        return None
    closing = data[position:position + 2] == b"--"
    if closing:
        position += 2
    size = len(data)
    while position < size and data[position] in (9, 32):
        position += 1
    if position == size:
        return closing, size
    byte = data[position]
    if byte == 10:
        return closing, position + 1
    if byte == 13:
        return closing, position + (2 if data[position + 1:position + 2]
                                    == b"\n" else 1)
    return None


class _Scanner:
    def __init__(self, data, maxParts, maxDepth, maxHeaderBytes):
        self.data = data
        self.maxParts = maxParts
        self.maxDepth = maxDepth
        self.maxHeaderBytes = maxHeaderBytes
        self.structure = Structure()
        self.open = []
        self.nextAt = {}
        self.decoded = 0

    def stop(self, reason, position):
        self.structure.anomaly = f"{reason} (at byte {position})"

    def startPart(self, position, depth, defaultType):
        """
        Read the entity starting at C{position}; return where its body
        begins (C{None} when a bound or an anomaly ends the scan).  Nested
        messages are entered directly.  Beyond C{maxParts} parts, only
        parts that may carry a file name are kept (up to C{maxParts} more),
        so that no attachment hides behind a crowd of anonymous parts.
        """
        parts = self.structure.parts
        while True:
            if depth > self.maxDepth or len(parts) >= 2 * self.maxParts:
                self.structure.truncated = True
                return None
            block = headerblock.find(self.data, position, self.maxHeaderBytes)
            text = headerblock.text(self.data, block)
            headerLines = headerblock.splitLines(text)
            part = Part(headerblock.toMessage(headerLines), depth, defaultType)
            if len(parts) < self.maxParts or part.names:
                parts.append(part)
            reason = (_blockAnomaly(block, text, headerLines,
                                    self.maxHeaderBytes)
                      or self.partAnomaly(part))
            if reason is not None:
                self.stop(reason, position)
                return None
            if part.isMultipart:
                boundary = part.headers.get_boundary()
                if boundary == "":
                    self.stop("an empty boundary", position)
                    return None
                if boundary is not None:
                    self.open.append(_Multipart(
                        b"--" + boundary.encode("ascii"), depth,
                        part.contentType == "multipart/digest"))
                return block.body
            if part.contentType == "message/delivery-status":
                return self.statusBlocks(block.body, depth + 1)
            if not part.contentType.startswith("message/"):
                return block.body
            position, depth, defaultType = block.body, depth + 1, "text/plain"

    def statusBlocks(self, position, depth):
        """
        Read the body of a C{message/delivery-status} part at C{position}:
        blocks of fields separated by blank lines, each a message of its
        own; return where the part ends (C{None} when the scan ends).
        """
        limit = position + MAX_STATUS_BYTES
        parts = self.structure.parts
        while True:
            if len(parts) >= 2 * self.maxParts:
                self.structure.truncated = True
                return None
            block = headerblock.find(self.data, position, self.maxHeaderBytes)
            text = headerblock.text(self.data, block)
            headerLines = headerblock.splitLines(text)
            part = Part(headerblock.toMessage(headerLines), depth)
            if len(parts) < self.maxParts or part.names:
                parts.append(part)
            reason = (_blockAnomaly(block, text, headerLines,
                                    self.maxHeaderBytes)
                      or self.partAnomaly(part))
            if reason is None and (part.isMultipart
                                   or part.contentType.startswith("message/")):
                reason = "a delivery-status block that holds parts"
            if reason is not None:
                self.stop(reason, position)
                return None
            position = self.blankOrBoundary(block.end, limit)
            if position is None:
                return None
            if self.endsPart(position):
                return position
            position = self.lineAfter(position)
            if self.endsPart(position):
                return position

    def endsPart(self, position):
        """
        Whether C{position} is the end of the data or a boundary line of an
        open multipart.
        """
        return position >= len(self.data) or self._boundaryAt(position)

    def lineAfter(self, position):
        """
        Where the line after the one at C{position} begins.
        """
        data = self.data
        newline = data.find(b"\n", position)
        cr = data.find(b"\r", position,
                       len(data) if newline < 0 else newline)
        if cr >= 0 and cr + 1 != newline:
            return cr + 1
        return len(data) if newline < 0 else newline + 1

    def blankOrBoundary(self, position, limit):
        """
        The first line at or after C{position} that is blank, a boundary
        line of an open multipart or the end of the data; C{None} (the scan
        stopped) beyond C{limit}.
        """
        while not (self.endsPart(position)
                   or self.data[position:position + 1] in (b"\r", b"\n")):
            if position > limit:
                self.stop(f"a delivery-status part over "
                          f"{MAX_STATUS_BYTES} bytes", position)
                return None
            position = self.lineAfter(position)
        return position

    def partAnomaly(self, part):
        """
        Why the email package may see this part otherwise, or C{None}.
        """
        if part.unreadable is not None:
            return part.unreadable
        self.decoded += part.decoded
        if self.decoded > MAX_DECODED_CHARACTERS:
            return (f"encoded names longer than {MAX_DECODED_CHARACTERS} "
                    f"characters in all")
        return _typeAnomaly(part)

    def _nextDelimiterLine(self, position):
        """
        Where the next line starting with an open boundary's delimiter
        begins, at or after C{position}; -1 if there is none.  Each
        delimiter's next occurrence is remembered, so the file is searched
        once per boundary however many parts there are.
        """
        nearest = -1
        for multipart in self.open:
            delimiter = multipart.delimiter
            found = self.nextAt.get(delimiter)
            if found is None or (0 <= found < position):
                found = self._find(delimiter, position)
                self.nextAt[delimiter] = found
            if found >= 0 and (nearest < 0 or found < nearest):
                nearest = found
        return nearest

    def _find(self, delimiter, position):
        """
        Find the next line that starts with C{delimiter}.  Base64 and most
        encoded bodies hold no C{-} at all, so hopping from C{-} to C{-}
        (a C{memchr}) crosses them at memory speed; a body full of dashes
        falls back, after a few misses, to searching for the line start
        and the delimiter together, which is linear too.
        """
        data = self.data
        length = len(delimiter)
        for _ in range(_DASH_HOPS):
            dash = data.find(b"-", position)
            if dash < 0:
                return -1
            if (dash == 0 or data[dash - 1] in (10, 13)) and \
                    data[dash:dash + length] == delimiter:
                return dash
            position = dash + 1
        found = [data.find(lineEnd + delimiter, position - 1)
                 for lineEnd in (b"\n", b"\r")]
        found = [offset + 1 for offset in found if offset >= 0]
        return min(found) if found else -1

    def _boundaryAt(self, start):
        """
        The open multipart (outermost first) whose boundary line is at
        C{start}: C{(index, closing, next line)}, or C{None}.
        """
        for index, multipart in enumerate(self.open):
            found = _boundaryLine(self.data, start, multipart.delimiter)
            if found is not None:
                return (index,) + found
        return None

    def run(self):
        position = self.startPart(0, 0, "text/plain")
        while self.open and position is not None:
            lineStart = self._nextDelimiterLine(position)
            if lineStart < 0:
                break
            found = self._boundaryAt(lineStart)
            if found is None:
                position = lineStart + 1
                continue
            index, closing, position = found
            multipart = self.open[index]
            del self.open[index if closing else index + 1:]
            if closing:
                continue
            if (self.data[position:position + 2] == b"--"
                    and self._boundaryAt(position) is not None):
                self.stop("a boundary line right after a delimiter line",
                          position)
                break
            position = self.startPart(
                position, multipart.depth + 1,
                "message/rfc822" if multipart.digest else "text/plain")
        return self.structure


def _contents(path):
    """
    A data file's bytes: read when small, memory-mapped read-only when
    large (so a large message is never copied into memory); C{None} for an
    empty file.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NOCTTY)
    try:
        size = os.fstat(fd).st_size
        if size == 0:
            return None
        if size <= _READ_LIMIT:
            return os.read(fd, size)
        return mmap.mmap(fd, 0, prot=mmap.PROT_READ)
    finally:
        os.close(fd)


def readHeaders(path, maxHeaderBytes=MAX_HEADER_BYTES):
    """
    Parse the message's own header block (read at most C{maxHeaderBytes}).
    """
    with open(path, "rb") as f:
        data, block = headerblock.read(f, maxHeaderBytes)
    return headerblock.toMessage(headerblock.lines(data, block))


def bodyDigest(path):
    """
    The SHA-256 digest of the message's body: every byte after its own
    header block (the file is not read into memory).
    """
    digest = hashlib.sha256()
    data = _contents(path)
    if data is None:
        return digest.digest()
    try:
        start = headerblock.find(data).body
        with memoryview(data) as view, view[start:] as body:
            digest.update(body)
    finally:
        if isinstance(data, mmap.mmap):
            data.close()
    return digest.digest()


def scanStructure(path, maxParts=None, maxDepth=None, maxHeaderBytes=None):
    """
    Find every MIME entity of the message in the data file at C{path},
    within the bounds given (by default L{MAX_PARTS}, L{MAX_DEPTH},
    L{MAX_HEADER_BYTES}).

    @return: a L{Structure}: the parts in file order (the message itself
        first; beyond C{maxParts}, only those that may carry a file name),
        whether a bound (nesting depth, or C{maxParts} more named parts)
        cut the scan short, and the anomaly that stopped it, if any.
    """
    data = _contents(path)
    if data is None:
        return Structure([Part(headerblock.toMessage([]), 0)])
    try:
        return _Scanner(data, maxParts or MAX_PARTS, maxDepth or MAX_DEPTH,
                        maxHeaderBytes or MAX_HEADER_BYTES).run()
    finally:
        if isinstance(data, mmap.mmap):
            data.close()
