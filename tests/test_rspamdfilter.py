"""
Tests for filters.rspamd against the suite's real rspamd.
"""

import os

import dkim
from twisted.internet import defer, reactor
from twisted.trial import unittest

from pyfilter import testing
from pyfilter.clients.rspamd import RspamdClient
from pyfilter.files import messageFiles
from tests import rspamd, services
from tests.test_rspamdclient import HAM, OUTGOING, withPattern


class RspamdFilterTests(unittest.TestCase):
    """
    The filter's verdicts and rewrites with rspamd's real replies.
    """

    def setUp(self):
        self.rspamd = services.shared(rspamd.Rspamd)
        self.harness = testing.Harness(self, "rspamd")
        self.filter = self.harness.filter
        self.filter.client = RspamdClient(
            reactor, self.rspamd.normalAddress, timeout=20.0)

    def message(self, data, **envelope):
        envelope.setdefault("ip", "192.0.2.1")
        message = self.harness.message(data=data, **envelope)
        os.chmod(self.harness.directory, 0o755)
        for directory in {os.path.dirname(message.dataPath)}:
            os.chmod(directory, 0o755)
        return message

    @defer.inlineCallbacks
    def test_gtube(self):
        """rspamd's reject gives 554 with its SMTP message."""
        message = self.message(withPattern("reject"))
        reply = yield self.filter.match(message)
        self.assertEqual((reply.code, reply.lines),
                         ("554", (rspamd.TEST_PATTERN_MESSAGE,)))
        self.assertEqual(message.notes["rspamd"]["action"], "reject")

    @defer.inlineCallbacks
    def test_clean(self):
        """A clean message passes with rspamd's milter headers."""
        message = self.message(HAM)
        reply = yield self.filter.match(message)
        self.assertIsNone(reply)
        with open(message.dataPath, "rb") as f:
            data = f.read()
        self.assertIn(b"X-Spam-Status: No, score=0.00", data)
        self.assertTrue(data.endswith(HAM.split(b"\n\n", 1)[1]))

    @defer.inlineCallbacks
    def test_rewriteSubject(self):
        """rewrite subject replaces the Subject."""
        message = self.message(withPattern("rewrite subject"))
        yield self.filter.match(message)
        with open(message.dataPath, "rb") as f:
            self.assertIn(b"Subject: [SPAM] pattern\n", f.read())

    @defer.inlineCallbacks
    def test_signed(self):
        """Mail of an authenticated sender leaves with a valid signature."""
        message = self.message(OUTGOING, sender="alice@example.test",
                               recipients=("carol@example.org",),
                               auth="alice@example.test", ip="192.0.2.9")
        reply = yield self.filter.match(message)
        self.assertIsNone(reply)
        with open(message.dataPath, "rb") as f:
            data = f.read()
        self.assertTrue(data.startswith(b"DKIM-Signature:"))
        self.assertTrue(dkim.verify(
            data, dnsfunc=lambda name, timeout=5: self.rspamd.dkimRecord))

    @defer.inlineCallbacks
    def test_fileHandOver(self):
        """hand_over 'file' gives rspamd the path; the verdict is the same."""
        self.filter.config["hand_over"] = "file"
        reply = yield self.filter.match(self.message(withPattern("reject")))
        self.assertEqual(reply.code, "554")

    def test_mtaName(self):
        """Courier's me is the MTA name rspamd is told."""
        self.assertEqual(self.filter.envelope(self.message(HAM)).mtaName,
                         "mail.example.test")

    @defer.inlineCallbacks
    def test_down(self):
        """
        rspamd down: the filter answers its on_error (451 naming the
        reason by default) and the message records an rspamd outage;
        with on_error 'continue' it has no opinion.
        """
        self.filter.client = RspamdClient(reactor, "http://127.0.0.1:1",
                                          timeout=5.0)
        message = self.message(HAM)
        reply = yield self.filter.consider(message)
        self.assertEqual(reply.code, "451")
        self.assertIn("Spam scanner error: cannot connect", reply.lines[0])
        self.assertEqual([(name, service) for name, service, _
                          in message.outages], [("rspamd", "rspamd")])
        self.filter.config["on_error"] = "continue"
        self.assertIsNone((yield self.filter.consider(self.message(HAM))))

    def test_url(self):
        """The url option's URL reaches the worker."""
        port = self.rspamd.normalAddress.rpartition(":")[2]
        self.filter.client = RspamdClient(
            reactor, f"http://127.0.0.1:{port}/", timeout=20.0)
        return self.filter.match(self.message(HAM))

    @defer.inlineCallbacks
    def test_override(self):
        """The actions map overrides a verdict."""
        self.filter.config["actions"] = {"reject": "550 no thanks"}
        reply = yield self.filter.match(self.message(withPattern("reject")))
        self.assertEqual((reply.code, reply.lines), ("550", ("no thanks",)))


class RemoveFieldTests(unittest.TestCase):
    """
    rspamd's remove_headers indexes.
    """

    def edit(self, index):
        from pyfilter.courier.rewrite import Rewrite
        from filters.rspamd import removeField
        path = self.mktemp()
        with open(path, "wb") as f:
            f.write(b"X-A: 1\nX-A: 2\nX-A: 3\n\nbody\n")
        edit = Rewrite(path)
        removeField(edit, "X-A", index)
        return edit.fields

    def test_indexes(self):
        self.assertEqual(self.edit(0), [])
        self.assertEqual(self.edit(1), [b"X-A: 2\n", b"X-A: 3\n"])
        self.assertEqual(self.edit(-1), [b"X-A: 1\n", b"X-A: 2\n"])
        self.assertEqual(len(self.edit(5)), 3)


class LearnCommandTests(unittest.TestCase):
    """
    C{pyfilter rspamd learn-spam|learn-ham} against the real controller
    (with Redis).
    """

    def setUp(self):
        self.rspamd = services.shared(rspamd.Rspamd)

    def learn(self, *argv):
        import io
        from pyfilter.cli import rspamdlearn
        out, err = io.StringIO(), io.StringIO()
        done = []

        def work(reactor):
            return defer.ensureDeferred(rspamdlearn.learnAll(
                RspamdClient(reactor, self.rspamd.controllerAddress, 20.0,
                             password=self.rspamd.enablePassword),
                list(messageFiles(argv)), True, out, err))
        return defer.maybeDeferred(work, reactor).addCallback(
            lambda status: (status, out.getvalue(), err.getvalue()))

    @defer.inlineCallbacks
    def test_learnMaildir(self):
        """A Maildir's messages are learned; a missing file fails."""
        import uuid
        maildir = self.mktemp()
        for sub in ("cur", "new", "tmp"):
            os.makedirs(os.path.join(maildir, sub))
        with open(os.path.join(maildir, "new", "1"), "wb") as f:
            f.write(b"From: a@example.org\nSubject: offer %s\n\n"
                    % uuid.uuid4().hex.encode() + b"cheap pills now " * 20)
        status, out, err = yield self.learn(maildir)
        self.assertEqual((status, out.splitlines()[-1]),
                         (0, "1 learned, 0 skipped, 0 failed"))
        status, out, err = yield self.learn("/nonexistent")
        self.assertEqual(status, 1)


class VerdictTests(unittest.TestCase):
    """
    Replies for verdicts the suite's rspamd does not give by a pattern.
    """

    def verdict(self, action, messages=None):
        from pyfilter.clients.rspamd import CheckResult
        harness = testing.Harness(self, "rspamd")
        message = harness.message()
        result = CheckResult(action, 16.0, 15.0, messages=messages or {})
        return harness.filter._checked(result, message)

    def test_temporary(self):
        """soft reject and greylist give 451."""
        for action in ("soft reject", "greylist"):
            self.assertEqual(self.verdict(action).code, "451")

    def test_scoreReject(self):
        """A score-based reject (no SMTP message) gives reject_reply."""
        reply = self.verdict("reject")
        self.assertEqual((reply.code, reply.lines),
                         ("554", ("Mail rejected - spam detected",)))

    def test_actionsChecked(self):
        """An action's override must be a reply or 'accept'."""
        from pyfilter import ConfigError
        error = self.assertRaises(
            ConfigError, testing.Harness, self, "rspamd",
            "actions = {'reject': 'go away'}")
        self.assertIn("[rspamd.py] actions", str(error))
        harness = testing.Harness(
            self, "rspamd", "actions = {'reject': '550 no', 'greylist': "
            "'accept'}")
        self.assertEqual(harness.filter.config["actions"]["greylist"],
                         "accept")
