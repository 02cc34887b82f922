"""
The fuzzed properties of the request framing, the control-file parser and
the MIME scanner, shared by the CI-sized runs (tests/test_fuzz.py) and the
long run (reliability/fuzz.py): hypothesis strategies for hostile input and
one check per property that raises AssertionError when it is broken.
"""

import os
import re

from hypothesis import strategies as st
from twisted.internet.task import Clock
from twisted.logger import Logger

from pyfilter.courier import mime
from pyfilter.engine.chain import Chain, Entry
from pyfilter.courier.control import ControlFile, ControlFileError, ControlFiles
from pyfilter.daemon.requests import RequestHandler
from pyfilter.engine.message import Message
from pyfilter.daemon.protocol import LINGER_SECONDS, RequestFactory, RequestProtocol
from tests.helpers import HalfCloseTransport
from pyfilter.courier.spool import Spool

#: One reply line: three digits, a dash (more lines follow) or a space.
_REPLY_LINE = re.compile(rb"\d{3}[ -][^\r\n\x00]*\n")
REQUEST_TIMEOUT = 30

#: Bounds the fuzzed MIME scans run with (small, so that they are reached).
SCAN_PARTS = 64
SCAN_DEPTH = 6


class ReadsControl:
    """A filter that reads the message's paths and control files, then has
    no opinion: paths the fuzzer names get resolved, confined and read."""

    def consider(self, message):
        message.dataPath
        message.sender
        message.recipients
        message.remoteIP


# --- request framing -------------------------------------------------------

_pathBytes = st.one_of(
    st.binary(max_size=64),
    st.sampled_from([b"../../etc/passwd", b"/etc/passwd", b"tmp/x", b".",
                     b"..", b"/", b"\x00", b"\r", b"a\rb", b"\xff\xfe",
                     b"/proc/self/fd/0", b"x" * 5000]),
)

requestBytes = st.one_of(
    st.binary(max_size=512),
    st.lists(_pathBytes, max_size=6).map(
        lambda paths: b"".join(p + b"\n" for p in paths) + b"\n"),
    st.lists(_pathBytes, max_size=6).map(
        lambda paths: b"".join(p + b"\r\n" for p in paths)),
)

#: Where to cut the request into chunks (offsets, any order).
chunkCuts = st.lists(st.integers(min_value=0, max_value=600), max_size=8)


def framingVariants(data, cuts):
    """
    The inputs one generated request stands for: its own chunking, the
    whole request in one write, split at every line end, and cut short.
    """
    lineEnds = [i + 1 for i, byte in enumerate(data) if byte == 10]
    return [(data, cuts), (data, []), (data, lineEnds),
            (data[:len(data) // 2], cuts)]


def checkReply(written):
    """
    C{written} is exactly one well-formed reply: lines of three digits
    and a dash, the last of three digits and a space.
    """
    lines = _REPLY_LINE.findall(written)
    assert b"".join(lines) == written, f"malformed reply {written!r}"
    assert lines, "no reply"
    assert all(line[3:4] == b"-" for line in lines[:-1]), written
    assert lines[-1][3:4] == b" ", written


class FramingRig:
    """
    A request factory over a L{Clock} and a handler whose chain reads
    every message property, confined to the spool C{spool}.
    """

    def __init__(self, spool):
        self.spool = spool
        self.events = []

    def quiet(self, patch):
        """
        Send the daemon classes' log events to L{events} instead of the
        global log (C{patch(object, name, value)} as trial's
        C{TestCase.patch}).
        """
        logger = Logger(observer=self.events.append)
        for cls in (Chain, RequestHandler, RequestProtocol):
            patch(cls, "log", logger)

    def run(self, data, cuts):
        """
        Feed C{data} to one connection in the chunks C{cuts} makes, let
        the request timeout pass; check the property.
        """
        clock = Clock()
        handler = RequestHandler(Spool(self.spool, os.path.join(self.spool, "tmp")))
        handler.setChain(Chain([Entry("reads", ReadsControl())], clock))
        factory = RequestFactory(handler, clock, REQUEST_TIMEOUT)
        factory.doStart()
        protocol = factory.buildProtocol(None)
        transport = HalfCloseTransport()
        protocol.makeConnection(transport)
        offsets = sorted({c for c in cuts if 0 < c < len(data)})
        for start, end in zip([0] + offsets, offsets + [len(data)]):
            if transport.disconnecting:
                break
            protocol.dataReceived(data[start:end])
        clock.advance(REQUEST_TIMEOUT + 1)
        clock.advance(LINGER_SECONDS + 1)
        factory.doStop()
        checkReply(transport.value())
        assert transport.disconnecting or transport.disconnected, \
            "connection left open"
        protocol.connectionLost(None)
        assert not factory.connections, "connection still tracked"
        assert not clock.getDelayedCalls(), clock.getDelayedCalls()
        del self.events[:]


# --- control files -----------------------------------------------------------

_letters = st.sampled_from(list("sfeMitEpWvXuUw8mVTrRNSFOKdxbB") + ["\x00",
                           "\xff", " "])
_values = st.one_of(
    st.binary(max_size=40),
    st.sampled_from([b"TCPREMOTEIP=", b"TCPREMOTEIP=::ffff:1.2.3.4",
                     b"TCPREMOTEIP=[::1]", b"TCPREMOTEIP=1.2.3.4%eth0",
                     b"TCPREMOTEIP=\xff", b"TCPREMOTEIP=999.1.1.1",
                     b"TCPREMOTEIP=fe80::1%25x", b"dns; a (b [1.2.3.4])",
                     b"0 12345", b"-1", b"99999999999999999999", b"\r",
                     b"\xc3\x28", b"user@\xe4.example"]),
)
controlRecord = st.tuples(_letters, _values).map(
    lambda r: r[0].encode("latin-1") + r[1])
controlFileBytes = st.one_of(
    st.binary(max_size=300),
    st.lists(controlRecord, max_size=20).map(
        lambda records: b"\n".join(records) + b"\n"),
)
controlFileSets = st.lists(controlFileBytes, min_size=0, max_size=3)


def controlVariants(files):
    """
    The inputs one generated set of control files stands for: the set,
    each file cut after every record in turn (a file Courier was still
    writing), and the first file alone.
    """
    variants = [files, files[:1]]
    for index, data in enumerate(files):
        for end in [i + 1 for i, byte in enumerate(data) if byte == 10][:8]:
            variants.append(files[:index] + [data[:end]] + files[index + 1:])
    return variants


def checkControl(files):
    """
    Parsing C{files} (bytes of each control file) and reading every
    Message property raises nothing but L{ControlFileError}.
    """
    try:
        control = ControlFiles([ControlFile.parse(f"c{i}", data)
                                for i, data in enumerate(files)])
        message = Message("D", [f"c{i}" for i in range(len(files))],
                          control=control)
        for name in ("sender", "recipients", "authUser", "messageId",
                     "receivedFrom", "helo", "remoteIP"):
            getattr(message, name)
        for letter in "sfeMitEpWvXuU":
            control.scalar(letter)
            control.first(letter)
            control.flag(letter)
        control.values("O")
        control.environment("TCPREMOTEIP")
        for recipient in control.recipients:
            recipient.triple
    except ControlFileError:
        pass


# --- MIME -----------------------------------------------------------------------

_boundaries = st.sampled_from([b"b", b"B1", b"=_x", b"", b" ", b"--",
                               b"\xff", b"a" * 100, b"\"q\""])
_filenames = st.sampled_from([
    b"filename=evil.exe", b"filename*=UTF-8''%65vil.exe",
    b"filename*0*=UTF-8''e; filename*1=vil; filename*2=.exe",
    b"filename*=x''", b"filename*=''''", b"filename*0=a; filename*99=b",
    b"filename*=UTF-8'en'%ZZ%", b"filename*=utf-16''%ff%fe",
    b"filename*1*=%; filename*0*='';", b"name=\"=?utf-8?B?ZXZpbC5leGU=?=\"",
    b"name==?x?Q?=ff?=", b"filename=\"unterminated", b"filename*=\x00",
])
_headerLines = st.one_of(
    st.binary(max_size=60),
    _filenames.map(lambda f: b"Content-Disposition: attachment; " + f),
    _filenames.map(lambda f: b"Content-Type: application/octet-stream; "
                   + f),
    st.just(b"Content-Type: message/rfc822"),
    st.just(b"Content-Type: multipart/mixed"),
    st.just(b"Content-Transfer-Encoding: base64"),
    st.just(b" folded continuation"),
)


def _entity(children):
    """A MIME entity with C{children} (entities) under a random boundary."""
    return st.tuples(_boundaries, st.lists(_headerLines, max_size=4),
                     st.sampled_from([b"\n", b"\r\n"]),
                     st.sampled_from([b"", b"--", b" ", b"-"]),
                     children).map(_render)


def _render(parts):
    boundary, headers, newline, closing, children = parts
    head = b"Content-Type: multipart/mixed; boundary=\"" + boundary + b"\"" \
        + newline + newline.join(headers) + newline + newline
    body = b"".join(b"--" + boundary + newline + child + newline
                    for child in children)
    return head + body + b"--" + boundary + closing + newline


mimeLeaf = st.one_of(
    st.lists(_headerLines, max_size=4).map(
        lambda h: b"\n".join(h) + b"\n\nbody\n"),
    st.binary(max_size=80),
    st.just(b"Content-Type: message/rfc822\n\n"),
)
mimeMessage = st.one_of(
    st.binary(max_size=400),
    st.recursive(mimeLeaf, lambda children: _entity(
        st.lists(children, max_size=4)), max_leaves=12),
)


def mimeVariants(data):
    """
    The inputs one generated message stands for: itself, with CRLF line
    ends, and cut in the middle (a truncated message).
    """
    return [data, data.replace(b"\n", b"\r\n"), data[:len(data) // 2]]


def checkMime(path, data):
    """
    The scanner returns for C{data} (written to C{path}) within its
    bounds, and every part's file name and type can be read.
    """
    with open(path, "wb") as f:
        f.write(data)
    structure = mime.scanStructure(path, maxParts=SCAN_PARTS,
                                   maxDepth=SCAN_DEPTH)
    assert 1 <= len(structure.parts) <= SCAN_PARTS, len(structure.parts)
    for part in structure.parts:
        assert part.depth <= SCAN_DEPTH
        part.filename
        part.isMultipart
    mime.readHeaders(path).items()
