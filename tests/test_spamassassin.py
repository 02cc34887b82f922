"""
Tests for the spamassassin filter and pyfilter.clients.spamd, against a real spamd
(GTUBE scores as spam).
"""

from twisted.internet import defer
from twisted.logger import capturedLogs
from twisted.trial import unittest

from pyfilter.clients import spamd
from pyfilter.engine.reply import Reply
from pyfilter.clients.base import ServiceError
from tests import services
from tests.helpers import writeMessage

RECORDS = ["ssender@example.org", "rbob@example.test", "R", "N"]
HAM = (b"From: alice@example.org\nTo: bob@example.test\nSubject: lunch\n"
       b"Date: Wed, 25 Nov 2026 09:00:00 +0000\nMessage-ID: <1@example.org>"
       b"\n\nShall we have lunch tomorrow?\n")
FORGED = (b"From: alice@example.org\nX-Spam-Flag: YES\nTo: bob@example.test\n"
          b"X-Spam-Status: Yes, score=99.0 forged\nSubject: lunch\n\n"
          b"Shall we have lunch tomorrow?\n")
SPAM = (b"From: alice@example.org\nTo: bob@example.test\nSubject: offer\n\n"
        + services.GTUBE + b"\n")


class ParseResponseTests(unittest.TestCase):
    def test_incomplete(self):
        """A response without all its headers is incomplete."""
        self.assertIsNone(spamd.parseResponse(b"SPAMD/1.1 0 EX_OK\r\n",
                                              False))

    def test_error(self):
        """A non-zero status fails with spamd's text."""
        e = self.assertRaises(
            ServiceError, spamd.parseResponse,
            b"SPAMD/1.0 76 Bad header line: x\r\n\r\n", True)
        self.assertEqual(str(e), "spamd: Bad header line: x")

    def test_truncatedBody(self):
        """A body shorter than its Content-length is an error at close."""
        self.assertRaises(
            ServiceError, spamd.parseResponse,
            b"SPAMD/1.1 0 EX_OK\r\nContent-length: 10\r\n"
            b"Spam: False ; 1.0 / 5.0\r\n\r\nabc", True)


    def test_spamHeaders(self):
        """spamHeaders gives spamd's X-Spam-* fields as folded, bytes kept."""
        body = (b"Subject: hi\r\nX-Spam-Flag: NO\r\nX-Spam-Status: No, "
                b"score=1.0\r\n\ttests=A,B\r\nX-Spam-Report: caf\xc3\xa9"
                b"\r\n\r\n")
        result = spamd.parseResponse(
            b"SPAMD/1.1 0 EX_OK\r\nContent-length: %d\r\n"
            b"Spam: False ; 1.0 / 5.0\r\n\r\n" % len(body) + body, True)
        self.assertEqual(result.spamHeaders(), [
            ("X-Spam-Flag", b"NO"),
            ("X-Spam-Status", b"No, score=1.0\r\n\ttests=A,B"),
            ("X-Spam-Report", b"caf\xc3\xa9")])


def readData(message):
    with open(message.dataPath, "rb") as f:
        return f.read()


def withoutSpamHeaders(data):
    """
    C{data} without its X-Spam-* header fields (continuation lines
    included).
    """
    kept = []
    dropping = False
    for line in data.splitlines(keepends=True):
        if line[:1] in (b" ", b"\t") and dropping:
            continue
        dropping = line.lower().startswith(b"x-spam-")
        if not dropping:
            kept.append(line)
    return b"".join(kept)


class SpamAssassinTests(unittest.TestCase):
    def setUp(self):
        self.spamd = services.shared(services.Spamd)

    def spamassassin(self, **options):
        options.setdefault("spamd_address", self.spamd.address)
        text = "[spamassassin.py]\n" + "".join(
            f"{name} = {value!r}\n" for name, value in options.items())
        return services.serviceFilter(self, "spamassassin", text)

    @defer.inlineCallbacks
    def test_ham(self):
        """
        A normal message gets no opinion and SpamAssassin's headers on top,
        every original byte kept in order.
        """
        message = writeMessage(self, RECORDS, HAM)
        reply = yield self.spamassassin().consider(message)
        self.assertIsNone(reply)
        data = readData(message)
        self.assertRegex(data, rb"\nX-Spam-Status: No, score=-?\d+\.\d+ "
                         rb"required=5\.0 [^\n]*(\n\t[^\n]*)*\nFrom: alice@")
        self.assertTrue(data.startswith(b"X-Spam-Checker-Version: "
                                        b"SpamAssassin "))
        self.assertEqual(withoutSpamHeaders(data), HAM)
        self.assertEqual(message.header("X-Spam-Flag"), [])
        self.assertTrue(message.header("X-Spam-Status")[0].startswith("No,"))

    @defer.inlineCallbacks
    def test_forgedHeadersReplaced(self):
        """X-Spam-* headers from outside are replaced by SpamAssassin's."""
        message = writeMessage(self, RECORDS, FORGED)
        self.assertIsNone((yield self.spamassassin().consider(message)))
        data = readData(message)
        self.assertNotIn(b"forged", data)
        self.assertNotIn(b"X-Spam-Flag: YES", data)
        self.assertEqual(len(message.header("X-Spam-Status")), 1)
        self.assertEqual(withoutSpamHeaders(data),
                         withoutSpamHeaders(FORGED))

    @defer.inlineCallbacks
    def test_gtube(self):
        """GTUBE is refused with the reference's text and X-Spam-Status."""
        message = writeMessage(self, RECORDS, SPAM)
        reply = yield self.spamassassin(username="nobody").consider(message)
        self.assertEqual(reply.code, "554")
        self.assertRegex(reply.lines[0], r"^Mail rejected - spam detected: "
                         r"Yes, score=\d+\.\d+ required=5\.0 tests=.*GTUBE")
        self.assertNotIn("\n", reply.lines[0])
        self.assertEqual(readData(message), SPAM)

    @defer.inlineCallbacks
    def test_rejectScore(self):
        """
        Spam under reject_score passes tagged as spam; spam reaching it is
        refused.
        """
        message = writeMessage(self, RECORDS, SPAM)
        self.assertIsNone((yield self.spamassassin(
            reject_score=5000).consider(message)))
        data = readData(message)
        self.assertIn(b"\nX-Spam-Flag: YES\n", data)
        self.assertRegex(data, rb"\nX-Spam-Status: Yes, score=\d+\.\d+ "
                         rb"required=5\.0 [^\n]*GTUBE")
        self.assertEqual(withoutSpamHeaders(data), SPAM)
        reply = yield self.spamassassin(reject_score=10).consider(message)
        self.assertEqual(reply.code, "554")

    def test_maxMsgSize(self):
        """
        A message over max_msg_size is neither checked nor changed, and that
        is logged.
        """
        message = writeMessage(self, RECORDS, SPAM)
        with capturedLogs() as events:
            reply = self.spamassassin(max_msg_size=10).consider(message)
        self.assertIsNone(reply)
        self.assertEqual(readData(message), SPAM)
        self.assertTrue(any("not checked" in e["log_format"]
                            for e in events))

    @defer.inlineCallbacks
    def test_stoppedAndBack(self):
        """
        A stopped spamd gives the 451 reply and leaves the message alone; a
        restarted one is used.
        """
        spamassassin = self.spamassassin()
        message = writeMessage(self, RECORDS, SPAM)
        self.spamd.pause()
        try:
            reply = yield spamassassin.consider(message)
        finally:
            self.spamd.start()
        self.assertEqual(reply.code, "451")
        self.assertEqual(readData(message), SPAM)
        self.assertTrue(reply.lines[0].startswith(
            "Spam scanner error: cannot connect to spamd at "))
        self.assertEqual((yield spamassassin.consider(message)).code, "554")

    @defer.inlineCallbacks
    def test_timeout(self):
        """A spamd that does not answer gives 451 after spamd_timeout."""
        server = services.SilentServer(self)
        reply = yield self.spamassassin(spamd_address=server.path,
                                        spamd_timeout=0.3).consider(
            writeMessage(self, RECORDS, HAM))
        self.assertEqual(reply, Reply(
            "451", "Spam scanner error: spamd did not answer within "
            "0.3 seconds"))

    @defer.inlineCallbacks
    def test_unavailablePassesUnchanged(self):
        """
        With unavailable_reply '' a message spamd failed on passes
        unchanged.
        """
        server = services.SilentServer(self)
        message = writeMessage(self, RECORDS, HAM)
        reply = yield self.spamassassin(
            spamd_address=server.path, spamd_timeout=0.3,
            unavailable_reply="").consider(message)
        self.assertIsNone(reply)
        self.assertEqual(readData(message), HAM)

    def test_spamcPathLogged(self):
        """Setting spamc_path is accepted and logged as unused."""
        with capturedLogs() as events:
            self.spamassassin(spamc_path="/usr/bin/spamc")
        self.assertTrue(any("spamc_path" in e["log_format"] for e in events))
