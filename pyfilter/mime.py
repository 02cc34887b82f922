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
import email.parser
import email.policy
import mmap
import os
import re
from dataclasses import dataclass, field

MAX_HEADER_BYTES = 1024 * 1024
MAX_PARTS = 10000
MAX_DEPTH = 100

_HEADER_END = re.compile(rb"\r?\n\r?\n")
_headerParser = email.parser.BytesHeaderParser(policy=email.policy.compat32)


@dataclass
class Part:
    """
    One MIME entity: its parsed headers (an L{email.message.Message} with an
    empty body) and its nesting depth (0 for the message itself).
    """
    headers: object
    depth: int

    @property
    def contentType(self):
        return self.headers.get_content_type()

    @property
    def isMultipart(self):
        return self.headers.get_content_maintype() == "multipart"

    @property
    def filename(self):
        """
        The part's file name (Content-Disposition C{filename}, else
        Content-Type C{name}; RFC 2231 and RFC 2047 decoded), or C{None}.
        """
        try:
            name = self.headers.get_filename()
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
    return _headerParser.parsebytes(bytes(block))


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
        begins.  Nested message/rfc822 entities are entered directly.
        """
        while True:
            if len(self.structure.parts) >= self.maxParts or depth > self.maxDepth:
                self.structure.truncated = True
                return None
            block, body = _headerBlock(self.data, position, self.maxHeaderBytes)
            part = Part(parseHeaderBlock(block), depth)
            self.structure.parts.append(part)
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

    def run(self):
        position = self.startPart(0, 0)
        while self.boundaries and position is not None:
            if self.data[position:position + 2] == b"--":
                lineStart = position
            else:
                found = self.data.find(b"\n--", max(position - 1, 0))
                if found < 0:
                    break
                lineStart = found + 1
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


def _mapped(path):
    """
    Map a data file read-only; C{None} for an empty file.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NOCTTY)
    try:
        if os.fstat(fd).st_size == 0:
            return None
        return mmap.mmap(fd, 0, prot=mmap.PROT_READ)
    finally:
        os.close(fd)


def readHeaders(path, maxHeaderBytes=MAX_HEADER_BYTES):
    """
    Parse the message's own header block (read at most C{maxHeaderBytes}).
    """
    with open(path, "rb") as f:
        head = f.read(maxHeaderBytes)
    block, _ = _headerBlock(head, 0, maxHeaderBytes)
    return parseHeaderBlock(block)


def scanStructure(path, maxParts=MAX_PARTS, maxDepth=MAX_DEPTH,
                  maxHeaderBytes=MAX_HEADER_BYTES):
    """
    Find every MIME entity of the message in the data file at C{path}.

    @return: a L{Structure}: the parts in file order (the message itself
        first) and whether a bound cut the scan short.
    """
    data = _mapped(path)
    if data is None:
        return Structure([Part(parseHeaderBlock(b""), 0)])
    try:
        return _Scanner(data, maxParts, maxDepth, maxHeaderBytes).run()
    finally:
        data.close()
