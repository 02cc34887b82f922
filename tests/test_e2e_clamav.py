"""
End-to-end test of the clamav filter: SMTP through a real Courier with
pyfilter installed (see tests/courier.py) and a real clamd with the
project's test signature.  Courier's spool is readable only by Courier, so
clamd gets the open file passed over its socket (FILDES, the default) or the
message streamed (INSTREAM); both are checked.
"""

from email.message import EmailMessage

from twisted.trial import unittest

from tests import courier, services

SENDER = "carol@example.test"
RECIPIENT = "alice@example.test"


def messageWith(text):
    message = EmailMessage()
    message["From"] = SENDER
    message["To"] = RECIPIENT
    message["Subject"] = "pyfilter clamav e2e"
    message.set_content(text)
    return message.as_bytes()


class ClamAVEndToEndTests(unittest.TestCase):
    def setUp(self):
        courier.requireCourier()
        courier.startCourier()
        courier.clearMailboxes()
        self.clamd = services.Clamd(parent=courier.STATE)
        self.addCleanup(self.clamd.stop)
        self.clamd.start()
        self.addCleanup(courier.useFilter, None)

    def useClamav(self, scanMode):
        courier.useFilter("clamav\n", "[clamav.py]\nlocal_socket = "
                          f"{self.clamd.socketPath!r}\n"
                          f"scan_mode = {scanMode!r}\n")

    def test_signedRejectedCleanDelivered(self):
        """A message carrying the test signature gets the reference's 554;
        a clean one is delivered (clamd gets the open file)."""
        self.useClamav(None)
        self.checkSignedAndClean()

    def test_streamed(self):
        """The same with the message streamed to clamd."""
        self.useClamav("stream")
        self.checkSignedAndClean()

    def checkSignedAndClean(self):
        with open(services.SIGNED_FILE) as f:
            signed = messageWith(f.read())
        self.assertEqual(
            courier.send(SENDER, RECIPIENT, signed, timeout=20),
            (554, "Virus found - Signature is " + services.TEST_SIGNATURE))
        code, text = courier.send(SENDER, RECIPIENT,
                                  messageWith("Nothing to see.\n"),
                                  timeout=20)
        self.assertEqual(code, 250, text)
        [delivered] = courier.waitForMail("alice", 1)
        self.assertIn(b"pyfilter clamav e2e", delivered)
