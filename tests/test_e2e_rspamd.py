"""
End-to-end test of the rspamd filter: SMTP through a real Courier with
pyfilter installed (see tests/courier.py) and a real rspamd (see
tests/rspamd.py: its DKIM key signs authenticated senders of
C{example.test}, its test patterns choose the verdict).

Courier's spool is readable only by Courier's user and group; rspamd runs
as C{_rspamd}, outside that group here, so the body is streamed (the
default).  With C{hand_over = 'file'} and no read access rspamd cannot
open the file: the message gets the outage reply (451), never an
unfiltered accept.  An admin who wants the File hand-over adds
C{_rspamd} to Courier's group.
"""

import email

import dkim
from twisted.trial import unittest

from tests import courier, services
from tests.rspamd import (
    SELECTOR, SIGNING_DOMAIN, TEST_PATTERN_MESSAGE, TEST_PATTERNS, Rspamd)

SENDER = "client@sender.example"
RECIPIENT = "alice@" + courier.DOMAIN
#: An authenticated local user; C{example.test} is rspamd's signing domain.
SUBMITTER = "bob@" + SIGNING_DOMAIN

#: Header fields Courier itself puts on a delivered message.
COURIER_FIELDS = {"received", "return-path", "delivered-to"}

#: What rspamd's configuration asks to add to a clean message carrying
#: C{X-Pyfilter-Test-Milter} (tests/fixtures/rspamd/pyfilter_test.lua, and
#: milter_headers' x-spam-status).
ADDED_FIELDS = {"x-pyfilter-top", "x-pyfilter-end", "x-pyfilter-twice",
                "x-pyfilter-legacy", "x-spam-status"}

#: And what it asks to remove.
REMOVED_FIELDS = {"x-pyfilter-remove-all"}


def message(sender, subject, body, extra=()):
    lines = [f"From: {sender}", f"To: {RECIPIENT}", f"Subject: {subject}",
             "Message-ID: <%s@client.example>" % subject.replace(" ", "."),
             *extra, "", body, ""]
    return "\r\n".join(lines).encode("ascii")


def fieldNames(raw):
    return [name.lower() for name in email.message_from_bytes(raw).keys()]


def bodyOf(raw):
    return raw.replace(b"\r\n", b"\n").split(b"\n\n", 1)[1]


class RspamdEndToEndTests(unittest.TestCase):
    def setUp(self):
        courier.requireCourier()
        self.rspamd = services.shared(Rspamd)
        courier.startCourier()
        courier.clearMailboxes()
        self.addCleanup(courier.useFilter, None)

    def useRspamd(self, handOver="stream"):
        courier.useFilter("rspamd\n", f"[rspamd.py]\nurl = "
                          f"{self.rspamd.url('')!r}\n"
                          f"hand_over = {handOver!r}\ntimeout = 10\n")

    def test_submissionSigned(self):
        """An authenticated submission is delivered with a DKIM-Signature
        of the test key that dkimpy verifies on the delivered message."""
        self.useRspamd()
        sent = message(SUBMITTER, "rspamd e2e signed", "Signed, sealed.")
        code, text = courier.send(SUBMITTER, RECIPIENT, sent,
                                  auth=("bob", courier.PASSWORD), timeout=30)
        self.assertEqual(code, 250, text)
        [delivered] = courier.waitForMail("alice", 1, timeout=20)
        self.assertIn("dkim-signature", fieldNames(delivered))
        record = self.rspamd.dkimRecord
        expected = f"{SELECTOR}._domainkey.{SIGNING_DOMAIN}."

        def lookup(name, timeout=5):
            self.assertEqual(name.decode("ascii"), expected)
            return record
        crlf = b"\r\n".join(delivered.replace(b"\r\n", b"\n").split(b"\n"))
        self.assertTrue(dkim.verify(crlf, dnsfunc=lookup))

    def test_gtubeRefused(self):
        """rspamd's GTUBE gives a permanent refusal with rspamd's text, and
        nothing is delivered."""
        self.useRspamd()
        code, text = courier.send(
            SENDER, RECIPIENT, message(SENDER, "rspamd e2e gtube",
                                       TEST_PATTERNS["reject"].decode()),
            timeout=30)
        self.assertTrue(500 <= code < 600, (code, text))
        self.assertIn(TEST_PATTERN_MESSAGE, text)
        self.assertEqual(courier.mailbox("alice"), [])

    def test_cleanChangedOnlyAsAsked(self):
        """A clean message is delivered with its body and header fields
        as sent, apart from the fields rspamd asked to add and remove
        (and Courier's own trace fields)."""
        self.useRspamd()
        sent = message(SENDER, "rspamd e2e clean", "Nothing to see.",
                       ["X-Pyfilter-Test-Milter: yes",
                        "X-Pyfilter-Remove-All: gone"])
        code, text = courier.send(SENDER, RECIPIENT, sent, timeout=30)
        self.assertEqual(code, 250, text)
        [delivered] = courier.waitForMail("alice", 1, timeout=20)
        self.assertEqual(bodyOf(delivered), bodyOf(sent))
        names = fieldNames(delivered)
        kept = [n for n in names if n not in COURIER_FIELDS | ADDED_FIELDS]
        self.assertEqual(kept, [n for n in fieldNames(sent)
                                if n not in REMOVED_FIELDS])
        self.assertEqual(ADDED_FIELDS - set(names), set())
        original = email.message_from_bytes(sent)
        arrived = email.message_from_bytes(delivered)
        for name in kept:
            self.assertEqual(arrived.get_all(name), original.get_all(name))

    def test_fileHandOverWithoutAccess(self):
        """Handed over by path, a spool file rspamd's user cannot read gets
        the outage reply: a 4xx, not an unfiltered delivery."""
        self.useRspamd("file")
        code, text = courier.send(
            SENDER, RECIPIENT, message(SENDER, "rspamd e2e file",
                                       TEST_PATTERNS["reject"].decode()),
            timeout=30)
        self.assertTrue(400 <= code < 500, (code, text))
        self.assertEqual(courier.mailbox("alice"), [])
