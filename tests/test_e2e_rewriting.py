"""
End-to-end tests of the filters that change mail, through a real Courier
(see tests/courier.py; skipped where Courier cannot run): noduplicates,
nosuccessdsn, add_signature, noreceivedheaders and sentfolder; and a test
filter that adds a recipient.
"""

import os
import shutil
import smtplib
import time

from twisted.trial import unittest

from tests import courier

SIGNATURE_DIR = "/var/tmp/pyfilter-e2e-signatures"
#: Where the test filters are copied for Courier's user to read them.
MODULE_DIR = os.path.join(courier.STATE, "filters")
TEST_FILTERS = os.path.join(os.path.dirname(__file__), "daemonfilters")
BODY = "Hello from the pyfilter end-to-end tests.\n"


def sendWithNotify(mailFrom, rcptTo, message, notify):
    """
    One SMTP transaction with a DSN NOTIFY parameter on the recipient.
    """
    client = smtplib.SMTP("127.0.0.1", 25, local_hostname="client.example",
                          timeout=10)
    try:
        refused = client.sendmail(mailFrom, [rcptTo], message,
                                  rcpt_options=[f"NOTIFY={notify}"])
    finally:
        client.quit()
    return refused


def quietFor(user, seconds):
    """
    The messages of C{user} after waiting C{seconds} for late arrivals.
    """
    time.sleep(seconds)
    return courier.mailbox(user)


class RewritingEndToEndTests(unittest.TestCase):
    def setUp(self):
        courier.startCourier()
        courier.clearMailboxes()

    def test_aliasDuplicateDeliveredOnce(self):
        """Mail to alice and to the team alias (alice, bob) reaches alice
        once and bob once."""
        courier.useFilter("noduplicates\n")
        code, text = courier.send(
            "carol@example.test", ["alice@example.test", "team@example.test"],
            courier.makeMessage("carol@example.test", "team@example.test"))
        self.assertEqual(code, 250, text)
        courier.waitForMail("bob", 1)
        courier.waitForMail("alice", 1)
        self.assertEqual(len(quietFor("alice", 2)), 1)
        self.assertIn('Removing duplicate address "alice@example.test"',
                      courier.courierLog())

    def test_addedRecipientDelivered(self):
        """A recipient that a filter adds to the control file gets the
        message too."""
        os.makedirs(MODULE_DIR, mode=0o755, exist_ok=True)
        os.chmod(MODULE_DIR, 0o755)
        self.addCleanup(shutil.rmtree, MODULE_DIR, True)
        shutil.copy(os.path.join(TEST_FILTERS, "addrecipient.py"), MODULE_DIR)
        courier.useFilter(
            "addrecipient\n",
            "[addrecipient.py]\naddress = 'carol@example.test'\n",
            extraArgs=["--module-path", MODULE_DIR])
        code, text = courier.send(
            "alice@example.test", "bob@example.test",
            courier.makeMessage("alice@example.test", "bob@example.test"))
        self.assertEqual(code, 250, text)
        [toBob] = courier.waitForMail("bob", 1)
        [toCarol] = courier.waitForMail("carol", 1)
        self.assertIn(b"Subject: pyfilter e2e", toCarol)

    def test_successNotificationSuppressed(self):
        """NOTIFY=SUCCESS,FAILURE gives bob a success DSN without the filter
        and none with nosuccessdsn."""
        message = courier.makeMessage("bob@example.test", "alice@example.test")
        courier.useFilter("log_aliases\n")
        sendWithNotify("bob@example.test", "alice@example.test", message,
                       "SUCCESS,FAILURE")
        [dsn] = courier.waitForMail("bob", 1)
        self.assertIn(b"Action: delivered", dsn)
        courier.clearMailboxes()
        courier.useFilter("nosuccessdsn\n")
        sendWithNotify("bob@example.test", "alice@example.test", message,
                       "SUCCESS,FAILURE")
        courier.waitForMail("alice", 1)
        self.assertEqual(quietFor("bob", 3), [])

    def test_authenticatedSignatureAndNoReceived(self):
        """An authenticated sender's message arrives with the signature part
        appended and every Received header removed, its own header lines
        and body unchanged."""
        os.makedirs(SIGNATURE_DIR, mode=0o755, exist_ok=True)
        self.addCleanup(shutil.rmtree, SIGNATURE_DIR, True)
        signature = os.path.join(SIGNATURE_DIR, "default")
        with open(signature, "w") as f:
            f.write("-- \nAlice, example.test\n")
        os.chmod(signature, 0o644)
        courier.useFilter(
            "add_signature\nnoreceivedheaders\n",
            f"[add_signature.py]\ndomains = {{'': {signature!r}}}\n")
        message = courier.makeMessage("alice@example.test", "bob@example.test")
        code, text = courier.send("alice@example.test", "bob@example.test",
                                  message, auth=("alice", courier.PASSWORD))
        self.assertEqual(code, 250, text)
        [delivered] = courier.waitForMail("bob", 1)
        self.assertNotIn(b"\nReceived:", delivered)
        sent = message.replace(b"\r\n", b"\n")
        head, body = sent.split(b"\n\n", 1)
        contentLines = [line for line in head.split(b"\n")
                        if line.lower().startswith(b"content-")]
        for line in head.split(b"\n"):
            if not line.lower().startswith((b"content-", b"mime-version")):
                self.assertIn(b"\n" + line + b"\n", delivered)
        self.assertIn(b"\n".join(contentLines) + b"\n\n" + body, delivered)
        self.assertIn(b"\n\n-- \nAlice, example.test\n\n--=_pyfilter_",
                      delivered)

    def test_sentFolderCopy(self):
        """An authenticated sender gets a copy marked for the Sent folder,
        with a Bcc line naming the envelope recipient missing from the
        headers, through Courier's own sendmail; the recipients get the
        message; the copy (local mail, no auth) makes no further copy."""
        courier.useFilter("sentfolder\n",
                          "[sentfolder.py]\nsiteid = 'e2e-sent-site'\n")
        message = courier.makeMessage("alice@example.test", "bob@example.test")
        code, text = courier.send(
            "alice@example.test", ["bob@example.test", "carol@example.test"],
            message, auth=("alice", courier.PASSWORD))
        self.assertEqual(code, 250, text)
        [toBob] = courier.waitForMail("bob", 1)
        [toCarol] = courier.waitForMail("carol", 1)
        [copy] = courier.waitForMail("alice", 1)
        self.assertIn(b"\nX-Deliver-To-Sent-Folder: e2e-sent-site\n"
                      b"Bcc: carol@example.test\n", copy)
        _, body = message.replace(b"\r\n", b"\n").split(b"\n\n", 1)
        for delivered in (toBob, toCarol, copy):
            self.assertTrue(delivered.endswith(b"\n\n" + body))
        self.assertNotIn(b"X-Deliver-To-Sent-Folder", toBob + toCarol)
        self.assertEqual(len(quietFor("alice", 2)), 1)
