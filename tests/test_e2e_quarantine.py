"""
End-to-end test of the quarantine through a real Courier (see
tests/courier.py) and a real clamd with the project's test signature: a
message carrying the signature is held, its recipient gets the notice,
mailing the release address in the notice delivers the original, and a
forged release address delivers nothing.

The harness has Courier filter local mail too (C{enablefiltering} lists
C{local}), so the release comes back through clamav: it must pass.
"""

import re
from email.message import EmailMessage

from twisted.trial import unittest

from tests import courier, services
from tests.test_e2e_clamav import RECIPIENT, SENDER, messageWith

SITEID = "e2e"
RELEASE_ADDRESS = re.compile(
    rb"Quarantine release address: (quarantine-" + SITEID.encode()
    + rb"-[a-z0-9]+@mail\.example\.test)\n")


def signedMessage():
    with open(services.SIGNED_FILE) as f:
        return messageWith(f.read())


def forwardOf(notice, releaseAddress):
    message = EmailMessage()
    message["From"] = RECIPIENT
    message["To"] = releaseAddress
    message["Subject"] = "Fwd: Quarantine notice"
    message.set_content(notice.decode("utf-8", "replace"))
    return message.as_bytes()


class QuarantineEndToEndTests(unittest.TestCase):
    timeout = 300

    def setUp(self):
        courier.requireCourier()
        courier.startCourier()
        courier.clearMailboxes()
        clamd = services.Clamd(parent=courier.STATE)
        self.addCleanup(clamd.stop)
        clamd.start()
        courier.useFilter(
            "clamav\n",
            f"[clamav.py]\nlocal_socket = {clamd.socketPath!r}\n"
            f"action = 'quarantine'\n[quarantine]\nsiteid = {SITEID!r}\n")
        self.addCleanup(courier.useFilter, None)
        self.logStart = len(courier.courierLog())

    def log(self):
        """
        Courier's log lines since this test began.
        """
        return courier.courierLog()[self.logStart:]

    def test_heldNotifiedReleased(self):
        """The infected message is accepted but held: the recipient gets
        only the notice.  Mail to the notice's release address delivers the
        original, byte for byte after Courier's and the release's header
        lines, and it is not held a second time."""
        original = signedMessage()
        code, text = courier.send(SENDER, RECIPIENT, original, timeout=30)
        self.assertEqual((code, text), (250, "OK"))
        [notice] = courier.waitForMail("alice", 1, timeout=30)
        self.assertIn(b"Subject: Quarantine notice", notice)
        self.assertIn(b"The virus " + services.TEST_SIGNATURE.encode()
                      + b" was found in the message", notice)
        releaseAddress = RELEASE_ADDRESS.search(notice).group(1).decode()

        code, text = courier.send(RECIPIENT, releaseAddress,
                                  forwardOf(notice, releaseAddress),
                                  timeout=30)
        self.assertEqual(code, 250, text)
        _, released = courier.waitForMail("alice", 2, timeout=60)
        self.assertIn(b"\nX-Quarantine-Released: ", released)
        _, body = original.replace(b"\r\n", b"\n").split(b"\n\n", 1)
        self.assertTrue(released.endswith(b"\n\n" + body))
        self.assertIn(b"Subject: pyfilter clamav e2e", released)
        log = self.log()
        self.assertIn("not held again", log)
        self.assertEqual(log.count("held as "), 1)

    def test_forgedReleaseDeliversNothing(self):
        """A release address with a forged token is taken (no bounce tells
        the sender anything) and releases nothing."""
        code, text = courier.send(SENDER, RECIPIENT, signedMessage(),
                                  timeout=30)
        self.assertEqual(code, 250, text)
        [notice] = courier.waitForMail("alice", 1, timeout=30)
        genuine = RELEASE_ADDRESS.search(notice).group(1).decode()
        local, domain = genuine.split("@")
        forged = f"{local[:-1]}{'a' if local[-1] != 'a' else 'b'}@{domain}"
        code, text = courier.send(SENDER, forged, forwardOf(notice, forged),
                                  timeout=30)
        self.assertEqual(code, 250, text)
        courier.waitFor(lambda: "release refused" in self.log(),
                        30, "the refused release in the log")
        self.assertEqual(len(courier.mailbox("alice")), 1)
        self.assertEqual(courier.mailbox("carol"), [])
