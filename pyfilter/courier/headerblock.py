"""
Reading a header block (a message's or a MIME part's) by the rules of the
standard library's email parser, CPython 3.11's C{email.feedparser}, so
that every part of pyfilter that reads headers sees the fields a program
built on the C{email} package sees, no more and no fewer:

  - a line ends at CRLF, at a lone CR or at LF;
  - a header line is a field (a name of printable ASCII without colon,
    possibly empty, then a colon), a continuation (a leading space or tab)
    or a C{From } line;
  - the block ends at the first line that is not a header line: a blank
    line there is the separator, which belongs to neither block nor body;
    any other line (one without colon, one starting with a NUL byte or with
    8-bit bytes in its name, a MIME boundary line) is the body's first
    line;
  - fields are cut and unfolded as C{compat32.header_source_parse} does; a
    continuation with nothing to continue and a line starting with a colon
    are no field, and a C{From } line is the envelope line when it is the
    first line, ignored in the middle, and the body's first line when it is
    the last one (L{HeaderBlock.fromLineLast}).

The bytes are decoded as the C{email} package decodes them (ASCII with
C{surrogateescape}); line ends inside folded values are kept as they are
in the file, as C{BytesParser.parsebytes} keeps them.
"""

import email.header
import email.message
import email.policy
import re
from dataclasses import dataclass

#: The header lines at the start of a block, each with its line end.
_HEADER_LINES = re.compile(
    rb"(?:(?:From |[\x21-\x39\x3b-\x7e]*+:|[ \t])"
    rb"[^\r\n]*+(?:\r\n|\r|\n|\Z))*+")
_LINES = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+")
_RAW_LINES = re.compile(rb"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+")
_LINE_END = re.compile(rb"[\r\n]")
_FIRST_READ = 16384


@dataclass
class HeaderBlock:
    """
    Where a header block lies in the data it was found in.

    @ivar start: where its first line begins.
    @ivar end: where its last header line ends (the separator or the
        body's first line begins there).
    @ivar body: where the body begins (after the separator, if any).
    @ivar complete: C{False} when the block goes on past the size limit
        (then C{end} and C{body} are at the limit).
    """
    start: int
    end: int
    body: int
    complete: bool

    @property
    def separated(self):
        """
        Whether a blank line ends the block.
        """
        return self.body > self.end


def find(data, start=0, limit=None):
    """
    The header block that begins at C{start} in C{data} (bytes or an mmap
    holding the message up to its end, or at least C{limit} bytes past
    C{start}), looking at most C{limit} bytes far.
    """
    stop = len(data) if limit is None else min(len(data), start + limit)
    end = _HEADER_LINES.match(data, start, stop).end()
    if stop < len(data) and (end == stop or _LINE_END.search(
            data, end, stop) is None):
        return HeaderBlock(start, end, end, False)
    body = end
    if data[end:end + 2] == b"\r\n":
        body = end + 2
    elif data[end:end + 1] in (b"\r", b"\n"):
        body = end + 1
    return HeaderBlock(start, end, body, True)


def lines(data, block):
    """
    The block's header lines, decoded, each with its line end.
    """
    return splitLines(text(data, block))


def text(data, block):
    """
    The block's header lines as one string, decoded as the email package
    decodes them.
    """
    return data[block.start:block.end].decode("ascii", "surrogateescape")


def splitLines(text):
    """
    Header lines as one string (L{text}) cut into lines, each with its
    line end.
    """
    if "\r" in text:
        return _LINES.findall(text)
    found = [line + "\n" for line in text.split("\n")]
    found[-1] = found[-1][:-1]
    if not found[-1]:
        del found[-1]
    return found


def rawLines(data, block):
    """
    The block's header lines as bytes, each with its line end.
    """
    return _RAW_LINES.findall(data, block.start, block.end)


def fields(headerLines):
    """
    The fields of decoded header lines as the email package stores them:
    C{[(name, value), ...]} in file order, cut and unfolded as
    C{compat32.header_source_parse} does, without the lines that are no
    field (see the module docstring).
    """
    found = []
    name = None
    for line in headerLines:
        if line[0] in " \t":
            if name is not None:
                value += line
            continue
        if name is not None:
            found.append((name, value.rstrip("\r\n")))
        colon = line.find(":")
        if colon > 0 and not (line[0] == "F" and line.startswith("From ")):
            name, value = line[:colon], line[colon + 1:].lstrip(" \t")
        else:
            name = None
    if name is not None:
        found.append((name, value.rstrip("\r\n")))
    return found


def fromLineLast(headerLines):
    """
    Whether the block's last line is a C{From } line that the email package
    gives back to the body (it is not the first line).
    """
    return len(headerLines) > 1 and headerLines[-1].startswith("From ")


def toMessage(headerLines):
    """
    The fields of decoded header lines as an L{email.message.Message}
    without body (compat32), as the email package stores them: the same
    raw names and values, in order, and the envelope line.
    """
    message = email.message.Message(policy=email.policy.compat32)
    if headerLines and headerLines[0].startswith("From "):
        message.set_unixfrom(headerLines[0].rstrip("\r\n"))
    for name, value in fields(headerLines):
        message.set_raw(name, value)
    return message


def parse(data):
    """
    The header block at the start of C{data} (bytes) as a message without
    body (see L{toMessage}).
    """
    return toMessage(lines(data, find(data)))


def decodeWords(value):
    """
    Decode RFC 2047 encoded-words as C{email.header} does; undecodable
    text is returned as it is.
    """
    try:
        return str(email.header.make_header(email.header.decode_header(value)))
    except Exception:
        return value


def displayText(value):
    """
    A field's raw value as a person should read it: 8-bit bytes as UTF-8
    (else Latin-1), RFC 2047 encoded-words decoded (as C{policy.default}
    decodes unstructured fields), unfolded, each run of white space one
    space.
    """
    octets = value.encode("ascii", "surrogateescape")
    try:
        text = octets.decode("utf-8")
    except UnicodeDecodeError:
        text = octets.decode("latin-1")
    try:
        text = str(email.policy.default.header_factory("x-text", text))
    except Exception:
        pass
    return " ".join(text.split())


def read(f, limit):
    """
    Read the header block at the start of the open binary file C{f}, at
    most about C{limit} bytes of it.

    @return: C{(data, block)}: the bytes read (the block and possibly some
        of the body) and the L{HeaderBlock} in them.
    """
    wanted = min(_FIRST_READ, limit + 2)
    data = b""
    while True:
        more = f.read(wanted)
        data += more
        block = find(data, 0, limit)
        if (len(more) < wanted or len(data) > limit
                or (block.end < len(data)
                    and data.find(b"\n", block.end) >= 0)):
            return data, block
        wanted = min(len(data), limit + 2 - len(data))
