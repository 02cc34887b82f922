"""
End-to-end test of the clamav filter: SMTP through a real Courier with
pyfilter installed (see tests/courier.py) and a real clamd with the
project's test signature.  Courier's spool is readable only by Courier, so
the message is streamed to clamd (INSTREAM).
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
        clamd = services.Clamd(parent=courier.STATE)
        self.addCleanup(clamd.stop)
        clamd.start()
        courier.useFilter("clamav\n", "[clamav.py]\nlocal_socket = "
                          f"{clamd.socketPath!r}\nscan_mode = 'stream'\n")
        self.addCleanup(courier.useFilter, None)

    def test_signedRejectedCleanDelivered(self):
        """A message carrying the test signature gets the reference's 554;
        a clean one is delivered."""
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
