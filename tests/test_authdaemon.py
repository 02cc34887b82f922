"""
Tests for pyfilter.clients.authdaemond against a real courier-authdaemond.
"""

from twisted.internet import defer, reactor
from twisted.logger import capturedLogs
from twisted.trial import unittest

from pyfilter.clients import authdaemond
from pyfilter.clients.base import ServiceError
from tests import services
from tests.helpers import makeContext


class ParseReplyTests(unittest.TestCase):
    def test_incomplete(self):
        """A reply without its final dot line is incomplete."""
        self.assertIsNone(authdaemond.parseReply(b"HOME=/h\n", False))

    def test_account(self):
        """KEY=value lines become a dict, split at the first '='."""
        self.assertEqual(authdaemond.parseReply(b"HOME=/h\nOPTIONS=a=b\n.\n",
                                               False),
                         ({"HOME": "/h", "OPTIONS": "a=b"},))

    def test_fail(self):
        """FAIL means no such account."""
        self.assertEqual(authdaemond.parseReply(b"FAIL\n", False), (None,))

    def test_askable(self):
        """Names with whitespace or control characters cannot be asked."""
        self.assertTrue(authdaemond.askable("alice@example.test"))
        for name in ("", "a b", "a\nPRE . smtp root", "a\tb", "a\x7f"):
            self.assertFalse(authdaemond.askable(name))


class ClientForTests(unittest.TestCase):
    def test_debianFallback(self):
        """Without socket_path and the reference's socket, Debian's is used."""
        self.patch(authdaemond, "REFERENCE_SOCKET", "/nonexistent/socket")
        self.patch(authdaemond.OPTIONS["socket_path"], "default",
                   "/nonexistent/socket")
        with capturedLogs() as events:
            client = authdaemond.clientFor(makeContext(self))
        self.assertEqual(client.where, authdaemond.DEBIAN_SOCKET)
        self.assertEqual(len(events), 1)

    def test_configured(self):
        """socket_path and the bounds come from [authdaemon.py]; shared."""
        context = makeContext(self, modulesText=(
            "[authdaemon.py]\nsocket_path = '/x/socket'\ntimeout = 3\n"
            "max_connections = 2\n"))
        client = authdaemond.clientFor(context)
        self.assertEqual((client.where, client.timeout), ("/x/socket", 3))
        self.assertIs(authdaemond.clientFor(context), client)


class AuthdaemonClientTests(unittest.TestCase):
    def setUp(self):
        self.authdaemond = services.shared(services.Authdaemond)
        self.client = authdaemond.AuthdaemonClient(
            reactor, self.authdaemond.socketPath, timeout=5)

    @defer.inlineCallbacks
    def test_found(self):
        """A userdb account's fields are returned."""
        account = yield self.client.userInfo("alice")
        self.assertEqual(account["HOME"], self.authdaemond.home("alice"))
        self.assertEqual(account["MAILDIR"], "./Maildir")

    @defer.inlineCallbacks
    def test_unknown(self):
        """An unknown account is None."""
        self.assertIsNone((yield self.client.userInfo("nobody-at-all")))

    @defer.inlineCallbacks
    def test_unaskable(self):
        """A name that would break the request line is None, unasked."""
        self.assertIsNone((yield self.client.userInfo("alice\nPRE . x y")))

    @defer.inlineCallbacks
    def test_stoppedAndBack(self):
        """A stopped authdaemond fails the lookup; a restarted one answers."""
        self.authdaemond.pause()
        try:
            yield self.assertFailure(self.client.userInfo("alice"),
                                     ServiceError)
        finally:
            self.authdaemond.start()
        self.assertIsNotNone((yield self.client.userInfo("alice")))

    @defer.inlineCallbacks
    def test_timeout(self):
        """An authdaemond that does not answer fails after the timeout."""
        server = services.SilentServer(self)
        client = authdaemond.AuthdaemonClient(reactor, server.path,
                                             timeout=0.2)
        e = yield self.assertFailure(client.userInfo("alice"), ServiceError)
        self.assertEqual(str(e),
                         "authdaemond did not answer within 0.2 seconds")
