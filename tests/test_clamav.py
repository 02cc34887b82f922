"""
Tests for the clamav filter and pyfilter.clients.clamd, against a real
clamd with the project's test signature.
"""

import socket

from twisted.internet import defer
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.logger import capturedLogs, formatEvent
from twisted.trial import unittest

from pyfilter.clients import clamd
from pyfilter import quarantine
from pyfilter.config.errors import ConfigError
from pyfilter.engine.reply import Reply
from pyfilter.clients.base import ServiceError
from tests import services
from tests.helpers import writeMessage

RECORDS = ["ssender@example.org", "rbob@example.test", "R", "N"]
CLEAN = b"Subject: hello\n\nNothing to see here.\n"
with open(services.SIGNED_FILE, "rb") as _f:
    SIGNED = b"Subject: signed\n\n" + _f.read()
VIRUS = Reply("554", "Virus found - Signature is " + services.TEST_SIGNATURE)


class ParseResultTests(unittest.TestCase):
    def test_clean(self):
        """A clean reply for the scanned object gives None."""
        self.assertIsNone(clamd.parseResult("stream: OK", "stream"))

    def test_found(self):
        """A FOUND reply gives the signature."""
        self.assertEqual(clamd.parseResult("/a b: Eicar FOUND", "/a b"),
                         "Eicar")

    def test_error(self):
        """An ERROR reply fails with clamd's reason."""
        e = self.assertRaises(ServiceError, clamd.parseResult,
                              "INSTREAM size limit exceeded. ERROR", "stream")
        self.assertEqual(str(e), "INSTREAM size limit exceeded.")

    def test_descriptorReply(self):
        """A reply naming the passed descriptor is read whatever its
        number."""
        self.assertEqual(clamd.parseResult("fd[12]: Eicar FOUND"), "Eicar")
        self.assertIsNone(clamd.parseResult("fd[7]: OK"))
        self.assertRaises(ServiceError, clamd.parseResult, "garbage")

    def test_descriptorNotPassed(self):
        """When the descriptor cannot be sent the scan fails as a scanner
        error and the session is dropped."""
        class Socket:
            def sendmsg(self, buffers, ancillary):
                raise OSError("sendmsg: no buffer space")

        transport = StringTransport()
        transport.socket = Socket()
        client = clamd.ClamdClient(Clock(), "/nonexistent/clamd.sock")
        session = clamd._Session(client, True)
        session.makeConnection(transport)
        with open(__file__, "rb") as f:
            answer = session.request(clamd._FILDES, f)
        failure = self.failureResultOf(answer, ServiceError)
        self.assertIn("cannot pass the file to clamd", str(failure.value))
        self.assertTrue(transport.disconnecting)
        self.assertFalse(session.usable)

    def test_sessionAnswers(self):
        """A session's answers are matched to its requests by number; an
        answer out of turn ends the session."""
        transport = StringTransport()
        session = clamd._Session(clamd.ClamdClient(Clock(), "/x"), True)
        session.makeConnection(transport)
        first = session.request(clamd._OPEN)
        session.dataReceived(b"1: PO")
        session.dataReceived(b"NG\0")
        self.assertEqual(self.successResultOf(first), "PONG")
        second = session.request(b"zSCAN /a\0")
        session.dataReceived(b"1: /a: OK\0")
        failure = self.failureResultOf(second, ServiceError)
        self.assertIn("unexpected reply", str(failure.value))
        self.assertEqual(transport.value(), clamd._OPEN + b"zSCAN /a\0")
        self.assertTrue(transport.disconnecting)

    def test_otherPath(self):
        """A result for another object is an error, not a clean scan."""
        self.assertRaises(ServiceError, clamd.parseResult,
                          "/other: Eicar FOUND", "/mine")

    def test_localSocketFromConf(self):
        """LocalSocket is read from the first clamd.conf that has one."""
        first = self.mktemp()
        second = self.mktemp()
        with open(second, "w") as f:
            f.write("# c\nLocalSocket /run/clamd.ctl\nFoo bar\n")
        self.assertEqual(clamd.localSocketFromConf([first, second]),
                         "/run/clamd.ctl")


class ClamAVTests(unittest.TestCase):
    def setUp(self):
        self.clamd = services.shared(services.Clamd)

    def clamav(self, **options):
        options.setdefault("local_socket", self.clamd.socketPath)
        text = "[clamav.py]\n" + "".join(
            f"{name} = {value!r}\n" for name, value in options.items())
        started = services.serviceFilter(self, "clamav", text)
        self.addCleanup(started.stop)
        return started

    @defer.inlineCallbacks
    def test_cleanStream(self):
        """A clean message streamed to clamd gets no opinion."""
        reply = yield self.clamav(scan_mode="stream").consider(
            writeMessage(self, RECORDS, CLEAN))
        self.assertIsNone(reply)

    @defer.inlineCallbacks
    def test_virusStream(self):
        """A message with the signature gets the reference's 554."""
        reply = yield self.clamav(scan_mode="stream").consider(
            writeMessage(self, RECORDS, SIGNED))
        self.assertEqual(reply, VIRUS)

    @defer.inlineCallbacks
    def test_virusPath(self):
        """With scan_mode 'path' clamd reads the file itself."""
        reply = yield self.clamav(scan_mode="path").consider(
            writeMessage(self, RECORDS, SIGNED))
        self.assertEqual(reply, VIRUS)

    @defer.inlineCallbacks
    def test_descriptor(self):
        """With scan_mode 'fildes' clamd scans the descriptor passed to it:
        clean and signed messages, and the end of a 5 MB one."""
        clamav = self.clamav(scan_mode="fildes")
        large = CLEAN + b"x" * (5 * 1024 * 1024) + b"\n" + SIGNED
        replies = []
        for data in (CLEAN, SIGNED, large):
            replies.append((yield clamav.consider(
                writeMessage(self, RECORDS, data))))
        self.assertEqual(replies, [None, VIRUS, VIRUS])

    @defer.inlineCallbacks
    def test_scansLogNothing(self):
        """A scan in each mode leaves no log line (Twisted's factories
        logged two per connection)."""
        with capturedLogs() as events:
            for mode in ("fildes", "stream", "path"):
                reply = yield self.clamav(scan_mode=mode).consider(
                    writeMessage(self, RECORDS, CLEAN))
                self.assertIsNone(reply)
        self.assertEqual([formatEvent(event) for event in events
                          if "factory" in formatEvent(event).lower()], [])

    def test_defaultScanMode(self):
        """By default the descriptor is passed over a UNIX socket and the
        message streamed over TCP; passing over TCP is a config error."""
        self.assertEqual(self.clamav().scanMode, "fildes")
        self.assertEqual(
            self.clamav(tcp_address=self.clamd.tcpAddress).scanMode, "stream")
        self.assertRaises(ConfigError, self.clamav,
                          tcp_address=self.clamd.tcpAddress,
                          scan_mode="fildes")

    @defer.inlineCallbacks
    def test_tcp(self):
        """tcp_address reaches clamd over TCP."""
        reply = yield self.clamav(tcp_address=self.clamd.tcpAddress).consider(
            writeMessage(self, RECORDS, SIGNED))
        self.assertEqual(reply, VIRUS)

    @defer.inlineCallbacks
    def test_largeMessageStreamed(self):
        """A 5 MB message is streamed in chunks and its end is scanned."""
        data = CLEAN + b"x" * (5 * 1024 * 1024) + b"\n" + SIGNED
        reply = yield self.clamav(scan_mode="stream").consider(
            writeMessage(self, RECORDS, data))
        self.assertEqual(reply, VIRUS)

    @defer.inlineCallbacks
    def test_maxStreamSize(self):
        """Only the first max_stream_size bytes are streamed."""
        data = CLEAN + b"x" * 100000 + b"\n" + SIGNED
        reply = yield self.clamav(scan_mode="stream",
                                  max_stream_size=50000).consider(
            writeMessage(self, RECORDS, data))
        self.assertIsNone(reply)

    @defer.inlineCallbacks
    def test_clamdLimit(self):
        """clamd's StreamMaxLength refusal is a 451 scanner error."""
        data = CLEAN + b"x" * (11 * 1024 * 1024)
        reply = yield self.clamav(scan_mode="stream").consider(
            writeMessage(self, RECORDS, data))
        self.assertEqual(reply, Reply(
            "451", "Virus scanner error: INSTREAM size limit exceeded."))

    @defer.inlineCallbacks
    def test_quarantined(self):
        """With action quarantine a virus is held and answered 050 OK."""
        held = []

        def hold(context, message, explanation):
            held.append(explanation)
            return defer.succeed("id")
        self.patch(quarantine, "quarantine", hold)
        reply = yield self.clamav(action="quarantine").consider(
            writeMessage(self, RECORDS, SIGNED))
        self.assertEqual(reply, Reply("050", "OK"))
        self.assertEqual(held, [f"The virus {services.TEST_SIGNATURE} was "
                                "found in the message"])

    @defer.inlineCallbacks
    def test_quarantineFailed(self):
        """A quarantine that fails gives a 451, never an accept."""
        self.patch(quarantine, "quarantine",
                   lambda *args: defer.fail(OSError("disk full")))
        reply = yield self.clamav(action="quarantine").consider(
            writeMessage(self, RECORDS, SIGNED))
        self.assertEqual(reply, Reply("451",
                                      "Virus found, quarantine failed"))
        self.flushLoggedErrors(OSError)

    @defer.inlineCallbacks
    def test_stoppedAndBack(self):
        """A stopped clamd gives the 451 reply; a restarted one is used."""
        clamav = self.clamav()
        message = writeMessage(self, RECORDS, SIGNED)
        self.clamd.pause()
        try:
            reply = yield clamav.consider(message)
        finally:
            self.clamd.start()
        self.assertEqual(reply.code, "451")
        self.assertTrue(reply.lines[0].startswith(
            "Virus scanner error: cannot connect to clamd at "))
        self.assertEqual((yield clamav.consider(message)), VIRUS)

    @defer.inlineCallbacks
    def test_unavailableReplyEmpty(self):
        """unavailable_reply '' lets mail pass when clamd is down."""
        reply = yield self.clamav(local_socket="/nonexistent/clamd",
                                  unavailable_reply="").consider(
            writeMessage(self, RECORDS, SIGNED))
        self.assertIsNone(reply)

    @defer.inlineCallbacks
    def test_timeout(self):
        """A clamd that does not answer gives 451 after clamd_timeout."""
        server = services.SilentServer(self)
        reply = yield self.clamav(local_socket=server.path,
                                  clamd_timeout=0.3).consider(
            writeMessage(self, RECORDS, CLEAN))
        self.assertEqual(reply, Reply(
            "451", "Virus scanner error: clamd did not answer within "
            "0.3 seconds"))
        yield services.wait(0.05)
        self.assertEqual(server.lost, 1)

    @defer.inlineCallbacks
    def test_replyInPiecesOrCut(self):
        """A reply read in pieces is put together; a reply cut by the
        connection's end is taken as it is; no reply at all is a 451."""
        replies = []
        for chunks in ([b"1: PONG\0", b"2: fd[9]: Test.Sig",
                        b"nature FOUND\0"],
                       [b"1: PONG\0", b"2: fd[9]: Other FOUND"], []):
            server = _ScriptedServer(self, chunks)
            replies.append((yield self.clamav(
                local_socket=server.path, scan_mode="fildes").consider(
                writeMessage(self, RECORDS, CLEAN))))
        self.assertEqual([str(reply) for reply in replies], [
            "554 Virus found - Signature is Test.Signature",
            "554 Virus found - Signature is Other",
            "451 Virus scanner error: clamd closed the connection before "
            "replying"])

    @defer.inlineCallbacks
    def test_boundAndCancel(self):
        """At most max_connections scans connect; cancelling aborts them."""
        server = services.SilentServer(self)
        clamav = self.clamav(local_socket=server.path, max_connections=2)
        message = writeMessage(self, RECORDS, CLEAN)
        pending = [clamav.consider(message) for _ in range(3)]
        yield services.wait(0.2)
        self.assertEqual(len(server.connections), 2)
        for d in reversed(pending):
            d.cancel()
            self.failureResultOf(d, defer.CancelledError)
        yield services.wait(0.05)
        self.assertEqual(server.lost, 2)
        self.assertEqual(len(server.connections), 2)

    @defer.inlineCallbacks
    def test_waitingBounded(self):
        """Beyond eight waiting scans per connection, a scan fails at once."""
        server = services.SilentServer(self)
        clamav = self.clamav(local_socket=server.path, max_connections=1)
        message = writeMessage(self, RECORDS, CLEAN)
        pending = [clamav.consider(message) for _ in range(9)]
        reply = yield clamav.consider(message)
        self.assertEqual(reply, Reply(
            "451", "Virus scanner error: too many requests waiting for "
            "clamd"))
        for d in reversed(pending):
            d.cancel()
            self.failureResultOf(d, defer.CancelledError)

    @defer.inlineCallbacks
    def test_sessionKept(self):
        """Each scan mode uses one clamd session, kept open between scans;
        filter.stop() ends it."""
        for mode, direct in (("fildes", True), ("path", True),
                             ("stream", False)):
            clamav = self.clamav(scan_mode=mode)
            replies, sessions = [], []
            for data in (CLEAN, SIGNED, CLEAN):
                replies.append((yield clamav.consider(
                    writeMessage(self, RECORDS, data))))
                sessions.extend(clamav.clamd.idle[direct])
            self.assertEqual(replies, [None, VIRUS, None])
            self.assertEqual(len(set(sessions)), 1)
            self.assertEqual(sessions[0].sent, 4)
            yield clamav.stop()
            self.assertEqual(clamav.clamd.idle, {True: [], False: []})
            self.assertFalse(sessions[0].usable)

    @defer.inlineCallbacks
    def test_sessionLostRetried(self):
        """A scan whose kept session turns out closed is sent again on a
        new session."""
        for mode, direct in (("fildes", True), ("stream", False)):
            clamav = self.clamav(scan_mode=mode)
            message = writeMessage(self, RECORDS, SIGNED)
            self.assertEqual((yield clamav.consider(message)), VIRUS)
            [kept] = clamav.clamd.idle[direct]
            kept.transport.socket.shutdown(socket.SHUT_RDWR)
            self.assertEqual((yield clamav.consider(message)), VIRUS)
            [new] = clamav.clamd.idle[direct]
            self.assertIsNot(new, kept)
            self.assertFalse(kept.usable)

    @defer.inlineCallbacks
    def test_sessionIdleEnds(self):
        """A session idle for SESSION_IDLE seconds is ended, not used."""
        clamav = self.clamav()
        message = writeMessage(self, RECORDS, CLEAN)
        yield clamav.consider(message)
        [kept] = clamav.clamd.idle[True]
        kept.idleSince -= clamd.SESSION_IDLE
        yield clamav.consider(message)
        self.assertFalse(kept.usable)
        [new] = clamav.clamd.idle[True]
        self.assertIsNot(new, kept)

    def test_noSocket(self):
        """Without local_socket nor a clamd.conf, start fails."""
        self.patch(clamd, "CLAMD_CONFS", ())
        self.patch(clamd.localSocketFromConf, "__defaults__", ((),))
        self.assertRaises(ConfigError, services.serviceFilter, self,
                          "clamav")


class _ScriptedServer:
    """
    A UNIX socket server that writes C{chunks} (one event each) to every
    connection, then closes it.
    """

    def __init__(self, testCase, chunks):
        import os
        import shutil
        import tempfile

        from twisted.internet import reactor
        from twisted.internet.protocol import Factory, Protocol

        class Scripted(Protocol):
            def connectionMade(self):
                self.left = list(chunks)
                self.next()

            def next(self):
                if self.left:
                    self.transport.write(self.left.pop(0))
                    reactor.callLater(0.01, self.next)
                else:
                    self.transport.loseConnection()

        directory = tempfile.mkdtemp()
        self.path = os.path.join(directory, "clamd.sock")
        port = reactor.listenUNIX(self.path, Factory.forProtocol(Scripted))
        testCase.addCleanup(lambda: port.stopListening().addBoth(
            lambda _: shutil.rmtree(directory, ignore_errors=True)))
