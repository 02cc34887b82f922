"""
End-to-end test of dialback through a real Courier: pyfilter installed with
C{--resolver} pointing at the loopback test DNS server, call-outs going to
loopback test SMTP servers (all three in their own processes, since these
tests block).  Skipped unless Courier can be used (see tests/courier.py).
"""

import os
import selectors
import subprocess
import sys
import uuid

from twisted.trial import unittest

from tests import courier
from tests.dnsserver import SECOND_MX_ADDRESS

RECIPIENT = "alice@example.test"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def startServer(testCase, module, *args, timeout=10):
    """
    Run C{python -m module args} from the repository, stopped when
    C{testCase} ends.

    @return: the port it prints.
    """
    process = subprocess.Popen([sys.executable, "-m", module, *args],
                               cwd=ROOT, stdout=subprocess.PIPE)
    testCase.addCleanup(process.wait, 10)
    testCase.addCleanup(process.terminate)
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        if not selector.select(timeout):
            raise courier.CourierError(f"{module} printed no port")
    return int(process.stdout.readline())


class DialbackEndToEndTests(unittest.TestCase):
    def setUp(self):
        courier.startCourier()
        courier.clearMailboxes()
        dnsPort = startServer(self, "tests.dnsserver")
        smtpPort = startServer(self, "tests.smtpserver")
        startServer(self, "tests.smtpserver", "--behaviour", "reject",
                    "--interface", SECOND_MX_ADDRESS, "--port", str(smtpPort))
        courier.useFilter(
            "dialback\n",
            f"[dialback.py]\nsmtp_port = {smtpPort}\nsmtp_timeout = 5\n"
            "deadline = 20\n",
            extraArgs=("--resolver", f"127.0.0.1:{dnsPort}"))

    def send(self, sender):
        return courier.send(sender, RECIPIENT,
                            courier.makeMessage(sender, RECIPIENT),
                            timeout=30)

    def test_verifiedSenderDelivered(self):
        """A sender its MX accepts is delivered."""
        code, text = self.send(f"{uuid.uuid4().hex}@single.test")
        self.assertEqual(code, 250, text)
        courier.waitForMail("alice", 1)

    def test_refusedSenderRejected(self):
        """A sender its MX refuses gets the two-line 517 and is not
        delivered."""
        sender = f"{uuid.uuid4().hex}@refuses.test"
        code, text = self.send(sender)
        self.assertEqual(code, 517, text)
        self.assertIn("MX server mx.refuses.test said:", text)
        self.assertIn(f"Sender does not exist: {sender}", text)
        self.assertEqual(courier.mailbox("alice"), [])

    def test_unknownDomainTemporaryFailure(self):
        """A sender domain without MX or address gets 421 DNS failure."""
        code, text = self.send("someone@nothing.test")
        self.assertEqual((code, text),
                         (421, "DNS failure resolving nothing.test"))
