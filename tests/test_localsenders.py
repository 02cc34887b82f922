"""
Tests for the localsenders filter against a real courier-authdaemond.
"""

from twisted.internet import defer
from twisted.trial import unittest

from pyfilter.engine.reply import Reply
from tests import services
from tests.helpers import writeMessage

COURIER = {"me": "mx.example.test", "locals": "example.test\n"}


def records(sender, auth=None):
    lines = [f"s{sender}", "rbob@example.test", "R", "N"]
    return lines + ([f"i{auth}"] if auth else [])


class LocalSendersTests(unittest.TestCase):
    def setUp(self):
        self.authdaemond = services.shared(services.Authdaemond)

    def localsenders(self, options="", socketPath=None):
        text = ("[authdaemon.py]\nsocket_path = "
                f"{socketPath or self.authdaemond.socketPath!r}\ntimeout = 2\n"
                f"[localsenders.py]\n{options}")
        return services.serviceFilter(self, "localsenders", text, COURIER,
                                     hostedDomains=["hosted.test"])

    @defer.inlineCallbacks
    def test_localAccount(self):
        """A sender that is a local account gets no opinion."""
        self.assertIsNone((yield self.localsenders().consider(
            writeMessage(self, records("alice@example.test")))))

    @defer.inlineCallbacks
    def test_hostedAccount(self):
        """A hosted domain's sender is looked up by the whole address."""
        self.assertIsNone((yield self.localsenders().consider(
            writeMessage(self, records("carol@hosted.test")))))

    @defer.inlineCallbacks
    def test_unknownLocal(self):
        """A local-domain sender that is no account is refused."""
        reply = yield self.localsenders().consider(
            writeMessage(self, records("mallory@example.test")))
        self.assertEqual(reply, Reply(
            "517", "Sender does not exist: mallory@example.test"))

    @defer.inlineCallbacks
    def test_unknownHosted(self):
        """A hosted-domain sender that is no account is refused."""
        reply = yield self.localsenders().consider(
            writeMessage(self, records("alice@hosted.test")))
        self.assertEqual(reply.code, "517")

    def test_foreignAndNull(self):
        """Foreign senders and the null sender are not checked."""
        localsenders = self.localsenders()
        for sender in ("someone@example.org", "", "a@b@example.test"):
            self.assertIsNone(localsenders.consider(
                writeMessage(self, records(sender))))

    @defer.inlineCallbacks
    def test_requireAuth(self):
        """With require_auth, a local sender must have authenticated."""
        localsenders = self.localsenders("require_auth = True\n")
        reply = yield localsenders.consider(
            writeMessage(self, records("alice@example.test")))
        self.assertEqual(reply, Reply(
            "517", "Policy requires local senders to authenticate."))
        self.assertIsNone((yield localsenders.consider(writeMessage(
            self, records("alice@example.test", auth="alice")))))

    @defer.inlineCallbacks
    def test_authdaemonDown(self):
        """authdaemond unreachable gives the configured 451."""
        reply = yield self.localsenders(socketPath="/nonexistent/socket") \
            .consider(writeMessage(self, records("alice@example.test")))
        self.assertEqual(reply, Reply(
            "451", "Cannot verify the sender now, try again later"))
