"""
Tests for pyfilter.clients.rspamd: its parsing of rspamd's replies, and the
client against a real rspamd (tests/rspamd.py), a silent server and a
server that answers nonsense.
"""

import os
import socket
import uuid

import dkim
from twisted.internet import defer, reactor
from twisted.internet.protocol import Factory, Protocol
from twisted.trial import unittest
from twisted.web import resource, server

from pyfilter.clients import rspamd as rspamdclient
from pyfilter.clients.rspamd import (
    Envelope, HeaderAddition, LearnResult, RspamdClient, RspamdError,
    parseCheckReply)
from tests import rspamd, services

HAM = (b"From: alice@example.org\nTo: bob@example.test\nSubject: lunch\n"
       b"Date: Wed, 25 Nov 2026 09:00:00 +0000\nMessage-ID: <1@example.org>"
       b"\n\nShall we have lunch tomorrow?\n")
OUTGOING = (b"From: Alice <alice@example.test>\nTo: carol@example.org\n"
            b"Subject: minutes\nDate: Wed, 25 Nov 2026 09:00:00 +0000\n"
            b"Message-ID: <2@example.test>\n\nThe minutes of today's "
            b"meeting.\n")
INBOUND = Envelope(ip="192.0.2.1", helo="mail.example.org",
                   sender="alice@example.org",
                   recipients=("bob@example.test",))
SUBMISSION = Envelope(ip="192.0.2.9", helo="laptop",
                      sender="alice@example.test",
                      recipients=("carol@example.org",),
                      user="alice@example.test")


def withPattern(action):
    """
    A message carrying the rspamd test pattern for C{action}.
    """
    return (b"From: alice@example.org\nTo: bob@example.test\n"
            b"Subject: pattern\n\n" + rspamd.TEST_PATTERNS[action] + b"\n")


def asking(*fields):
    """
    A message with the test rules' header C{fields} (C{b"Name: value"}).
    """
    return (b"From: alice@example.org\nTo: bob@example.test\n"
            + b"".join(field + b"\n" for field in fields)
            + b"Subject: test\n\nbody\n")


def learnable():
    """
    A message never seen before, with enough words to learn from.
    """
    token = uuid.uuid4().hex
    return (f"From: alice@example.org\nTo: bob@example.test\n"
            f"Subject: offer {token}\nMessage-ID: <{token}@example.org>\n\n"
            f"Buy cheap replica watches now, limited offer {token}, click "
            f"here to order today and save money on luxury brands.\n"
            ).encode()


def prepend(fields, data):
    """
    C{data} with header C{fields} (C{(name, value)}, values as rspamd gave
    them) on top, in that order.
    """
    return b"".join(f"{name}: {value}\n".encode() for name, value in fields
                    ) + data


class EnvelopeTests(unittest.TestCase):
    def test_headers(self):
        """
        Each field is its rspamd header, a Rcpt per recipient, the null
        sender as <>, extra headers as given, absent fields left out.
        """
        headers = Envelope(ip="192.0.2.1", sender="",
                           recipients=("a@x.test", "b@x.test"), user="alice",
                           extra=(("Settings-Id", "outbound"),)).headers()
        self.assertEqual(sorted((name, values) for name, values in
                                headers.getAllRawHeaders()), [
            (b"From", [b"<>"]), (b"Ip", [b"192.0.2.1"]),
            (b"Rcpt", [b"a@x.test", b"b@x.test"]),
            (b"Settings-Id", [b"outbound"]), (b"User", [b"alice"])])

    def test_bytesKept(self):
        """An address that is not UTF-8 is sent as its bytes."""
        headers = Envelope(sender="caf\udce9@x.test").headers()
        self.assertEqual(headers.getRawHeaders(b"From"), [b"caf\xe9@x.test"])

    def test_lineEndsRemoved(self):
        """A value cannot add a header of its own."""
        headers = Envelope(helo="x\r\nUser: root").headers()
        self.assertEqual(headers.getRawHeaders(b"Helo"), [b"x User: root"])
        self.assertFalse(headers.hasHeader(b"User"))


class ParseTests(unittest.TestCase):
    def test_milterForms(self):
        """
        Every form of rspamd 3.4's milter block: objects, a name with
        several values, a bare string, "index" for "order"; additions keep
        the reply's order; other entries are kept as they came.
        """
        result = parseCheckReply(
            b'{"is_skipped":false,"score":6.5,"required_score":15.0,'
            b'"action":"add header","symbols":{"A":{"name":"A","score":6.5,'
            b'"metric_score":1.0,"options":["x","y"]}},"messages":{},'
            b'"message-id":"1@example.org","milter":{"add_headers":'
            b'{"X-Top":{"order":0,"value":"top"},"X-Twice":[{"order":-1,'
            b'"value":"first"},{"order":-1,"value":"second"}],'
            b'"X-Legacy":"legacy","X-Index":{"index":2,"value":"i"}},'
            b'"remove_headers":{"X-All":0,'
            b'"X-First":1,"X-Last":-1},"change_from":"a@b.test"}}')
        self.assertEqual((result.action, result.score, result.requiredScore,
                          result.isSkipped, result.messageId),
                         ("add header", 6.5, 15.0, False, "1@example.org"))
        self.assertEqual(result.symbols["A"].options, ("x", "y"))
        self.assertEqual(result.milter.addHeaders, (
            HeaderAddition("X-Top", "top", 0),
            HeaderAddition("X-Twice", "first", -1),
            HeaderAddition("X-Twice", "second", -1),
            HeaderAddition("X-Legacy", "legacy", -1),
            HeaderAddition("X-Index", "i", 2)))
        self.assertEqual(result.milter.removeHeaders, (
            ("X-All", 0), ("X-First", 1), ("X-Last", -1)))
        self.assertEqual(result.milter.extra, {"change_from": "a@b.test"})
        self.assertIsNone(result.smtpMessage)

    def test_dkimSignatures(self):
        """One top-level signature is a string, several an array."""
        base = b'{"action":"no action","score":0,"required_score":15,'
        self.assertEqual(parseCheckReply(
            base + b'"dkim-signature":"v=1; a"}').dkimSignatures, ("v=1; a",))
        self.assertEqual(parseCheckReply(
            base + b'"dkim-signature":["v=1; a","v=1; b"]}').dkimSignatures,
            ("v=1; a", "v=1; b"))
        self.assertEqual(parseCheckReply(base[:-1] + b"}").dkimSignatures,
                         ())

    def assertUnusable(self, body, reason):
        e = self.assertRaises(RspamdError, parseCheckReply, body)
        self.assertEqual(str(e), reason)

    def test_notJSON(self):
        """A reply that is not JSON is an error carrying the parser's."""
        e = self.assertRaises(RspamdError, parseCheckReply, b"<html>")
        self.assertTrue(str(e).startswith("rspamd's reply is not JSON: "))
        self.assertIsInstance(e.cause, ValueError)

    def test_noAction(self):
        """A reply without an action is an error."""
        self.assertUnusable(b'{"score": 1.0}', "rspamd's reply has no action")
        self.assertUnusable(b'["no action"]', "rspamd's reply has no action")

    def test_badParts(self):
        """A part of the wrong type makes the whole reply unusable."""
        base = b'{"action":"no action","score":0,"required_score":15'
        for extra, reason in [
                (b'', None),
                (b',"score":"high"', "a bad score"),
                (b',"required_score":true', "a bad required_score"),
                (b',"milter":{"add_headers":{"X":{"order":1}}}',
                 "a bad value of header X"),
                (b',"milter":{"add_headers":{"X":{"value":"v","order":"1"}}}',
                 "a bad order of header X"),
                (b',"milter":{"remove_headers":{"X":"all"}}',
                 "a bad index of header to remove X"),
                (b',"milter":[]', "a bad milter block"),
                (b',"symbols":{"A":{"score":1,"options":[1]}}',
                 "bad options of symbol A"),
                (b',"dkim-signature":{}', "a bad dkim-signature"),
                (b',"subject":1', "a bad subject")]:
            body = base + extra + b"}"
            if reason is None:
                self.assertEqual(parseCheckReply(body).action, "no action")
            else:
                self.assertUnusable(body, "rspamd's reply has " + reason)


class RealRspamdTests(unittest.TestCase):
    """
    The client against the suite's rspamd.
    """

    def setUp(self):
        self.rspamd = services.shared(rspamd.Rspamd)
        self.client = self.makeClient(self.rspamd.normalAddress)

    def makeClient(self, where, **options):
        options.setdefault("timeout", 20.0)
        return RspamdClient(reactor, where, **options)

    def messageFile(self, data):
        """
        A file of C{data} that rspamd's user may read.
        """
        path = os.path.abspath(self.mktemp())
        os.chmod(os.path.dirname(path), 0o755)
        with open(path, "wb") as f:
            f.write(data)
        return path

    def check(self, data, envelope=INBOUND, **options):
        return self.client.check(self.messageFile(data), envelope, **options)

    @defer.inlineCallbacks
    def test_clean(self):
        """
        A clean message gets no action, a score, and the header changes of
        rspamd's milter_headers module (X-Spam-Status added, forged copies
        and X-Spam removed), nothing signed.
        """
        result = yield self.check(HAM)
        self.assertEqual((result.action, result.score, result.requiredScore,
                          result.isSkipped, result.messageId),
                         ("no action", 0.0, 15.0, False, "1@example.org"))
        self.assertIsNone(result.smtpMessage)
        self.assertIsNone(result.subject)
        self.assertEqual(result.milter.addHeaders, (
            HeaderAddition("X-Spam-Status", "No, score=0.00", -1),))
        self.assertEqual(sorted(result.milter.removeHeaders),
                         [("X-Spam", 0), ("X-Spam-Status", 0)])
        self.assertEqual(result.dkimSignatures, ())

    @defer.inlineCallbacks
    def test_hostName(self):
        """An address may name the host."""
        port = self.rspamd.normalAddress.rpartition(":")[2]
        client = self.makeClient(f"localhost:{port}")
        result = yield client.check(self.messageFile(HAM), INBOUND)
        self.assertEqual(result.action, "no action")

    @defer.inlineCallbacks
    def test_gtube(self):
        """GTUBE is rejected with rspamd's SMTP message."""
        result = yield self.check(withPattern("reject"))
        self.assertEqual((result.action, result.smtpMessage,
                          result.isSkipped, list(result.symbols)),
                         ("reject", rspamd.TEST_PATTERN_MESSAGE, True,
                          ["GTUBE"]))

    @defer.inlineCallbacks
    def test_testPatterns(self):
        """rspamd's other test patterns give their actions."""
        for action in ["add header", "rewrite subject", "no action"]:
            result = yield self.check(withPattern(action))
            self.assertEqual(result.action, action)
        self.assertEqual(result.score, 0.0)
        rewritten = yield self.check(withPattern("rewrite subject"))
        self.assertEqual(rewritten.subject, "[SPAM] pattern")

    @defer.inlineCallbacks
    def test_scores(self):
        """The score picks the action by the configured thresholds."""
        for score, action in [(3, "no action"), (4.5, "greylist"),
                              (6, "add header"), (9, "rewrite subject"),
                              (16, "reject"), (-2, "no action")]:
            result = yield self.check(asking(
                b"X-Pyfilter-Test-Score: %r" % score))
            self.assertEqual((result.action, result.score), (action, score))
            self.assertEqual(result.symbols["PYFILTER_TEST_SCORE"].score,
                             score)

    @defer.inlineCallbacks
    def test_actionsWithMessages(self):
        """Every action, with the SMTP message that asked for it."""
        for action in rspamdclient.ACTIONS:
            result = yield self.check(asking(
                b"X-Pyfilter-Test-Action: " + action.encode(),
                b"X-Pyfilter-Test-Message: not now"))
            self.assertEqual((result.action, result.smtpMessage),
                             (action, "not now"))

    @defer.inlineCallbacks
    def test_milterBlock(self):
        """
        Every form of rspamd's milter block, as its Lua API makes them, in
        the parsed result.
        """
        result = yield self.check(asking(b"X-Pyfilter-Test-Milter: yes"))
        byName = (lambda a: (a.name, a.value))
        self.assertEqual(sorted(result.milter.addHeaders, key=byName),
                         sorted([
            HeaderAddition("X-Pyfilter-Top", "top", 0),
            HeaderAddition("X-Pyfilter-End", "end", -1),
            HeaderAddition("X-Pyfilter-Twice", "first", -1),
            HeaderAddition("X-Pyfilter-Twice", "second", -1),
            HeaderAddition("X-Pyfilter-Legacy", "legacy", -1),
            HeaderAddition("X-Spam-Status", "No, score=0.00", -1)],
                                key=byName))
        twice = [addition.value for addition in result.milter.addHeaders
                 if addition.name == "X-Pyfilter-Twice"]
        self.assertEqual(twice, ["first", "second"])
        self.assertEqual(sorted(result.milter.removeHeaders), [
            ("X-Pyfilter-Remove-All", 0), ("X-Pyfilter-Remove-First", 1),
            ("X-Pyfilter-Remove-Last", -1), ("X-Spam", 0),
            ("X-Spam-Status", 0)])

    @defer.inlineCallbacks
    def test_settingsId(self):
        """An extra Settings-Id header reaches rspamd's settings."""
        message = asking(b"X-Pyfilter-Test-Score: 3")
        strict = Envelope(extra=(("Settings-Id", "pyfilter-strict"),))
        result = yield self.check(message, strict)
        self.assertEqual((result.action, result.requiredScore),
                         ("reject", 2.0))
        result = yield self.check(message, Envelope())
        self.assertEqual(result.action, "no action")

    @defer.inlineCallbacks
    def test_envelopeLogged(self):
        """rspamd logs the envelope it was given."""
        queueId = uuid.uuid4().hex[:12].upper()
        envelope = Envelope(ip="192.0.2.7", helo="mx.example.org",
                            sender="alice@example.org",
                            recipients=("bob@example.test",
                                        "carol@example.test"),
                            queueId=queueId, user="dave")
        yield self.check(HAM, envelope)
        line = [line for line in self.rspamd.log().splitlines()
                if f"qid: <{queueId}>" in line]
        self.assertEqual(len(line), 1, line)
        for logged in ["ip: 192.0.2.7", "user: dave",
                       "from: <alice@example.org>",
                       "rcpts: <bob@example.test,carol@example.test>"]:
            self.assertIn(logged, line[0])

    def dnsRecord(self, name, timeout=5):
        self.assertEqual(name, b"pyfilter._domainkey.example.test.")
        return self.rspamd.dkimRecord

    @defer.inlineCallbacks
    def test_dkimSigned(self):
        """
        A message from an authenticated sender of the signing domain comes
        back with a DKIM-Signature (in the reply's "dkim-signature", rspamd's
        default) that verifies once on top of the message, also after the
        milter block's additions at the end.
        """
        result = yield self.check(OUTGOING, SUBMISSION)
        self.assertIn("DKIM_SIGNED", result.symbols)
        self.assertEqual(len(result.dkimSignatures), 1)
        signed = prepend([("DKIM-Signature", result.dkimSignatures[0])],
                         OUTGOING)
        self.assertTrue(dkim.verify(signed, dnsfunc=self.dnsRecord))
        head, _, body = signed.partition(b"\n\n")
        self.assertTrue(dkim.verify(
            head + b"".join(f"\n{a.name}: {a.value}".encode()
                            for a in result.milter.addHeaders)
            + b"\n\n" + body, dnsfunc=self.dnsRecord))
        self.assertFalse(dkim.verify(signed.replace(b"minutes", b"minute"),
                                     dnsfunc=self.dnsRecord))

    @defer.inlineCallbacks
    def test_unauthenticatedNotSigned(self):
        """The same message without an authenticated user is not signed."""
        result = yield self.check(OUTGOING, Envelope(
            ip="192.0.2.9", sender="alice@example.test",
            recipients=("carol@example.org",)))
        self.assertEqual(result.dkimSignatures, ())
        self.assertNotIn("DKIM_SIGNED", result.symbols)

    @defer.inlineCallbacks
    def test_arcSealed(self):
        """
        Inbound mail for the ARC domain comes back with an ARC set in the
        milter block, each field at order 1; on top in RFC 8617's order it
        verifies.
        """
        message = HAM.replace(b"bob@example.test", b"dave@forward.test")
        result = yield self.check(message, Envelope(
            ip="192.0.2.1", sender="alice@example.org",
            recipients=("dave@forward.test",)))
        arc = {a.name: a for a in result.milter.addHeaders
               if a.name.startswith("ARC-")}
        self.assertEqual(sorted(arc), ["ARC-Authentication-Results",
                                       "ARC-Message-Signature", "ARC-Seal"])
        self.assertEqual({a.order for a in arc.values()}, {1})
        sealed = prepend([(name, arc[name].value) for name in (
            "ARC-Seal", "ARC-Message-Signature",
            "ARC-Authentication-Results")], message)
        verdict, _, _ = dkim.arc_verify(sealed, dnsfunc=lambda name,
                                        timeout=5: self.rspamd.dkimRecord)
        self.assertEqual(verdict, b"pass")

    @defer.inlineCallbacks
    def test_fileHandOverSameResult(self):
        """Handing the message over by path gives the streamed result."""
        for data in [HAM, withPattern("reject"),
                     asking(b"X-Pyfilter-Test-Milter: yes"),
                     asking(b"X-Pyfilter-Test-Score: 6.5"),
                     HAM * 2000]:
            path = self.messageFile(data)
            streamed = yield self.client.check(path, INBOUND)
            byPath = yield self.client.check(path, INBOUND, handOver="file")
            self.assertEqual(byPath, streamed)

    @defer.inlineCallbacks
    def test_fileHandOverSigned(self):
        """A signature made from the file verifies like a streamed one."""
        result = yield self.client.check(self.messageFile(OUTGOING),
                                         SUBMISSION, handOver="file")
        self.assertTrue(dkim.verify(
            prepend([("DKIM-Signature", result.dkimSignatures[0])],
                    OUTGOING), dnsfunc=self.dnsRecord))

    @defer.inlineCallbacks
    def test_fileHandOverNameQuoted(self):
        """A path with a space and a percent sign reaches rspamd intact."""
        path = os.path.join(os.path.dirname(self.messageFile(b"")),
                            "a b%20c")
        with open(path, "wb") as f:
            f.write(HAM)
        result = yield self.client.check(path, INBOUND, handOver="file")
        self.assertEqual(result.messageId, "1@example.org")

    @defer.inlineCallbacks
    def test_fileHandOverMissing(self):
        """A file rspamd cannot open is its 503, with its reason."""
        path = self.messageFile(HAM) + ".gone"
        e = yield self.assertFailure(
            self.client.check(path, INBOUND, handOver="file"), RspamdError)
        self.assertEqual(str(e), f"rspamd answered 503: Invalid file "
                         f"({path}): No such file or directory")

    @defer.inlineCallbacks
    def test_fileHandOverUnreadable(self):
        """A file rspamd's user may not read is its 503."""
        if os.geteuid() != 0:
            raise unittest.SkipTest("rspamd runs as this user")
        path = self.messageFile(HAM)
        os.chmod(path, 0o600)
        e = yield self.assertFailure(
            self.client.check(path, INBOUND, handOver="file"), RspamdError)
        self.assertEqual(str(e), f"rspamd answered 503: Cannot open file "
                         f"({path}): Permission denied")

    def test_unknownHandOver(self):
        """Only "stream" and "file" are hand-overs."""
        self.assertRaises(ValueError, self.client.check, "/x", Envelope(),
                          handOver="fd")

    @defer.inlineCallbacks
    def test_learn(self):
        """
        The controller learns with the enable password: a new message is
        learned, the same again is not (and says why), learning it as the
        other class is; a short message is not (too few tokens).
        """
        client = self.makeClient(self.rspamd.controllerAddress,
                                 password=self.rspamd.enablePassword)
        path = self.messageFile(learnable())
        self.assertEqual((yield client.learn(path, spam=True)),
                         LearnResult(True))
        again = yield client.learn(path, spam=True)
        self.assertFalse(again.learned)
        self.assertRegex(again.reason, "has been already learned as spam")
        self.assertEqual((yield client.learn(path, spam=False)),
                         LearnResult(True))
        short = yield client.learn(self.messageFile(HAM), spam=False)
        self.assertFalse(short.learned)
        self.assertRegex(short.reason, "less tokens than required")

    @defer.inlineCallbacks
    def test_learnPasswords(self):
        """Without the enable password, learning is refused."""
        path = self.messageFile(learnable())
        for password in [None, "wrong", self.rspamd.password]:
            client = self.makeClient(self.rspamd.controllerAddress,
                                     password=password)
            e = yield self.assertFailure(client.learn(path, spam=True),
                                         RspamdError)
            self.assertEqual(str(e), "rspamd answered 401: Unauthorized")

    @defer.inlineCallbacks
    def test_rspamdStopped(self):
        """A stopped rspamd is a connection error at once, not a timeout."""
        stopped = rspamd.Rspamd()
        self.addCleanup(stopped.stop)
        stopped.start()
        client = self.makeClient(stopped.normalAddress, timeout=30.0)
        result = yield client.check(self.messageFile(HAM), INBOUND)
        self.assertEqual(result.action, "no action")
        stopped.pause()
        e = yield self.assertFailure(
            client.check(self.messageFile(HAM), INBOUND), RspamdError)
        self.assertRegex(str(e), f"^cannot connect to rspamd at "
                         f"{stopped.normalAddress}: .*[Cc]onnection refused")


class _Silent(Factory):
    """
    Accepts TCP connections and never answers.

    @ivar made: the protocols of the connections made.
    @ivar lost: how many of them were closed.
    """

    def __init__(self):
        self.made = []
        self.lost = 0

    def buildProtocol(self, address):
        factory = self

        class Silent(Protocol):
            def connectionLost(self, reason):
                factory.lost += 1
        self.made.append(Silent())
        return self.made[-1]


class _Answer(resource.Resource):
    """
    Answers every request with C{code} and C{body}.
    """

    isLeaf = True

    def __init__(self, code, body):
        resource.Resource.__init__(self)
        self.code = code
        self.body = body

    def render_POST(self, request):
        request.setResponseCode(self.code)
        return self.body


class UnusableServerTests(unittest.TestCase):
    """
    The client against servers that do not answer as rspamd does.
    """

    def listen(self, factory):
        port = reactor.listenTCP(0, factory, interface="127.0.0.1")
        self.addCleanup(port.stopListening)
        return f"127.0.0.1:{port.getHost().port}"

    def client(self, where, **options):
        return RspamdClient(reactor, where, **options)

    def check(self, client):
        path = self.mktemp()
        with open(path, "wb") as f:
            f.write(HAM)
        return client.check(path, INBOUND)

    def silent(self):
        factory = _Silent()
        where = self.listen(factory)
        self.addCleanup(lambda: [p.transport.abortConnection()
                                 for p in factory.made])
        return factory, where

    @defer.inlineCallbacks
    def test_timeout(self):
        """
        A server that never answers fails the request after the timeout,
        and the connection is closed.
        """
        factory, where = self.silent()
        e = yield self.assertFailure(self.check(self.client(
            where, timeout=0.3)), RspamdError)
        self.assertEqual(str(e), "rspamd did not answer within 0.3 seconds")
        yield services.wait(0.05)
        self.assertEqual((len(factory.made), factory.lost), (1, 1))

    @defer.inlineCallbacks
    def test_connectTimeout(self):
        """Connecting is bounded by its own timeout."""
        # A listening socket whose backlog is full drops new connections'
        # SYNs: connecting to it never ends.
        full = socket.socket()
        self.addCleanup(full.close)
        full.bind(("127.0.0.1", 0))
        full.listen(0)
        for _ in range(3):
            filler = socket.socket()
            self.addCleanup(filler.close)
            filler.setblocking(False)
            filler.connect_ex(full.getsockname())
        where = "127.0.0.1:%d" % full.getsockname()[1]
        client = self.client(where, connectTimeout=0.3, timeout=10)
        e = yield self.assertFailure(self.check(client), RspamdError)
        self.assertEqual(str(e), f"cannot connect to rspamd at {where}: "
                         "User timeout caused connection failure")

    @defer.inlineCallbacks
    def test_boundAndCancel(self):
        """
        At most maxConnections requests connect, the next waits, more than
        maxWaiting fail at once; cancelling aborts a connection.
        """
        factory, where = self.silent()
        client = self.client(where, maxConnections=2, maxWaiting=1)
        pending = [self.check(client) for _ in range(3)]
        e = yield self.assertFailure(self.check(client), RspamdError)
        self.assertEqual(str(e), "too many requests waiting for rspamd")
        yield services.wait(0.2)
        self.assertEqual(len(factory.made), 2)
        for d in reversed(pending):
            d.cancel()
            self.failureResultOf(d, defer.CancelledError)
        yield services.wait(0.05)
        self.assertEqual((len(factory.made), factory.lost), (2, 2))

    @defer.inlineCallbacks
    def test_unixSocket(self):
        """A UNIX socket path is an address too."""
        silent = services.SilentServer(self)
        d = self.check(self.client(silent.path))
        yield services.wait(0.2)
        self.assertEqual(len(silent.connections), 1)
        d.cancel()
        self.failureResultOf(d, defer.CancelledError)

    @defer.inlineCallbacks
    def test_nonsense(self):
        """
        A 5xx, a reply that is not JSON, one without an action and one too
        long are errors saying so.
        """
        for code, body, reason in [
                (500, b"oops", "rspamd answered 500: Internal Server Error"),
                (502, b'{"error":"no worker"}',
                 "rspamd answered 502: no worker"),
                (200, b"<html>", "rspamd's reply is not JSON: Expecting "
                 "value: line 1 column 1 (char 0)"),
                (200, b'{"score":1}', "rspamd's reply has no action"),
                (200, b'{"action":"' + b"x" * 200 + b'"}',
                 "rspamd's reply is longer than 100 bytes")]:
            client = self.client(self.listen(server.Site(_Answer(code,
                                                                 body))))
            client.maxReply = 100
            e = yield self.assertFailure(self.check(client), RspamdError)
            self.assertEqual(str(e), reason)

    @defer.inlineCallbacks
    def test_closedMidReply(self):
        """A server that closes without a whole reply is an error."""

        class Rude(Protocol):
            def dataReceived(self, data):
                self.transport.write(b"HTTP/1.1 200 OK\r\nContent-Length: "
                                     b"100\r\n\r\n{")
                self.transport.loseConnection()
        e = yield self.assertFailure(self.check(self.client(
            self.listen(Factory.forProtocol(Rude)))), RspamdError)
        self.assertRegex(str(e), "^rspamd at 127.0.0.1:[0-9]+ failed: ")
