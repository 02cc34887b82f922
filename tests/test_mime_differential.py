"""
The attachments filter against the standard library's email package, on
generated hostile messages: every name the email package finds must be
among the names the filter tests, unless the filter refuses the message as
too complex.

What the email package finds (L{emailFinds}): C{get_filename()} of every
non-multipart part of the message parsed from its file with C{compat32}
(as courier-pythonfilter walks it) and with C{policy.default}, raw and RFC
2047 decoded; and every C{filename} and
C{name} parameter of every C{Content-Disposition} and C{Content-Type}
field of every part, as compat32's C{get_params()} and C{policy.default}'s
C{params} read it.  What the filter tests is recorded by running the
filter itself with a pattern that records every name it is asked to match.

The generator (L{messages}) builds MIME trees with every anomaly the
scanner must either follow or refuse to trust: every C{message/*} type and
C{multipart/digest} parts without type, header blocks ended by NUL,
colon-less, C{From } and boundary lines or by nothing, lone CR line ends,
empty, prefix and repeated boundaries, boundary lines with trailing blanks
or junk, inner closing lines that are outer delimiters, over-long header
blocks (the scanner's bound lowered), duplicate and malformed
C{Content-Type} fields, multiparts without boundary, names encoded every
way (RFC 2231 sections and duplicates, RFC 2047, comments, quoted pairs,
folding, NULs); then mutates the bytes.  reliability/mimediff.py runs the
same property much longer.
"""

import base64
import os
import tempfile
import urllib.parse
from email import policy as policies
from email.message import Message as EmailPackageMessage
from email.parser import BytesParser

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from twisted.internet import defer
from twisted.trial.unittest import SynchronousTestCase

from pyfilter.courier import mime
from pyfilter.courier.control import ControlFile, ControlFiles
from pyfilter.engine.loader import makeFilter
from pyfilter.engine.message import Message
from pyfilter.config.modulesfile import ModulesConfig

from filters.attachments import BLACKLISTED, TOO_COMPLEX

#: Generated messages in the CI-sized run (about 20 s on the test machine;
#: PYFILTER_MIMEDIFF_EXAMPLES overrides).
EXAMPLES = int(os.environ.get("PYFILTER_MIMEDIFF_EXAMPLES", "1000"))
#: The scanner's header block bound while generated messages are checked,
#: so that over-long blocks are cheap to make.
SMALL_HEADER_BOUND = 512

# --- what the email package finds --------------------------------------------

_NAME_FIELDS = ("content-disposition", "content-type")


def _decoded(name):
    from email.header import decode_header, make_header
    try:
        return str(make_header(decode_header(name)))
    except Exception:
        return name


def _normalized(value):
    return value.replace("\r\n", "\n").replace("\r", "\n")


def emailStructure(path, policy):
    """
    The parts the email package finds in the message at C{path}, in walk
    order, as C{(content type, raw fields)}, line ends as LF.
    """
    with open(path, "rb") as f:
        message = BytesParser(policy=policy).parse(f)
    return [(part.get_content_type(),
             [(name, _normalized(value)) for name, value in part.raw_items()])
            for part in message.walk()]


def scannerStructure(structure):
    """
    The parts the scanner found, as L{emailStructure} gives them.
    """
    return [(part.contentType,
             [(name, _normalized(value))
              for name, value in part.headers.raw_items()])
            for part in structure.parts]


def emailFinds(path):
    """
    What the email package finds in the message at C{path}.

    @return: C{(names, failures)}: the set of names, and the descriptions
        of the email package's exceptions while reading them.
    """
    names, failures = set(), []
    for policy in (policies.compat32, policies.default):
        try:
            with open(path, "rb") as f:
                parts = list(BytesParser(policy=policy).parse(f).walk())
        except Exception as e:
            failures.append(f"{policy}: parsing: {e!r}")
            continue
        for part in parts:
            _partFinds(part, policy, names, failures)
    names.discard(None)
    names.discard("")
    return names, failures


def _partFinds(part, policy, names, failures):
    try:
        if part.get_content_maintype() != "multipart":
            name = part.get_filename()
            if name:
                names.update((name, _decoded(name)))
        for key, value in part.raw_items():
            if key.lower() not in _NAME_FIELDS:
                continue
            single = EmailPackageMessage()
            single.set_raw(key, value)
            from email.utils import collapse_rfc2231_value
            names.update(collapse_rfc2231_value(found) for param, found
                         in single.get_params([], header=key)[1:]
                         if param in ("filename", "name"))
            header = policies.default.header_fetch_parse(key, value)
            names.update(found for param, found in header.params.items()
                         if param in ("filename", "name"))
    except Exception as e:
        failures.append(f"{policy}: {e!r}")


# --- what the filter tests ---------------------------------------------------

class _RecordingPattern:
    """
    Stands in for the compiled C{blocked_pattern}: records every name the
    filter asks it to match, matches none.
    """

    def __init__(self):
        self.tested = set()

    def match(self, name):
        self.tested.add(name)
        return None


class _ImmediateThreads:
    def run(self, function, *args):
        return defer.maybeDeferred(function, *args)


class _Context:
    threads = _ImmediateThreads()


def attachmentsFilter():
    """
    The attachments filter with its default options, running its blocking
    calls at once.
    """
    instance = makeFilter("attachments", ModulesConfig(), None)
    instance.context = _Context()
    return instance


class FilterRig:
    """
    The attachments filter, with a recording pattern, over one data file.
    """

    def __init__(self, path):
        self.path = path
        self.filter = attachmentsFilter()
        self.control = ControlFiles([ControlFile.parse("c", b"MX\n")])

    @classmethod
    def forTest(cls, testCase):
        """
        A rig over a temporary file that C{testCase} removes.
        """
        fd, path = tempfile.mkstemp(prefix="pyfilter-mime-")
        os.close(fd)
        testCase.addCleanup(os.unlink, path)
        return cls(path)

    def tested(self, data):
        """
        Write C{data} to the data file and run the filter.

        @return: C{(names tested, reply)}.
        """
        with open(self.path, "wb") as f:
            f.write(data)
        pattern = _RecordingPattern()
        self.filter.config["blocked_pattern"] = pattern
        message = Message(self.path, [], control=self.control)
        result = []
        defer.maybeDeferred(self.filter.consider, message).addBoth(
            result.append)
        reply, = result
        return pattern.tested, reply


class Counts:
    """
    What a run saw: messages, refused ones, ones read by the email package,
    names compared.
    """

    def __init__(self):
        self.messages = self.refused = self.emailPath = self.names = 0

    def asDict(self):
        return {"messages": self.messages, "refused": self.refused,
                "readByEmailPackage": self.emailPath, "names": self.names}


def checkMessage(rig, data, counts=None):
    """
    The property for one message: the filter accepts it having tested
    every name the email package finds, or refuses it as too complex.

    @raise AssertionError: it does not hold.
    """
    tested, reply = rig.tested(data)
    assert reply in (None, TOO_COMPLEX), f"unexpected reply {reply!r}"
    structure = mime.scanStructure(rig.path)
    if counts is not None:
        counts.messages += 1
        counts.refused += reply is TOO_COMPLEX
        counts.emailPath += structure.anomaly is not None
    if structure.anomaly is None and not structure.truncated:
        mine = scannerStructure(structure)
        for policy in (policies.compat32, policies.default):
            assert mine == emailStructure(rig.path, policy), (
                f"the scanner and the email package ({policy}) see "
                f"different parts in {data!r}")
    if reply is TOO_COMPLEX:
        return
    found, failures = emailFinds(rig.path)
    assert not failures, (f"the email package failed on {failures} and the "
                          f"filter accepted {data!r}")
    missing = found - tested
    assert not missing, (f"names the email package finds and the filter "
                         f"does not test: {sorted(missing)!r} in {data!r} "
                         f"(anomaly: {structure.anomaly})")
    if counts is not None:
        counts.names += len(found)


# --- generated messages ------------------------------------------------------

_NAMES = [b"evil.exe", b"EVIL.Exe", b"report.pdf", b"a.b.scr.", b"x y.js",
          b"\xe9vil.exe", b"evil.exe.txt", b"e;vil.exe", b'e"vil.exe']
_BOUNDARIES = [b"b", b"b-", b"b--", b"bb", b"", b"=_b", b"b c", b"-", b"b:1"]
_LEAF_TYPES = [b"text/plain", b"application/octet-stream", b"TEXT/Plain",
               b"text/plain (c)", b"text", b"a/b/c", b"=?utf-8?q?t?=/x",
               b"text/\xe9", b"application/x-msdownload"]
_MESSAGE_TYPES = [b"message/rfc822", b"message/global", b"message/partial",
                  b"message/external-body", b"message/x-any",
                  b"MESSAGE/RFC822", b"message/delivery-status",
                  b"message/disposition-notification"]
_MULTIPART_TYPES = [b"multipart/mixed", b"multipart/digest",
                    b"multipart/alternative", b"Multipart/Mixed",
                    b"multipart/x-any", b"multipart/report"]
_JUNK_LINES = [b"X-A: 1", b"From x", b"From ", b":x", b" cont", b"\tcont",
               b"\x00", b"\x00X: y", b"no colon", b"\xff: x", b"X\xff: y",
               b"Content-Type : a/b", b"--b", b"--b: x", b"", b"MIME-Version: 1.0"]
_BODY_LINES = [b"body", b"", b"--b", b"--b--", b"-- b", b"From x", b"--",
               b"----", b"Content-Disposition: attachment; filename=evil.exe",
               b"\r", b"--bb", b"--b \t", b"--b--junk"]


def _percent(name):
    return urllib.parse.quote_from_bytes(name).encode("ascii")


def _nameParameter(draw):
    """
    One way of giving a name (a list of lines: continuations fold).
    """
    name = draw(st.sampled_from(_NAMES))
    key = draw(st.sampled_from([b"filename", b"name", b"FileName"]))
    half = len(name) // 2
    words = base64.b64encode(name)
    forms = [
        [key + b'="' + name + b'"'],
        [key + b"=" + name],
        [key + b"*=utf-8''" + _percent(name)],
        [key + b"*=''" + name],
        [key + b"*=iso-8859-1'en'" + _percent(name)],
        [key + b'*0="' + name[:half] + b'"; ' + key + b'*1="' + name[half:]
         + b'"'],
        [key + b"*0*=utf-8''" + _percent(name[:half]) + b"; " + key + b"*1*="
         + _percent(name[half:])],
        [key + b"*0=a; " + key + b"*0=" + name[:half] + b"; " + key + b"*1="
         + name[half:]],
        [key + b"*=x; " + key + b"*0=" + name],
        [key + b'="=?utf-8?b?' + words + b'?="'],
        [key + b"==?utf-8?q?" + name + b"?="],
        [key + b"=" + name + b"(comment)"],
        [key + b"=(c)" + name],
        [key + b"=" + name[:half] + b"(x)" + name[half:]],
        [key + b'="' + name[:half] + b"\\" + name[half:] + b'"'],
        [key + b'="<' + name + b'>"'],
        [key + b'="' + name[:half], b" " + name[half:] + b'"'],
        [key + b'="' + name + b'\x00.txt"'],
        [key + b" = " + name],
        [key + b"=" + name + b"; " + key + b"=report.pdf"],
        [key + b"=report.pdf; " + key + b"=" + name],
    ]
    return draw(st.sampled_from(forms))


@st.composite
def _nameLine(draw, field=None):
    field = field or draw(st.sampled_from([b"Content-Disposition: attachment",
                                           b"Content-Disposition: inline",
                                           b"Content-Disposition:"]))
    lines = _nameParameter(draw)
    return [field + b"; " + lines[0]] + lines[1:]


@st.composite
def _typeLine(draw, types=_LEAF_TYPES):
    field = b"Content-Type: " + draw(st.sampled_from(types))
    if draw(st.booleans()):
        return draw(_nameLine(field))
    return [field]


_header = st.one_of(
    _nameLine(), _nameLine(),
    st.sampled_from(_JUNK_LINES).map(lambda line: [line]),
)


@st.composite
def _headers(draw, typeLines):
    """
    Header lines: others, then the type lines at some place, and rarely a
    second Content-Type field.
    """
    lines = draw(st.lists(_header, max_size=3))
    lines.insert(draw(st.integers(0, len(lines))), typeLines)
    if draw(st.integers(0, 59)) == 0:
        lines.insert(draw(st.integers(0, len(lines))), draw(_typeLine()))
    return sum(lines, [])


@st.composite
def _separator(draw):
    return draw(st.sampled_from([[b""], [b""], [b""], [], [b"\x00"],
                                 [b"junk"], [b"From y"]]))


@st.composite
def _leaf(draw):
    typeLines = draw(st.one_of(st.just([]), _typeLine()))
    body = draw(st.lists(st.sampled_from(_BODY_LINES), max_size=3))
    return draw(_headers(typeLines)) + draw(_separator()) + body


def _boundaryParameter(draw, boundary):
    return draw(st.sampled_from([
        b'boundary="' + boundary + b'"', b"boundary=" + boundary,
        b'BOUNDARY="' + boundary + b'"', b"boundary*=''" + boundary,
        b'boundary="' + boundary + b'" (c)',
        b'boundary="' + boundary + b'"; boundary="bb"', b"boundary=",
        b'boundary="' + boundary + b' "', b'boundary="=?utf-8?q?b?="',
        b'charset=x; boundary="' + boundary + b'"',
    ] + [b'boundary="' + boundary + b'"'] * 8))


def _delimiter(draw, boundary, closing=False):
    end = b"--" if closing else b""
    return draw(st.sampled_from([
        b"--" + boundary + end + b" \t", b"--" + boundary + end + b"x",
        b"--" + boundary + end + b"\x0c", b" --" + boundary + end,
        b"--" + boundary + b"--" if not closing else b"--" + boundary,
    ] + [b"--" + boundary + end] * 10))


@st.composite
def _multipart(draw, children):
    boundary = draw(st.sampled_from(_BOUNDARIES))
    kind = draw(st.sampled_from(_MULTIPART_TYPES))
    field = [b"Content-Type: " + kind + b"; "
             + _boundaryParameter(draw, boundary)]
    if draw(st.booleans()):
        field = [b"Content-Type: " + kind + b";",
                 b"\t" + _boundaryParameter(draw, boundary)]
    lines = draw(_headers(field)) + draw(_separator())
    lines += draw(st.lists(st.sampled_from(_BODY_LINES), max_size=2))
    for child in draw(st.lists(children, max_size=4)):
        lines += [_delimiter(draw, boundary)]
        lines += draw(st.lists(st.sampled_from([b"--" + boundary]),
                               max_size=1))
        lines += child
    if draw(st.integers(0, 4)):
        lines += [_delimiter(draw, boundary, closing=True)]
    lines += draw(st.lists(st.sampled_from(_BODY_LINES), max_size=2))
    return lines


@st.composite
def _message(draw, inner):
    typeLines = draw(_typeLine(_MESSAGE_TYPES))
    separator = draw(st.one_of(*[st.just([b""])] * 9 + [_separator()]))
    return draw(_headers(typeLines)) + separator + draw(inner)


_entity = st.recursive(
    _leaf(), lambda children: st.one_of(_multipart(children),
                                       _message(children)),
    max_leaves=10)


@st.composite
def _longHeader(draw):
    return [b"X-Long: " + b"a" * draw(st.integers(SMALL_HEADER_BOUND - 40,
                                                  SMALL_HEADER_BOUND + 40))]


@st.composite
def messages(draw):
    """
    A generated hostile message, as bytes.
    """
    lines = draw(_entity)
    if draw(st.integers(0, 9)) == 0:
        where = draw(st.integers(0, len(lines)))
        lines[where:where] = draw(_longHeader())
    if draw(st.integers(0, 19)) == 0:
        lines.insert(0, b"From sender@example.org Mon Jan  1 00:00:00 2024")
    eol = draw(st.sampled_from([b"\n", b"\r\n", None]))
    if eol is None:
        random = draw(st.randoms(use_true_random=False))
        data = b"".join(line + random.choice([b"\n", b"\r\n", b"\r"])
                        for line in lines)
    else:
        data = eol.join(lines) + eol
    for position, replacement, length in draw(st.lists(st.tuples(
            st.floats(0, 1), st.sampled_from([b"", b"\r", b"\n", b"\x00",
                                               b"-", b":", b" ", b"\r\n",
                                               b"\n\n", b";", b'"']),
            st.integers(0, 3)), max_size=3)):
        at = int(position * len(data))
        data = data[:at] + replacement + data[at + length:]
    return data


def differentialSettings(examples, derandomize=True):
    """
    The hypothesis settings of a run (derandomised: a failure reproduces).
    """
    return settings(max_examples=examples, deadline=None,
                    derandomize=derandomize, database=None,
                    suppress_health_check=list(HealthCheck))


class DifferentialTests(SynchronousTestCase):
    def setUp(self):
        self.rig = FilterRig.forTest(self)
        self.patch(mime, "MAX_HEADER_BYTES", SMALL_HEADER_BOUND)

    def test_generatedMessages(self):
        """Every name the email package finds in a generated hostile
        message is tested by the filter, or the filter refuses it."""
        counts = Counts()

        @differentialSettings(EXAMPLES)
        @given(data=messages())
        def check(data):
            checkMessage(self.rig, data, counts)
        check()
        self.assertGreater(counts.emailPath, EXAMPLES // 10)
        self.assertLess(counts.refused, counts.messages // 4)

    def test_blockedNameRefused(self):
        """The recording rig is the real filter: with the default pattern,
        a generated blocked name gets the 554."""
        self.rig.filter = attachmentsFilter()
        data = (b"Content-Type: multipart/mixed; boundary=b\n\n--b\n"
                b"Content-Type: message/global\n\nContent-Disposition: "
                b"attachment; filename*0=ev; filename*1=il.exe\n\n--b--\n")
        with open(self.rig.path, "wb") as f:
            f.write(data)
        message = Message(self.rig.path, [], control=self.rig.control)
        result = []
        defer.maybeDeferred(self.rig.filter.consider, message).addBoth(
            result.append)
        self.assertEqual(result, [BLACKLISTED])
