"""
Tests for the quota filter against a real courier-authdaemond and
Maildir++ maildirsize files.
"""

from twisted.internet import defer
from twisted.trial import unittest

from filters import quota
from pyfilter.engine.reply import Reply
from tests import services
from tests.helpers import writeMessage

COURIER = {"me": "mx.example.test", "locals": "example.test\n"}


def records(*recipients):
    lines = ["ssender@example.org"]
    for recipient in recipients:
        lines += [f"r{recipient}", "R", "N"]
    return lines


class MaildirsizeTests(unittest.TestCase):
    def test_parse(self):
        """Limits come from the first line, usage is the sum of the rest."""
        self.assertEqual(quota.parseMaildirsize("100S,5C\n10 1\n-3 -1\n"),
                         (100, 5, 7, 0))

    def test_malformed(self):
        """A bad quota item is an error."""
        self.assertRaises(ValueError, quota.parseMaildirsize, "100X\n")

    def test_unreadableNotOver(self):
        """A missing or malformed file is not over quota."""
        path = self.mktemp()
        self.assertFalse(quota.overQuota(path))
        with open(path, "w") as f:
            f.write("junk\n")
        self.assertFalse(quota.overQuota(path))

    def test_relativeMaildir(self):
        """A relative MAILDIR is taken in HOME."""
        self.assertEqual(quota.maildirsizePath(
            {"HOME": "/home/a", "MAILDIR": "./Maildir"}),
            "/home/a/./Maildir/maildirsize")
        self.assertEqual(quota.maildirsizePath({"HOME": "/home/a"}),
                         "/home/a/Maildir/maildirsize")


class QuotaTests(unittest.TestCase):
    def setUp(self):
        self.authdaemond = services.shared(services.Authdaemond)

    def quota(self, socketPath=None):
        text = ("[authdaemon.py]\nsocket_path = "
                f"{socketPath or self.authdaemond.socketPath!r}\n"
                "timeout = 2\n")
        return services.serviceFilter(self, "quota", text, COURIER,
                                     hostedDomains=["hosted.test"])

    @defer.inlineCallbacks
    def test_underQuota(self):
        """Mail for mailboxes under quota gets no opinion."""
        self.assertIsNone((yield self.quota().consider(writeMessage(
            self, records("bob@example.test", "someone@example.org",
                          "nobody-at-all@example.test")))))

    @defer.inlineCallbacks
    def test_overBytes(self):
        """A local mailbox over its byte quota (relative maildir) defers."""
        reply = yield self.quota().consider(writeMessage(
            self, records("bob@example.test", "alice@example.test")))
        self.assertEqual(reply, Reply("421", 'User "alice" is over quota'))

    @defer.inlineCallbacks
    def test_overCountHosted(self):
        """A hosted mailbox over its count quota is named in full."""
        reply = yield self.quota().consider(writeMessage(
            self, records("carol@hosted.test")))
        self.assertEqual(reply, Reply(
            "421", 'User "carol@hosted.test" is over quota'))

    @defer.inlineCallbacks
    def test_authdaemonDown(self):
        """authdaemond unreachable gives the configured 451."""
        reply = yield self.quota(socketPath="/nonexistent/socket").consider(
            writeMessage(self, records("alice@example.test")))
        self.assertEqual(reply, Reply(
            "451", "Cannot check mailbox quotas now, try again later"))
