"""
Changing a message's data file while every byte that is not meant to change
stays identical: header fields are added, removed or replaced as raw lines,
a signature is appended as a MIME part inserted textually, and the body is
copied through unchanged, in chunks (a message of any size is rewritten
without being loaded whole).

Writing is atomic: the new message is written to a temporary file in the
data file's own directory (C{.pyfilter-*}), fsync'ed, given the original's
mode and owner, and renamed over the original; then the directory is
fsync'ed.  A crash at any point leaves either the old or the new data file
(at worst plus a stray temporary file).  This is safe with Courier because
its submit closes the data file before asking the filters and uses it only
by path after the reply (see L{pyfilter.courier.controledit} for what was checked);
Courier itself replaces the data file the same way when it rewrites MIME.

Header edits that leave the signed fields alone keep DKIM signatures valid:
nothing but the edited lines changes.
"""

import binascii
import os
import re
import secrets
import stat
import tempfile
import threading

from twisted.internet import defer

from pyfilter.files import fsyncPath

from pyfilter.courier import headerblock

#: Largest header block accepted, in bytes.
MAX_HEADER_BYTES = 1024 * 1024

_CHUNK = 1024 * 1024
_FIELD_NAME = re.compile(rb"^[\x21-\x39\x3b-\x7e]+$")
_CONTENT_FIELDS = {b"content-type", b"content-transfer-encoding",
                   b"content-disposition", b"content-description",
                   b"mime-version"}


class RewriteError(Exception):
    """
    The message cannot be rewritten (header block too large, invalid
    header, the rewrite was abandoned).
    """


class Abandoned(RewriteError):
    """
    The rewrite was cancelled before the new file replaced the old one.
    """


def _fieldName(raw):
    name, colon, _ = raw.partition(b":")
    return name.strip().lower() if colon else None


def _headerLine(name, value, eol):
    nameBytes = name.encode("ascii") if isinstance(name, str) else name
    if not _FIELD_NAME.match(nameBytes):
        raise RewriteError(f"invalid header name {name!r}")
    valueBytes = value.encode("utf-8") if isinstance(value, str) else value
    lines = [line[:-1] if line.endswith(b"\r") else line
             for line in valueBytes.split(b"\n")]
    for index, line in enumerate(lines):
        if any((b < 0x20 and b != 0x09) or b == 0x7F for b in line):
            raise RewriteError(f"control character in header value {value!r}")
        if index and not line[:1] in (b" ", b"\t"):
            raise RewriteError(f"header value {value!r} folded without "
                               f"leading white space")
    return nameBytes + b": " + eol.join(lines) + eol


def readHeaderBlock(path, limit=MAX_HEADER_BYTES):
    """
    The raw header fields of the message at C{path}, as the email package
    delimits the header block (L{pyfilter.courier.headerblock}): each field with
    its continuation lines and line ends; the offset where the header block
    ends (where its separator or the body's first line begins; the file
    size if there is neither), and the line end in use.

    @raise RewriteError: the header block is larger than C{limit} bytes.
    """
    with open(path, "rb") as f:
        data, block = headerblock.read(f, limit)
    if not block.complete:
        raise RewriteError(f"{path}: header block larger than {limit} bytes")
    fields = []
    for line in headerblock.rawLines(data, block):
        if line[:1] in (b" ", b"\t") and fields:
            fields[-1] += line
        else:
            fields.append(line)
    ends = fields[:1] or [data[block.end:block.body]]
    eol = b"\r\n" if ends[0].endswith(b"\r\n") else b"\n"
    if fields and not fields[-1].endswith((b"\n", b"\r")):
        fields[-1] += eol
    return fields, block.end, eol


class Rewrite:
    """
    Pending changes to one data file, written by L{commit}.

    @ivar fields: the raw header fields as they will be written.
    """

    def __init__(self, dataPath):
        self.dataPath = dataPath
        self.fields, self._bodyOffset, self.eol = readHeaderBlock(dataPath)
        self._original = list(self.fields)
        self._signaturePart = None

    def values(self, name):
        """
        The raw bytes of every field called C{name} (case-insensitive).
        """
        key = name.lower().encode("ascii")
        return [raw for raw in self.fields if _fieldName(raw) == key]

    def prependHeader(self, name, value):
        """
        Add C{name: value} above every other header (where trace headers
        go).
        """
        self.fields.insert(0, _headerLine(name, value, self.eol))

    def appendHeader(self, name, value):
        """
        Add C{name: value} after the last header.
        """
        self.fields.append(_headerLine(name, value, self.eol))

    def removeHeader(self, name, where=lambda raw: True):
        """
        Remove every field called C{name} for which C{where(raw bytes)} is
        true.

        @return: how many were removed.
        """
        key = name.lower().encode("ascii")
        kept = [raw for raw in self.fields
                if not (_fieldName(raw) == key and where(raw))]
        removed = len(self.fields) - len(kept)
        self.fields = kept
        return removed

    def replaceHeader(self, name, value):
        """
        Put C{name: value} where the first field C{name} is and remove the
        others; add it on top if there is none.
        """
        key = name.lower().encode("ascii")
        line = _headerLine(name, value, self.eol)
        positions = [i for i, raw in enumerate(self.fields)
                     if _fieldName(raw) == key]
        if not positions:
            self.fields.insert(0, line)
            return
        self.fields[positions[0]] = line
        for index in reversed(positions[1:]):
            del self.fields[index]

    def appendSignature(self, text):
        """
        Append C{text} as a C{text/plain} part: inserted before the closing
        boundary of a C{multipart/mixed} message, otherwise by wrapping the
        original content, unchanged, as the first part of a new
        C{multipart/mixed}.
        """
        eol = self.eol
        text = text.replace("\r\n", "\n")
        if not text.endswith("\n"):
            text += "\n"
        body = text.encode("utf-8")
        if body.isascii():
            headers = (b'Content-Type: text/plain; charset="us-ascii"' + eol
                       + b"Content-Transfer-Encoding: 7bit" + eol)
        else:
            headers = (b'Content-Type: text/plain; charset="utf-8"' + eol
                       + b"Content-Transfer-Encoding: quoted-printable" + eol)
            body = binascii.b2a_qp(body, istext=True)
        body = body.replace(b"\n", eol)
        self._signaturePart = headers + eol + body

    def _contentType(self):
        """
        The content type and boundary of the header block as it will be
        written, as the email package reads them.
        """
        headers = headerblock.parse(b"".join(self.fields) + self.eol)
        return headers.get_content_type(), headers.get_boundary()

    def _closingDelimiter(self, source, boundary):
        """
        The offset of the last closing delimiter line C{--boundary--} in
        the body, or C{None}.
        """
        delimiter = b"--" + boundary.encode("utf-8", "replace") + b"--"
        found = None
        source.seek(self._bodyOffset)
        offset = self._bodyOffset
        atLineStart = True
        for line in iter(lambda: source.readline(65536), b""):
            if atLineStart and line.rstrip(b" \t\r\n") == delimiter:
                found = offset
            atLineStart = line.endswith(b"\n")
            offset += len(line)
        return found

    def _plan(self, source):
        """
        The header bytes, then (offset, bytes to insert) pieces around the
        copied body.
        """
        if self._signaturePart is None:
            return b"".join(self.fields), []
        eol = self.eol
        contentType, boundary = self._contentType()
        if contentType == "multipart/mixed" and boundary:
            closing = self._closingDelimiter(source, boundary)
            if closing is not None:
                part = (b"--" + boundary.encode("utf-8") + eol
                        + self._signaturePart + eol)
                return b"".join(self.fields), [(closing, part)]
        boundary = ("=_pyfilter_" + secrets.token_hex(12)).encode("ascii")
        outer = [raw for raw in self.fields
                 if _fieldName(raw) not in _CONTENT_FIELDS]
        inner = [raw for raw in self.fields
                 if _fieldName(raw) in _CONTENT_FIELDS
                 and _fieldName(raw) != b"mime-version"]
        headers = b"".join(outer) + (
            b"MIME-Version: 1.0" + eol
            + b'Content-Type: multipart/mixed; boundary="' + boundary + b'"'
            + eol)
        size = os.fstat(source.fileno()).st_size
        start = eol + b"--" + boundary + eol + b"".join(inner)
        if self._bodyOffset == size:
            start += eol
        end = (eol + b"--" + boundary + eol + self._signaturePart + eol
               + b"--" + boundary + b"--" + eol)
        return headers, [(self._bodyOffset, start), (size, end)]

    @property
    def changed(self):
        return self._signaturePart is not None or self.fields != self._original

    def commit(self, proceed=lambda: True):
        """
        Write the new message and rename it over the data file, unless
        nothing changed.

        @param proceed: asked just before the rename; if false the new file
            is discarded and L{Abandoned} raised.
        @return: whether the data file was replaced.
        """
        if not self.changed:
            return False

        def write(source, target):
            headers, inserts = self._plan(source)
            target.write(headers)
            source.seek(self._bodyOffset)
            position = self._bodyOffset
            for offset, data in inserts + [(None, b"")]:
                _copy(source, target,
                      None if offset is None else offset - position)
                target.write(data)
                position = offset

        replaceFile(self.dataPath, write, proceed)
        return True


def replaceFile(path, write, proceed=lambda: True):
    """
    Replace C{path} atomically: C{write(source, target)} produces the new
    content into a temporary file in the same directory (C{source} is the
    original, open for reading); it is fsync'ed, given the original's mode
    and owner, and renamed over C{path}; then the directory is fsync'ed.

    @param proceed: asked just before the rename; if false the new file is
        discarded and L{Abandoned} raised.
    """
    directory = os.path.dirname(os.path.abspath(path))
    fd, temporary = tempfile.mkstemp(prefix=".pyfilter-", dir=directory)
    try:
        with open(path, "rb") as source, os.fdopen(fd, "wb") as target:
            original = os.fstat(source.fileno())
            write(source, target)
            target.flush()
            os.fchmod(target.fileno(), stat.S_IMODE(original.st_mode))
            try:
                os.fchown(target.fileno(), original.st_uid, original.st_gid)
            except PermissionError:
                pass
            os.fsync(target.fileno())
        if not proceed():
            raise Abandoned(f"rewrite of {path} abandoned")
        os.rename(temporary, path)
    except BaseException:
        try:
            os.unlink(temporary)
        except FileNotFoundError:
            pass
        raise
    fsyncPath(directory)


def _copy(source, target, length):
    """
    Copy C{length} bytes (everything if C{None}) in bounded chunks.
    """
    while length is None or length > 0:
        chunk = source.read(_CHUNK if length is None else min(_CHUNK, length))
        if not chunk:
            return
        target.write(chunk)
        if length is not None:
            length -= len(chunk)



def rewriteMessage(threads, dataPath, change):
    """
    Call C{change(rewrite)} with a L{Rewrite} of C{dataPath} and commit it,
    in a thread of C{threads} (a L{pyfilter.engine.threads.BoundedThreads}).

    @return: a Deferred firing with whether the file was replaced.
        Cancelling it (the chain's timeout) keeps the rename from happening
        if it has not happened yet.
    """
    cancelled = threading.Event()
    result = defer.Deferred(lambda _: cancelled.set())

    def work():
        rewrite = Rewrite(dataPath)
        change(rewrite)
        return rewrite.commit(proceed=lambda: not cancelled.is_set())

    def deliver(outcome, fire):
        if not result.called:
            fire(outcome)

    threads.run(work).addCallbacks(deliver, deliver,
                                   callbackArgs=(result.callback,),
                                   errbackArgs=(result.errback,))
    return result
