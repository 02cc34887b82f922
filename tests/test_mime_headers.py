"""
The one header-block reader (L{pyfilter.courier.headerblock}) as every part of
pyfilter that reads headers uses it: the message's headers (deliveredto,
spamassassin, the quarantine), the rewrite API, spamd's replies.  Each
sees the fields the email package sees, and no others.
"""

import email.parser
import email.policy

from twisted.trial.unittest import SynchronousTestCase

from pyfilter import testing
from pyfilter.courier import rewrite
from pyfilter.clients import spamd
from tests.helpers import writeMessage
from tests.test_courierconfig import compiledSysconf
from tests.test_filters_access import LOOP
from tests.test_quarantine import makeStore
from tests.test_rewrite import readBytes, writeData

#: Header blocks the email package ends early, and the fields it sees.
SHAPES = [
    (b"A: 1\nDelivered-To: x@y\n\x00\nB: 2\n\nbody\n", ["A", "Delivered-To"]),
    (b"A: 1\nno colon\nDelivered-To: x@y\n\nbody\n", ["A"]),
    (b"A: 1\rDelivered-To: x@y\r\rB: 2\r\n", ["A", "Delivered-To"]),
    (b"From x\nA: 1\nFrom y\n cont\nB: 2\n\n", ["A", "B"]),
]


def emailPackageNames(data):
    return list(email.parser.BytesParser(
        policy=email.policy.compat32).parsebytes(data).keys())


class MessageHeaderTests(SynchronousTestCase):
    def test_sameFieldsAsEmailPackage(self):
        """The message's headers are the email package's fields, however
        its header block ends."""
        for data, names in SHAPES:
            message = writeMessage(self, ["sa@b"], data)
            self.assertEqual(list(message.headers.keys()), names, data)
            self.assertEqual(emailPackageNames(data), names, data)

    def test_rawValuesNeverHeaderObjects(self):
        """header() gives strings (8-bit bytes as surrogate escapes), never
        the Header objects compat32 makes of 8-bit values."""
        message = writeMessage(self, ["sa@b"],
                               b"Subject: caf\xc3\xa9\nSubject: b\n\nx\n")
        self.assertEqual(message.header("subject"),
                         ["caf\udcc3\udca9", "b"])


class DeliveredToTests(SynchronousTestCase):
    def test_onlyHeaderBlockCounts(self):
        """A Delivered-To line the email package reads as body (after a NUL
        line) is no mail loop; one in the header block, lone CRs and all,
        is."""
        harness = testing.Harness(self, "deliveredto",
                                  sysconfdir=compiledSysconf(self))
        loop = b"Delivered-To: alice@example.test"
        for data, expected in ((b"A: 1\n\x00\n" + loop + b"\n\nbody\n", None),
                               (b"A: 1\r" + loop + b"\r\rbody\r", LOOP)):
            message = harness.message(ip="192.0.2.1", data=data)
            self.assertEqual(harness.decide(message), expected, data)


class RewriteTests(SynchronousTestCase):
    def test_headerBlockEndsWhereEmailPackageEndsIt(self):
        """A field after a line without colon is body: not removed, and a
        new field goes before that line."""
        path = writeData(self, b"A: 1\nX-Spam: old\nno colon\nX-Spam: "
                               b"body\n\nbody\n")
        edit = rewrite.Rewrite(path)
        self.assertEqual(edit.removeHeader("X-Spam"), 1)
        edit.appendHeader("X-Spam", "new")
        edit.commit()
        self.assertEqual(readBytes(path), b"A: 1\nX-Spam: new\nno colon\n"
                                          b"X-Spam: body\n\nbody\n")

    def test_signatureUsesEmailPackageBoundary(self):
        """The signature goes before the closing delimiter of the boundary
        the email package reads (trailing blanks of the quoted value
        dropped)."""
        path = writeData(self, b'Content-Type: multipart/mixed; '
                               b'boundary="b "\n\n--b\n\nx\n--b--\n')
        edit = rewrite.Rewrite(path)
        edit.appendSignature("sig")
        edit.commit()
        parsed = email.message_from_bytes(readBytes(path))
        self.assertEqual([part.get_payload() for part in parsed.walk()][1:],
                         ["x", "sig\n"])

    def test_headerBlockOverBoundRefused(self):
        """A header block over the bound cannot be rewritten."""
        path = writeData(self, b"A: " + b"x" * 5000 + b"\n\nbody\n")
        self.assertRaises(rewrite.RewriteError, rewrite.readHeaderBlock,
                          path, 1000)


class QuarantineTests(SynchronousTestCase):
    def test_noticeOfEightBitHeaders(self):
        """From and Subject with 8-bit bytes and encoded-words are held as
        readable text, and the notice can be written."""
        store = makeStore(self)
        message = writeMessage(self, ["sm@evil.example",
                                      "ralice@example.test"], (
            b"From: J\xc3\xbcrgen <j@evil.example>\n"
            b"Subject: =?utf-8?q?Rechnung_f=C3=BCr?= \xe9t\xe9\n\nx\n"))
        entry = store.hold(message, "a test")
        self.assertEqual(entry.fromHeader, "Jürgen <j@evil.example>")
        self.assertEqual(entry.subject, "Rechnung für été")
        notice = store.notice(entry, "alice@example.test", "release@x")
        self.assertIn("Rechnung für été".encode("utf-8"), notice)


class SpamdTests(SynchronousTestCase):
    def test_replyHeadersAsEmailPackage(self):
        """spamd's rewritten headers are read with the same rules."""
        body = (b"Subject: hi\r\nX-Spam-Flag: NO\r\nnot a field\r\n"
                b"X-Spam-Status: hidden\r\n\r\n")
        result = spamd.parseResponse(
            b"SPAMD/1.1 0 EX_OK\r\nContent-length: %d\r\n"
            b"Spam: False ; 1.0 / 5.0\r\n\r\n" % len(body) + body, True)
        self.assertEqual(list(result.headers.keys()),
                         emailPackageNames(body))
        self.assertEqual(result.spamHeaders(), [("X-Spam-Flag", b"NO")])
