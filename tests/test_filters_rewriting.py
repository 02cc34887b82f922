"""
Tests for the filters that change mail: noduplicates, nosuccessdsn,
noreceivedheaders, add_signature, sentfolder; and pyfilter.courier.sendmail.
"""

import os
import stat

from twisted.internet import defer, reactor
from twisted.logger import capturedLogs, formatEvent
from twisted.trial import unittest

from pyfilter import testing
from pyfilter.config.errors import ConfigError
from pyfilter.courier.sendmail import Sendmail, SendmailError
from tests.helpers import writeMessage
from tests.test_controledit import contentOf, sampleCopy


def decide(testCase, name, message, config=""):
    """
    The answer of filter C{name}, started by L{testing.Harness} with
    C{config}, for C{message}.
    """
    return testing.Harness(testCase, name, config).decide(message)


class NoDuplicatesTests(unittest.TestCase):
    def test_aliasDuplicateRemoved(self):
        """The second alice (through the team alias) is marked delivered and
        logged; the others stay."""
        message = sampleCopy(self, "b-three-rcpts-alias")
        with capturedLogs() as events:
            self.assertIsNone(decide(self, "noduplicates", message))
        self.assertEqual([formatEvent(e) for e in events], [
            'noduplicates filter: Removing duplicate address '
            '"alice@example.test" from control file.'])
        self.assertEqual([(r.address, r.notify) for r in message.recipients],
                         [("alice@example.test", ""),
                          ("carol@example.test", ""),
                          ("bob@example.test", "N")])
        self.assertIn(b"\nI2 R 250 Ok - duplicate removed by noduplicates\n"
                      b"S2 ", contentOf(message.controlPaths[0]))

    def test_domainCaseOnly(self):
        """Domains compare case-insensitively, local parts exactly."""
        harness = testing.Harness(self, "noduplicates")
        message = harness.message(recipients=[
            "a@example.test", "a@EXAMPLE.test", "A@example.test"])
        harness.decide(message)
        self.assertEqual([r.address for r in message.recipients],
                         ["a@example.test", "A@example.test"])

    def test_flagsMerged(self):
        """A removed duplicate's success request is kept on the remaining
        recipient."""
        harness = testing.Harness(self, "noduplicates")
        message = harness.message(recipients=[
            ("a@example.test", "", "F"), ("a@example.test", "", "S")])
        harness.decide(message)
        self.assertEqual([(r.address, r.notify) for r in message.recipients],
                         [("a@example.test", "SF")])

    def test_noDuplicatesUntouched(self):
        """Without duplicates the control file is not written."""
        harness = testing.Harness(self, "noduplicates")
        message = harness.message(recipients=["a@example.test",
                                              "b@example.test"])
        before = contentOf(message.controlPaths[0])
        harness.decide(message)
        self.assertEqual(contentOf(message.controlPaths[0]), before)


class NoSuccessDSNTests(unittest.TestCase):
    def test_successRemovedInPlace(self):
        """NOTIFY=SUCCESS,FAILURE becomes FAILURE in the N record itself;
        nothing else in the control file changes."""
        message = sampleCopy(self, "d-dsn")
        before = contentOf(message.controlPaths[0])
        self.assertIsNone(decide(self, "nosuccessdsn", message))
        self.assertEqual(contentOf(message.controlPaths[0]),
                         before.replace(b"\nNSF\n", b"\nNFF\n"))
        self.assertEqual(message.recipients[0].notify, "FF")

    def test_successOnlyBecomesNever(self):
        """NOTIFY=SUCCESS alone becomes NEVER, and a raw non-UTF-8 address
        is left byte for byte (a control file L{testing.message} cannot
        write)."""
        message = writeMessage(self, ["rt\udcebst@example.test", "R", "NS",
                                      "rb@example.test", "R", "N"])
        decide(self, "nosuccessdsn", message)
        self.assertEqual(contentOf(message.controlPaths[0]),
                         b"rt\xebst@example.test\nR\nNN\n"
                         b"rb@example.test\nR\nN\n")


class NoReceivedHeadersTests(unittest.TestCase):
    def test_authenticatedReceivedRemoved(self):
        """For an authenticated sender every Received header goes and the
        other bytes stay."""
        message = sampleCopy(self, "c-auth")
        original = contentOf(message.dataPath)
        with open(message.dataPath, "wb") as f:
            f.write(b"Received: from a\n  by b\n" + original)
        self.assertIsNone(decide(self, "noreceivedheaders", message))
        self.assertEqual(contentOf(message.dataPath),
                         original[original.index(b"From: "):])

    def test_unauthenticatedUntouched(self):
        """Mail without an auth user keeps its Received headers."""
        message = sampleCopy(self, "a-plain")
        before = contentOf(message.dataPath)
        decide(self, "noreceivedheaders", message)
        self.assertEqual(contentOf(message.dataPath), before)


class AddSignatureTests(unittest.TestCase):
    def signatureFile(self, text):
        path = os.path.abspath(self.mktemp())
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        return path

    def test_signatureAppended(self):
        """An auth name without @ uses the '' key; its signature is appended
        as a MIME part and the original body is kept."""
        path = self.signatureFile("-- \nAlice\n")
        message = sampleCopy(self, "c-auth")
        self.assertIsNone(decide(self, "add_signature", message,
                                 f"domains = {{'': {path!r}}}"))
        result = contentOf(message.dataPath)
        self.assertIn(b"\n\ntest body\n\n--=_pyfilter_", result)
        self.assertIn(b"7bit\n\n-- \nAlice\n\n--=_pyfilter_", result)

    def test_otherDomainUntouched(self):
        """An auth name whose domain has no signature is left alone."""
        path = self.signatureFile("sig")
        harness = testing.Harness(self, "add_signature",
                                  f"domains = {{'example.com': {path!r}}}")
        message = harness.message(auth="alice@other.example",
                                  recipients=["b@example.test"],
                                  data="Subject: test\n\nbody\n")
        harness.decide(message)
        self.assertEqual(contentOf(message.dataPath),
                         b"Subject: test\n\nbody\n")

    def test_keyBetweenFirstAndSecondAt(self):
        """The key is the text between the first and second @."""
        path = self.signatureFile("sig")
        harness = testing.Harness(self, "add_signature",
                                  f"domains = {{'example.com': {path!r}}}")
        message = harness.message(auth="a@example.com@x",
                                  recipients=["b@example.test"])
        harness.decide(message)
        self.assertIn(b"sig\n", contentOf(message.dataPath))

    def test_reloadedOnChange(self):
        """A signature file changed after start-up is read again."""
        path = self.signatureFile("old")
        harness = testing.Harness(self, "add_signature",
                                  f"domains = {{'': {path!r}}}")
        with open(path, "w") as f:
            f.write("new signature")
        message = harness.message(auth="alice",
                                  recipients=["b@example.test"])
        harness.decide(message)
        self.assertIn(b"\nnew signature\n", contentOf(message.dataPath))

    def test_missingFileIsConfigError(self):
        """A signature file that cannot be read stops start-up."""
        self.assertRaises(ConfigError, testing.Harness, self,
                          "add_signature",
                          "domains = {'': '/nonexistent/sig'}")


class FakeSendmail:
    def __init__(self):
        self.sent = []

    def send(self, recipients, message, sender=None):
        self.sent.append((recipients, message))
        return defer.succeed(None)


class SentFolderTests(unittest.TestCase):
    def test_copyWithBcc(self):
        """The copy carries the marker, a Bcc line for recipients missing
        from To/Cc (original address without rfc822;), then the message;
        an auth name without @ gets @me."""
        harness = testing.Harness(self, "sentfolder", "siteid = 'SITE'",
                                  courier={"me": "mail.example.test\n"})
        harness.filter.sendmail = FakeSendmail()
        data = b"To: Bob <bob@example.test>\nSubject: s\n\nbody\n"
        message = harness.message(auth="alice", data=data, recipients=[
            ("bob@example.test", "rfc822;bob@example.test", ""),
            ("carol@example.test", "rfc822;carol@example.test", ""),
            "dave@example.test"])
        self.assertIsNone(harness.decide(message))
        self.assertEqual(harness.filter.sendmail.sent, [(
            ["alice@mail.example.test"],
            b"X-Deliver-To-Sent-Folder: SITE\n"
            b"Bcc: carol@example.test, dave@example.test\n" + data)])

    def test_noBccWhenAllNamed(self):
        """Without blind recipients there is no Bcc line; unauthenticated
        mail gets no copy."""
        harness = testing.Harness(self, "sentfolder")
        harness.filter.sendmail = FakeSendmail()
        data = b"To: bob@example.test\nCc: carol@example.test\n\nbody\n"
        harness.decide(harness.message(
            auth="alice@example.test", data=data,
            recipients=["bob@example.test", "carol@example.test"]))
        harness.decide(harness.message(recipients=["b@example.test"]))
        self.assertEqual(harness.filter.sendmail.sent, [(
            ["alice@example.test"],
            b"X-Deliver-To-Sent-Folder: 69f7dc20-7aef-420b-a8d2-85ea229f97ba"
            b"\n" + data)])

    def test_optionLikeAuthNameNoCopy(self):
        """An auth name that looks like a sendmail option gives no copy."""
        harness = testing.Harness(self, "sentfolder")
        message = harness.message(auth="-oi@example.test",
                                  recipients=["b@example.test"])
        with capturedLogs() as events:
            self.assertIsNone(harness.decide(message))
        self.assertIn("unusable mail address '-oi@example.test'",
                      formatEvent(events[0]))


FAKE_SENDMAIL = """#!/bin/sh
printf '%s\\n' "$@" > "$0.args"
cat > "$0.stdin"
case "$2" in
  fail@*) echo "sendmail: Unable to submit message." >&2; exit 75;;
  slow@*) exec sleep 30;;
esac
exit 0
"""


class SendmailTests(unittest.TestCase):
    def setUp(self):
        self.bindir = os.path.abspath(self.mktemp())
        os.makedirs(self.bindir)
        self.program = os.path.join(self.bindir, "sendmail")
        with open(self.program, "w") as f:
            f.write(FAKE_SENDMAIL)
        os.chmod(self.program, stat.S_IRWXU)
        self.sendmail = Sendmail(reactor, self.program, timeout=5)

    @defer.inlineCallbacks
    def test_submitted(self):
        """Recipients follow Courier's end-of-options marker and the message
        goes to stdin; -f only with a sender."""
        yield self.sendmail.send(["alice@example.test"], b"Subject: x\n\nhi\n",
                                 sender="bob@example.test")
        self.assertEqual(contentOf(self.program + ".args"),
                         b"-f\nbob@example.test\n-\nalice@example.test\n")
        self.assertEqual(contentOf(self.program + ".stdin"),
                         b"Subject: x\n\nhi\n")

    @defer.inlineCallbacks
    def test_failureReported(self):
        """A non-zero exit fails with sendmail's message."""
        with self.assertRaises(SendmailError) as caught:
            yield self.sendmail.send(["fail@example.test"], b"x\n")
        self.assertIn("Unable to submit message", str(caught.exception))

    @defer.inlineCallbacks
    def test_timeout(self):
        """A sendmail that does not finish is killed after the timeout."""
        self.sendmail.timeout = 0.2
        with self.assertRaises(defer.TimeoutError):
            yield self.sendmail.send(["slow@example.test"], b"x\n")
        yield self.sendmail.idle()

    def test_optionLikeAddressRefused(self):
        """Addresses that sendmail would read as options, or with spaces,
        are refused before anything runs."""
        for address in ["-oi", "a b@example.test", "a\n@example.test", ""]:
            self.assertRaises(ValueError, self.sendmail.send, [address],
                              b"x")
        self.assertFalse(os.path.exists(self.program + ".args"))


class XFilterTests(unittest.TestCase):
    def test_legacyRewrite(self):
        """A reference-style module changing the message through
        courier.xfilter gets it written back, atomically, with a final
        newline."""
        from pyfilter.legacy import aliases
        aliases.install()
        from courier import xfilter
        message = writeMessage(self, ["ialice", "rb@example.test", "R", "N"],
                               b"Subject: old\n\nbody")
        os.chmod(message.dataPath, 0o640)
        inode = os.stat(message.dataPath).st_ino
        loaded = xfilter.XFilter("legacy", message.dataPath,
                                 message.controlPaths)
        self.assertEqual(loaded.get_control_data()["i"], "alice")
        msg = loaded.get_message()
        msg.replace_header("Subject", "new")
        loaded.set_message(msg)
        self.assertEqual(loaded.submit(), "")
        self.assertEqual(contentOf(message.dataPath),
                         b"Subject: new\n\nbody\n")
        self.assertNotEqual(os.stat(message.dataPath).st_ino, inode)
        self.assertEqual(os.stat(message.dataPath).st_mode & 0o777, 0o640)

    def test_dummyDoesNotWrite(self):
        """DummyXFilter.submit leaves the data file alone."""
        from pyfilter.legacy.courier import xfilter
        message = writeMessage(self, ["rb@example.test", "R", "N"])
        loaded = xfilter.DummyXFilter("legacy", message.dataPath,
                                      message.controlPaths)
        loaded.get_message()["X-New"] = "1"
        self.assertEqual(loaded.submit(), "")
        self.assertEqual(contentOf(message.dataPath),
                         b"Subject: test\n\nbody\n")

    def test_unreadableIsInitError(self):
        """A data file that cannot be loaded raises InitError with the
        reference's text."""
        from pyfilter.legacy.courier import xfilter
        message = writeMessage(self, ["rb@example.test", "R", "N"])
        error = self.assertRaises(xfilter.InitError, xfilter.XFilter, "x",
                                  message.dataPath + ".missing",
                                  message.controlPaths)
        self.assertTrue(str(error).startswith(
            "Internal failure parsing message data file: "))


class LegacySendmailTests(unittest.TestCase):
    def setUp(self):
        from pyfilter.legacy.courier import config
        from pyfilter.courier.paths import DEBIAN, CourierPaths
        self.bindir = os.path.abspath(self.mktemp())
        os.makedirs(self.bindir)
        self.program = os.path.join(self.bindir, "sendmail")
        with open(self.program, "w") as f:
            f.write(FAKE_SENDMAIL)
        os.chmod(self.program, stat.S_IRWXU)
        config.configure(CourierPaths(**dict(DEBIAN, sendmail=self.program)),
                         None, None)
        self.addCleanup(config.configure, None, None, None)

    def test_chunksSubmitted(self):
        """courier.sendmail.sendmail writes the chunks to Courier's sendmail
        with -f and the recipient after the end-of-options marker."""
        from pyfilter.legacy.courier.sendmail import sendmail
        sendmail("bob@example.test", "alice@example.test",
                 [b"Subject: x\n", "\nbody\n"])
        self.assertEqual(contentOf(self.program + ".args"),
                         b"-f\nbob@example.test\n-\nalice@example.test\n")
        self.assertEqual(contentOf(self.program + ".stdin"),
                         b"Subject: x\n\nbody\n")

    def test_failureRaises(self):
        """A failed submission raises instead of passing silently."""
        from pyfilter.legacy.courier.sendmail import sendmail
        self.assertRaises(SendmailError, sendmail, "", ["fail@example.test"],
                          [b"x\n"])
