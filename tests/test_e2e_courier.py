"""
End-to-end tests: real SMTP through a real Courier MTA with this venv's
pyfilter installed by C{pyfilter courier-install} (see tests/courier.py;
skipped unless root on Debian with this venv usable by Courier's user).
"""

import socket
import time

from twisted.trial import unittest

from tests import courier

SENDER = "carol@example.test"
RECIPIENT = "alice@example.test"
CHAIN = "whitelist_auth for attachments\nattachments\n"
BLACKLISTED = (554, "The extension of the attached file is blacklisted")


class CourierEndToEndTests(unittest.TestCase):

    def setUp(self):
        courier.startCourier()
        courier.clearMailboxes()

    def sendMessage(self, attachment=None, auth=None):
        return courier.send(SENDER, RECIPIENT,
                            courier.makeMessage(SENDER, RECIPIENT,
                                                attachment=attachment),
                            auth=auth, timeout=10)

    def test_plainMessageDelivered(self):
        """A plain message passes the chain, is accepted and delivered."""
        courier.useFilter(CHAIN)
        code, text = self.sendMessage()
        self.assertEqual(code, 250, text)
        [delivered] = courier.waitForMail("alice", 1)
        self.assertIn(b"Subject: pyfilter e2e", delivered)

    def test_blockedAttachmentRejected(self):
        """A message carrying evil.exe gets the reference's 554 and is not delivered."""
        courier.useFilter(CHAIN)
        self.assertEqual(self.sendMessage(attachment="evil.exe"), BLACKLISTED)
        self.assertEqual(courier.mailbox("alice"), [])

    def test_authenticatedSenderSkipsAttachments(self):
        """With whitelist_auth for attachments, an authenticated sender's evil.exe is delivered."""
        courier.useFilter(CHAIN)
        code, text = self.sendMessage(attachment="evil.exe",
                                      auth=("alice", courier.PASSWORD))
        self.assertEqual(code, 250, text)
        [delivered] = courier.waitForMail("alice", 1)
        self.assertIn(b'filename="evil.exe"', delivered)

    def test_configErrorTemporaryFailure(self):
        """An unknown filter in the chain makes every message fail with 451 and nothing is delivered."""
        courier.useFilter("nosuchfilter\nattachments\n")
        code, text = self.sendMessage()
        self.assertEqual(code, 451, text)
        self.assertEqual(courier.mailbox("alice"), [])

    def test_courierfilterStopEndsPyfilter(self):
        """courierfilter stop makes pyfilter exit promptly; while it is
        stopped its socket refuses connections, so Courier answers 432 (try
        later) rather than delivering mail unfiltered."""
        courier.useFilter(CHAIN)
        pids = courier.filterPids()
        self.assertTrue(pids, "no pyfilter process found")
        self.addCleanup(courier.startCourierfilter)
        started = time.monotonic()
        result = courier.stopCourierfilter()
        elapsed = time.monotonic() - started
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertLess(elapsed, 5)
        courier.waitFor(lambda: not courier.filterPids(), 5,
                        "pyfilter to exit")
        with socket.socket(socket.AF_UNIX) as probe:
            self.assertRaises(ConnectionRefusedError, probe.connect,
                              courier.SOCKET)
        code, text = courier.send(SENDER, [RECIPIENT], courier.makeMessage(
            SENDER, RECIPIENT, attachment="evil.exe"))
        self.assertEqual(code // 100, 4, text)
        courier.waitFor(lambda: "stdin closed by courierfilter"
                        in courier.courierLog(), 5, "pyfilter's last words")
