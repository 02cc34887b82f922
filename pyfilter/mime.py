"""
Finding a message's header block and MIME structure without decoding it.

The data file is memory-mapped and searched for header blocks and boundary
lines with C-speed searches; only header blocks are handed to the standard
library's header parser.  Bodies are never decoded nor copied, so a 5 MB
attachment costs a scan, not a parse, and memory does not grow with the
message.  Every scan is bounded (parts, nesting depth, header block size);
a message beyond the bounds is reported as truncated, never as an error.
"""

import email.header
import email.message
import email.policy
import hashlib
import mmap
import os
import re
from dataclasses import dataclass, field

MAX_HEADER_BYTES = 1024 * 1024
MAX_PARTS = 10000
MAX_DEPTH = 100

_HEADER_END = re.compile(rb"\r?\n\r?\n")
_FIRST_READ = 16384
_DASH_HOPS = 32
_READ_LIMIT = 256 * 1024


class Part:
    """
    One MIME entity: its parsed headers (an L{email.message.Message} with an
    empty body), its nesting depth (0 for the message itself) and its
    content type.
    """

    __slots__ = ("headers", "depth", "contentType")

    def __init__(self, headers, depth):
        self.headers = headers
        self.depth = depth
        self.contentType = headers.get_content_type()

    @property
    def isMultipart(self):
        return self.contentType.startswith("multipart/")

    @property
    def filename(self):
        """
        The part's file name (Content-Disposition C{filename}, else
        Content-Type C{name}; RFC 2231 and RFC 2047 decoded), or C{None}.
        """
        headers = self.headers
        if not any("name" in str(headers.get(field, "")).lower()
                   for field in ("content-disposition", "content-type")):
            return None
        try:
            name = headers.get_filename()
        except Exception:
            return None
        if name is None:
            return None
        return decodeWords(name)


def decodeWords(value):
    """
    Decode RFC 2047 encoded-words; undecodable text is returned as it is.
    """
    try:
        return str(email.header.make_header(email.header.decode_header(value)))
    except Exception:
        return value


@dataclass
class Structure:
    parts: list = field(default_factory=list)
    truncated: bool = False


def parseHeaderBlock(block):
    """
    Parse a header block into an L{email.message.Message} (compat32, no
    body), as the standard library's header parser would, without its
    line-by-line feed machinery: names and values are split exactly as
    C{compat32.header_source_parse} does.
    """
    message = email.message.Message(policy=email.policy.compat32)
    text = bytes(block).decode("ascii", "surrogateescape")
    source = None
    for line in text.split("\n"):
        if line[:1] in (" ", "\t"):
            if source is not None:
                source.append("\n" + line)
            continue
        if source is not None:
            message.set_raw(*_sourceParse(source))
            source = None
        if line.find(":") > 0:
            source = [line]
    if source is not None:
        message.set_raw(*_sourceParse(source))
    return message


def _sourceParse(source):
    name, value = source[0].split(":", 1)
    value = value.lstrip(" \t") + "".join(source[1:])
    return name, value.rstrip("\r\n")


def _headerBlock(data, start, limit):
    """
    Find the header block beginning at C{start}; return it (capped at
    C{limit} bytes) and where the body begins.
    """
    if data[start:start + 1] == b"\n":
        return b"", start + 1
    if data[start:start + 2] == b"\r\n":
        return b"", start + 2
    end = _HEADER_END.search(data, start, min(len(data), start + limit))
    if end is None:
        stop = min(len(data), start + limit)
        return data[start:stop], stop
    return data[start:end.start()], end.end()


class _Scanner:
    def __init__(self, data, maxParts, maxDepth, maxHeaderBytes):
        self.data = data
        self.maxParts = maxParts
        self.maxDepth = maxDepth
        self.maxHeaderBytes = maxHeaderBytes
        self.structure = Structure()
        self.boundaries = []  # (delimiter bytes, depth of the multipart)

    def startPart(self, position, depth):
        """
        Read the entity starting at C{position}; return where its body
        begins (C{None} when a bound ends the scan).  Nested message/rfc822
        entities are entered directly.  Beyond C{maxParts} parts, only parts
        that carry a file name are kept (up to C{maxParts} more), so that no
        attachment hides behind a crowd of anonymous parts.
        """
        parts = self.structure.parts
        while True:
            if depth > self.maxDepth or len(parts) >= 2 * self.maxParts:
                self.structure.truncated = True
                return None
            block, body = _headerBlock(self.data, position, self.maxHeaderBytes)
            part = Part(parseHeaderBlock(block), depth)
            if len(parts) < self.maxParts or part.filename is not None:
                parts.append(part)
            if part.isMultipart:
                boundary = part.headers.get_boundary()
                if boundary:
                    self.boundaries.append(
                        (b"--" + boundary.encode("utf-8", "surrogateescape"),
                         depth))
                return body
            if part.contentType == "message/rfc822":
                position, depth = body, depth + 1
                continue
            return body

    def _lineAt(self, start):
        end = self.data.find(b"\n", start)
        if end < 0:
            end = len(self.data)
        return self.data[start:end].rstrip(), end + 1

    def _nextDelimiterLine(self, position):
        """
        Where the next line starting with an open boundary's delimiter
        begins, at or after C{position}; -1 if there is none.  Each
        delimiter's next occurrence is remembered, so the file is searched
        once per boundary however many parts there are.
        """
        nearest = -1
        for delimiter, _ in self.boundaries:
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
        falls back, after a few misses, to searching for the whole line
        start, which is linear too.
        """
        data = self.data
        length = len(delimiter)
        for _ in range(_DASH_HOPS):
            dash = data.find(b"-", position)
            if dash < 0:
                return -1
            if (dash == 0 or data[dash - 1] == 10) and \
                    data[dash:dash + length] == delimiter:
                return dash
            position = data.find(b"\n", dash) + 1
            if position == 0:
                return -1
        found = data.find(b"\n" + delimiter, position - 1)
        return found + 1 if found >= 0 else -1

    def run(self):
        self.nextAt = {}
        position = self.startPart(0, 0)
        while self.boundaries and position is not None:
            lineStart = self._nextDelimiterLine(position)
            if lineStart < 0:
                break
            line, position = self._lineAt(lineStart)
            for index in range(len(self.boundaries) - 1, -1, -1):
                delimiter, depth = self.boundaries[index]
                if not line.startswith(delimiter):
                    continue
                rest = line[len(delimiter):]
                if rest == b"--":
                    del self.boundaries[index:]
                elif rest == b"":
                    del self.boundaries[index + 1:]
                    position = self.startPart(position, depth + 1)
                else:
                    continue
                break
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
        head = f.read(min(_FIRST_READ, maxHeaderBytes))
        while (len(head) < maxHeaderBytes and not _HEADER_END.search(head)
               and not head.startswith((b"\n", b"\r\n"))):
            more = f.read(min(len(head), maxHeaderBytes - len(head)))
            if not more:
                break
            head += more
    block, _ = _headerBlock(head, 0, maxHeaderBytes)
    return parseHeaderBlock(block)


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
        _, start = _headerBlock(data, 0, len(data))
        with memoryview(data) as view, view[start:] as body:
            digest.update(body)
    finally:
        if isinstance(data, mmap.mmap):
            data.close()
    return digest.digest()


def scanStructure(path, maxParts=MAX_PARTS, maxDepth=MAX_DEPTH,
                  maxHeaderBytes=MAX_HEADER_BYTES):
    """
    Find every MIME entity of the message in the data file at C{path}.

    @return: a L{Structure}: the parts in file order (the message itself
        first; beyond C{maxParts}, only those with a file name) and whether
        a bound (nesting depth, or C{maxParts} more named parts) cut the
        scan short.
    """
    data = _contents(path)
    if data is None:
        return Structure([Part(parseHeaderBlock(b""), 0)])
    try:
        return _Scanner(data, maxParts, maxDepth, maxHeaderBytes).run()
    finally:
        if isinstance(data, mmap.mmap):
            data.close()
