"""
Named regression tests for the message shapes of issue 13: messages in
which the email package (and so courier-pythonfilter) finds C{evil.exe}
but pyfilter's scanner before the fix saw no part, or another name.  Each
test checks that the email package does find the name, and that the
attachments filter refuses the message, by its own scan where it follows
the email package's rules, or through the email package where the scanner
reports an anomaly; and the header-block reader's rules themselves.
"""

import email
import os

from twisted.internet import defer
from twisted.trial.unittest import SynchronousTestCase

from pyfilter.courier import emailscan
from pyfilter.courier import headerblock
from pyfilter.courier import mime
from tests.test_mime_differential import attachmentsFilter, emailFinds
from tests.helpers import writeMessage

from filters.attachments import BLACKLISTED, TOO_COMPLEX

EVIL = b"Content-Type: application/octet-stream; name=\"evil.exe\"\n\nAAAA\n"


def filterReply(message):
    """
    The attachments filter's reply to C{message} (its blocking calls run at
    once).
    """
    result = []
    defer.maybeDeferred(attachmentsFilter().consider,
                        message).addBoth(result.append)
    return result[0]


class ShapeTests(SynchronousTestCase):
    """
    Each shape: the email package finds evil.exe; the filter refuses it.
    """

    def verdict(self, data, anomaly=None, reply=BLACKLISTED):
        """
        Check C{data}: the email package finds C{evil.exe}, the scanner
        reports C{anomaly} (a substring of its reason, or C{None} for none)
        and the filter answers C{reply}.
        """
        message = writeMessage(self, ["ssender@example.org"], data)
        found, _ = emailFinds(message.dataPath)
        self.assertIn("evil.exe", found)
        structure = mime.scanStructure(message.dataPath)
        if anomaly is None:
            self.assertIsNone(structure.anomaly)
        else:
            self.assertIn(anomaly, structure.anomaly or "")
        self.assertEqual(filterReply(message), reply)
        return structure

    def test_everyMessageType(self):
        """Every message/* type holds a message whose parts are checked, not
        only message/rfc822."""
        for kind in (b"message/global", b"message/partial",
                     b"message/external-body", b"message/x-anything",
                     b"MESSAGE/RFC822"):
            structure = self.verdict(
                b"Content-Type: multipart/mixed; boundary=b\n\n--b\n"
                b"Content-Type: " + kind + b"\n\nSubject: inner\n" + EVIL
                + b"--b--\n")
            self.assertIn("application/octet-stream",
                          [part.contentType for part in structure.parts])

    def test_digestPartsAreMessages(self):
        """A multipart/digest's parts without Content-Type are
        message/rfc822: the message inside each is read."""
        structure = self.verdict(
            b"Content-Type: multipart/digest; boundary=d\n\n--d\n\n"
            + EVIL + b"--d--\n")
        self.assertEqual([part.contentType for part in structure.parts],
                         ["multipart/digest", "message/rfc822",
                          "application/octet-stream"])

    def test_nulLineEndsHeaderBlock(self):
        """A NUL byte line ends the header block: what follows is body, so
        the harmless Content-Disposition after it names nothing."""
        self.verdict(b"Content-Type: multipart/mixed; boundary=b\n\n--b\n"
                     b"Content-Type: application/octet-stream; "
                     b"name=evil.exe\n\x00\nContent-Disposition: attachment; "
                     b"filename=harmless.txt\n\nAAAA\n--b--\n")

    def test_colonlessLineEndsHeaderBlock(self):
        """A line without colon (or with 8-bit bytes in its name) ends the
        header block."""
        for line in (b"no colon here", b"X-\xe9: y", b"Content-Type : x"):
            self.verdict(b"Content-Type: application/octet-stream; "
                         b"name=evil.exe\n" + line + b"\nContent-Disposition: "
                         b"attachment; filename=harmless.txt\n\nAAAA\n")

    def test_boundaryLineEndsHeaderBlock(self):
        """A boundary line ends a part's header block even without a blank
        line before it."""
        structure = self.verdict(
            b"Content-Type: multipart/mixed; boundary=b\n\n--b\n"
            b"Content-Type: application/octet-stream; name=evil.exe\n--b\n"
            b"Content-Disposition: attachment; filename=harmless.txt\n\n"
            b"AAAA\n--b--\n")
        self.assertEqual(len(structure.parts), 3)

    def test_loneCarriageReturnEndsLines(self):
        """A lone CR ends a line, for header lines and boundary lines
        alike."""
        self.verdict(b"Content-Type: multipart/mixed; boundary=b\r\r--b\r"
                     b"Content-Type: text/plain\r\rhi\r--b\rContent-Type: "
                     b"application/octet-stream; name=evil.exe\r\rAAAA\r"
                     b"--b--\r")

    def test_emptyBoundary(self):
        """boundary="" makes every line '--' a delimiter: the email package
        reads the message."""
        self.verdict(b'Content-Type: multipart/mixed; boundary=""\n\n--\n'
                     + EVIL + b"----\n", anomaly="empty boundary")

    def test_outerDelimiterBeatsInnerClose(self):
        """A line that closes the inner multipart and is a delimiter of the
        outer one is the outer delimiter: a new outer part starts."""
        structure = self.verdict(
            b'Content-Type: multipart/mixed; boundary="b--"\n\n--b--\n'
            b'Content-Type: multipart/mixed; boundary="b"\n\n--b\n'
            b"Content-Type: text/plain\n\nhi\n--b--\n" + EVIL + b"--b----\n")
        self.assertEqual(structure.parts[-1].names, frozenset({"evil.exe"}))

    def test_boundaryTrailingBlanksOnly(self):
        """Only spaces and tabs may follow a boundary: '--b--' then a form
        feed does not close the multipart, '--b' then spaces delimits."""
        self.verdict(b"Content-Type: multipart/mixed; boundary=b\n\n--b \t\n"
                     b"Content-Type: text/plain\n\nhi\n--b--\x0c\n--b\t\n"
                     + EVIL + b"--b--\n")

    def test_consecutiveBoundaryLines(self):
        """Boundary lines right after a delimiter (a closing one included)
        are skipped by the email package: the part after them counts."""
        self.verdict(b"Content-Type: multipart/mixed; boundary=b\n\n--b\n"
                     b"--b--\n" + EVIL + b"--b--\n",
                     anomaly="right after a delimiter")

    def test_headerBlockOverBound(self):
        """A part header block longer than the scanner's bound is read by
        the email package, not taken for body."""
        self.verdict(b"Content-Type: multipart/mixed; boundary=b\n\n--b\n"
                     b"X-Pad: " + b"a" * (mime.MAX_HEADER_BYTES + 10)
                     + b"\n" + EVIL + b"--b--\n", anomaly="header block over")

    def test_fromLineEndsHeaderBlock(self):
        """A 'From ' line ending a header block belongs to the body."""
        self.verdict(b"Content-Type: message/rfc822\nFrom x\n\n" + EVIL,
                     anomaly="'From ' line")

    def test_headerLineStartingWithDashes(self):
        """A header line that may be a boundary line (a boundary with a
        colon) is left to the email package."""
        self.verdict(b'Content-Type: multipart/mixed; boundary="b:x"\n\n'
                     b"--b:x\nContent-Type: text/plain\n--b:x\n" + EVIL
                     + b"--b:x--\n", anomaly="starting with '--'")

    def test_nonAsciiContentType(self):
        """A Content-Type with 8-bit bytes (the two policies read it
        differently) is read by the email package."""
        self.verdict(b'Content-Type: multipart/mixed; boundary="b"; '
                     b'x="\xe9"\n\n--b\n' + EVIL + b"--b--\n",
                     anomaly="not plain")

    def test_encodedWordBoundary(self):
        """An encoded-word boundary: compat32 and policy.default read
        different boundaries; both readings are checked."""
        data = (b'Content-Type: multipart/mixed; boundary="=?utf-8?q?b?="'
                b"\n\n--=?utf-8?q?b?=\nContent-Type: text/plain\n\nhi\n--b\n"
                + EVIL + b"--b--\n")
        self.verdict(data, anomaly="not plain")

    def test_deliveryStatusBlocks(self):
        """The blocks of a message/delivery-status part are parts of their
        own, whose names are checked."""
        structure = self.verdict(
            b"Content-Type: multipart/report; boundary=b\n\n--b\n"
            b"Content-Type: message/delivery-status\n\nReporting-MTA: dns; x"
            b"\n\nFinal-Recipient: rfc822; a@b\nContent-Disposition: "
            b"attachment; filename=evil.exe\n\n--b--\n")
        self.assertEqual([part.contentType for part in structure.parts],
                         ["multipart/report", "message/delivery-status",
                          "text/plain", "text/plain"])

    def test_multipartWithoutBoundary(self):
        """A multipart without boundary has no parts for the email package;
        its own name is checked."""
        self.verdict(b"Content-Type: multipart/mixed; name=evil.exe\n\n"
                     b"--x\n" + EVIL)

    def test_differentContentTypesRefused(self):
        """A part with two different Content-Type fields is refused as too
        complex: a client reading the second sees other parts."""
        message = writeMessage(self, ["ssender@example.org"], (
            b"Content-Type: text/plain\nContent-Type: multipart/mixed; "
            b"boundary=b\n\n--b\n" + EVIL + b"--b--\n"))
        result = emailscan.emailNames(message.dataPath)
        self.assertIn("different Content-Type", result.refused)
        self.assertIn("different Content-Type",
                      mime.scanStructure(message.dataPath).anomaly)

    def test_unreadableNameRefused(self):
        """A name the email package crashes on (RFC 2231 sections mixed with
        a plain starred value) refuses the message: courier-pythonfilter
        would fail open there."""
        data = (b"Content-Type: application/octet-stream\n"
                b"Content-Disposition: attachment; filename*=x; "
                b"filename*0=evil.exe\n\nAAAA\n")
        message = writeMessage(self, ["ssender@example.org"], data)
        self.assertRaises(TypeError,
                          email.message_from_bytes(data).get_filename)
        self.assertEqual(filterReply(message), TOO_COMPLEX)


class FailingParserTests(SynchronousTestCase):
    def test_policyDefaultFailureRefused(self):
        """A message that policy.default's parser raises on (a parameter
        name cut by a lone CR) is refused: what a program built on it would
        see cannot be known."""
        data = (b"Content-Type: message/rfc822; filename*\r=x\n\n"
                b"Content-Disposition: attachment; filename=a.txt\n\n")
        message = writeMessage(self, ["ssender@example.org"], data)
        self.assertIn("IndexError", emailscan.emailNames(
            message.dataPath).refused)
        self.assertEqual(filterReply(message), TOO_COMPLEX)


class NameTests(SynchronousTestCase):
    """
    Beyond the reference: every name a client may use is tested.
    """

    def names(self, headerText):
        path = self.mktemp()
        with open(path, "wb") as f:
            f.write(headerText + b"\n\nAAAA\n")
        return mime.scanStructure(path).parts[0].names

    def test_everyParameterAndDuplicate(self):
        """Both fields' names, and every duplicate, are tested."""
        names = self.names(b"Content-Type: a/b; name=evil.exe\n"
                           b"Content-Disposition: attachment; "
                           b"filename=report.pdf; filename=last.scr")
        self.assertTrue({"evil.exe", "report.pdf", "last.scr"} <= names)

    def test_sectionsFirstAndLast(self):
        """Repeated RFC 2231 sections give both the first and the last
        reading."""
        names = self.names(b"Content-Disposition: attachment; "
                           b"filename*0=a; filename*0=evil; "
                           b"filename*1=.exe")
        self.assertIn("evil.exe", names)
        self.assertIn("a.exe", names)

    def test_commentsAndCleanup(self):
        """Names are tested without RFC 822 comments, quotes, angle
        brackets and trailing dots, unfolded, and cut at a NUL."""
        for field in (b'filename=evil.exe(comment)',
                      b'filename=ev(x)il.exe', b'filename="<evil.exe>"',
                      b'filename="evil.exe."', b'filename="evil.exe\x00.txt"',
                      b'filename="evil\n .exe"'):
            names = self.names(b"Content-Disposition: attachment; " + field)
            self.assertTrue({"evil.exe", "evil .exe"} & names, field)

    def test_encodedWordsAndCharsets(self):
        """RFC 2047 and RFC 2231 encodings are decoded, charsets included."""
        for field in (b'filename="=?utf-8?b?ZXZpbC5leGU=?="',
                      b"filename*=utf-16''%FF%FEe%00v%00i%00l%00.%00e%00x"
                      b"%00e%00",
                      b"filename*0*=utf-8''ev; filename*1*=il%2Eexe"):
            names = self.names(b"Content-Disposition: attachment; " + field)
            self.assertIn("evil.exe", names, field)

    def test_plainFieldsReadDirectly(self):
        """Plain fields are read without the email package's slower
        parser, and give the same name."""
        path = self.mktemp()
        with open(path, "wb") as f:
            f.write(b'Content-Disposition: attachment; filename="a.pdf"'
                    b"\n\n")
        part = mime.scanStructure(path).parts[0]
        self.assertFalse(part.decoded)
        self.assertEqual(part.names, frozenset({"a.pdf"}))
        self.assertEqual(part.filename, "a.pdf")


class HeaderBlockTests(SynchronousTestCase):
    """
    The one header-block reader, with the email package's rules.
    """

    def test_endsAtFirstNonHeaderLine(self):
        """The block ends at a blank line (the separator, outside both) or
        at any other non-header line (the body's first line)."""
        data = b"A: 1\n cont\nB: 2\n\nbody"
        block = headerblock.find(data)
        self.assertEqual((block.end, block.body, block.separated),
                         (16, 17, True))
        data = b"A: 1\n\x00B: 2\n\nbody"
        block = headerblock.find(data)
        self.assertEqual((block.end, block.body, block.separated),
                         (5, 5, False))
        self.assertEqual(headerblock.parse(data).items(), [("A", "1")])

    def test_lineEnds(self):
        """CRLF, a lone CR and LF all end lines; folded values keep theirs."""
        message = headerblock.parse(b"A: 1\rB: 2\r\n x\nC: 3\r\rbody")
        self.assertEqual(list(message.raw_items()),
                         [("A", "1"), ("B", "2\r\n x"), ("C", "3")])

    def test_envelopeAndOddLines(self):
        """A first 'From ' line is the envelope; later ones, continuations
        with nothing to continue and lines starting with a colon are no
        field."""
        message = headerblock.parse(b"From a@b now\n cont\nA: 1\n:x\n"
                                    b"From c\nB: 2\n\n")
        self.assertEqual(message.get_unixfrom(), "From a@b now")
        self.assertEqual(message.items(), [("A", "1"), ("B", "2")])

    def test_readBounded(self):
        """A file's block is read in growing pieces up to the bound; a
        longer block is reported incomplete."""
        path = self.mktemp()
        with open(path, "wb") as f:
            f.write(b"A: " + b"x" * 100000 + b"\nB: 2\n\nbody")
        with open(path, "rb") as f:
            data, block = headerblock.read(f, 1000000)
        self.assertTrue(block.complete)
        self.assertEqual(headerblock.toMessage(
            headerblock.lines(data, block))["B"], "2")
        with open(path, "rb") as f:
            data, block = headerblock.read(f, 5000)
        self.assertFalse(block.complete)
        self.assertLess(len(data), 6000)

    def test_displayText(self):
        """Values meant for people: 8-bit bytes as UTF-8, encoded-words
        decoded, white space collapsed."""
        self.assertEqual(headerblock.displayText(
            b"J\xc3\xbcrgen =?utf-8?q?M=C3=BCller?=\n\t<j@x>".decode(
                "ascii", "surrogateescape")), "Jürgen Müller <j@x>")
        self.assertEqual(headerblock.displayText("\udce9t\udce9"), "été")

    def test_sameFieldsAsEmailPackage(self):
        """The fields equal the email package's for the captured samples."""
        import email.parser
        import email.policy
        from tests.helpers import samplePaths
        directory = os.path.dirname(samplePaths("a-plain")[0])
        for name in os.listdir(directory):
            with open(os.path.join(directory, name), "rb") as f:
                data = f.read()
            expected = email.parser.BytesParser(
                policy=email.policy.compat32).parsebytes(data)
            self.assertEqual(list(headerblock.parse(data).raw_items()),
                             list(expected.raw_items()), name)
