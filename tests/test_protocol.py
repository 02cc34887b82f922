import os

from twisted.internet import defer
from twisted.internet.interfaces import IHalfCloseableProtocol
from twisted.internet.task import Clock
from twisted.logger import Logger
from twisted.trial.unittest import SynchronousTestCase

from pyfilter.engine.chain import Chain, Entry
from pyfilter.courier.control import ControlFileError
from pyfilter.daemon.requests import BAD_REQUEST, BUSY, REFUSED_PATH, RequestHandler
from pyfilter.daemon.protocol import (
    LINGER_BYTES, LINGER_SECONDS, MAX_PATHS, RequestFactory, RequestProtocol)
from pyfilter.engine.reply import CONTROL_FAILURE, OK, Reply
from tests.helpers import HalfCloseTransport, samplePaths
from pyfilter.courier.spool import Spool


class Recorder:
    """A chain that records messages and answers a Deferred per message."""

    entries = []

    def __init__(self):
        self.messages = []
        self.deferreds = []

    def decide(self, message, observe=None):
        self.messages.append(message)
        d = defer.Deferred()
        self.deferreds.append(d)
        return d


class ReadsControl:
    """A filter that reads the control files."""

    def consider(self, message):
        message.sender


class ProtocolTests(SynchronousTestCase):
    def setUp(self):
        self.clock = Clock()
        dataPath, controlPaths = samplePaths("a-plain")
        self.spool = os.path.dirname(os.path.dirname(dataPath))
        self.dataPath, self.controlPaths = dataPath, controlPaths
        self.handler = RequestHandler(Spool(self.spool, os.path.join(self.spool, "tmp")))
        self.handler.setChain(Chain([], self.clock))
        self.factory = RequestFactory(self.handler, self.clock, 30)
        self.factory.doStart()
        self.addCleanup(self.factory.doStop)

    def connect(self, factory=None):
        protocol = (factory or self.factory).buildProtocol(None)
        transport = HalfCloseTransport()
        protocol.makeConnection(transport)
        return protocol, transport

    def request(self, *paths):
        return "".join(p + "\n" for p in paths).encode() + b"\n"

    def test_request(self):
        """A complete request is answered once and the connection closed."""
        protocol, transport = self.connect()
        protocol.dataReceived(self.request(self.dataPath, *self.controlPaths))
        self.assertEqual(transport.value(), OK.toBytes())
        self.assertTrue(transport.disconnecting)

    def test_requestInPieces(self):
        """A request split over many writes is framed correctly."""
        protocol, transport = self.connect()
        for byte in self.request(self.dataPath, *self.controlPaths):
            protocol.dataReceived(bytes([byte]))
        self.assertEqual(transport.value(), OK.toBytes())

    def test_untouchedFilesNotRead(self):
        """A chain that needs no file answers without reading any."""
        protocol, transport = self.connect()
        protocol.dataReceived(self.request(
            self.dataPath, os.path.join(self.spool, "tmp", "gone")))
        self.assertEqual(transport.value(), OK.toBytes())

    def test_relativePaths(self):
        """Relative paths are taken from Courier's tmp directory."""
        chain = Recorder()
        self.handler.setChain(chain)
        protocol, transport = self.connect()
        relative = [os.path.relpath(p, os.path.join(self.spool, "tmp"))
                    for p in [self.dataPath] + self.controlPaths]
        protocol.dataReceived(self.request(*relative))
        self.assertEqual(chain.messages[0].dataPath, self.dataPath)

    def test_emptyRequest(self):
        """An empty first line gets 451, not silence."""
        protocol, transport = self.connect()
        protocol.dataReceived(b"\n")
        self.assertEqual(transport.value(), BAD_REQUEST.toBytes())
        self.assertTrue(transport.writeDisconnected)

    def test_noControlFile(self):
        """A request naming only a data file is refused."""
        protocol, transport = self.connect()
        protocol.dataReceived(self.request(self.dataPath))
        self.assertEqual(transport.value(), REFUSED_PATH.toBytes())

    def test_lineTooLong(self):
        """An over-long line gets 451, complete or not."""
        protocol, transport = self.connect()
        protocol.dataReceived(b"/" + b"a" * 10000 + b"\n")
        self.assertEqual(transport.value(), BAD_REQUEST.toBytes())
        protocol, transport = self.connect()
        protocol.dataReceived(b"/" + b"a" * 10000)
        self.assertEqual(transport.value(), BAD_REQUEST.toBytes())
        protocol, transport = self.connect()
        protocol.dataReceived(b"/" + b"a" * 10000 + b"\n/c\n\n")
        self.assertEqual(transport.value(), BAD_REQUEST.toBytes())

    def test_crlf(self):
        """A request with CRLF line ends is understood."""
        protocol, transport = self.connect()
        protocol.dataReceived(self.request(self.dataPath, *self.controlPaths)
                              .replace(b"\n", b"\r\n"))
        self.assertEqual(transport.value(), OK.toBytes())

    def test_tooManyPaths(self):
        """More paths than the bound get 451."""
        protocol, transport = self.connect()
        protocol.dataReceived(b"x\n" * (MAX_PATHS + 1))
        self.assertEqual(transport.value(), BAD_REQUEST.toBytes())

    def test_requestTimeout(self):
        """A client that never finishes its request gets 451 in time."""
        protocol, transport = self.connect()
        protocol.dataReceived(self.dataPath.encode() + b"\n")
        self.clock.advance(29)
        self.assertEqual(transport.value(), b"")
        self.clock.advance(2)
        self.assertEqual(transport.value(), BAD_REQUEST.toBytes())
        self.assertEqual(len(self.clock.getDelayedCalls()), 1)

    def test_idleTimeout(self):
        """A connection that sends nothing is answered and closed in time."""
        protocol, transport = self.connect()
        self.clock.advance(31)
        self.assertEqual(transport.value(), BAD_REQUEST.toBytes())
        self.clock.advance(LINGER_SECONDS + 1)
        self.assertTrue(transport.disconnected)

    def test_sweepStopsWithFactory(self):
        """The timeout sweep runs only while the factory is listening."""
        self.assertEqual(len(self.clock.getDelayedCalls()), 1)
        self.factory.doStop()
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.factory.doStart()

    def test_pathOutsideSpool(self):
        """Paths outside the spool are refused."""
        protocol, transport = self.connect()
        protocol.dataReceived(self.request("/etc/passwd", "/etc/passwd"))
        self.assertEqual(transport.value(), REFUSED_PATH.toBytes())

    def test_dotDotOutsideSpool(self):
        """Relative paths climbing out of the spool are refused."""
        protocol, transport = self.connect()
        protocol.dataReceived(self.request("../../../../etc/passwd",
                                           "../../../../etc/passwd"))
        self.assertEqual(transport.value(), REFUSED_PATH.toBytes())

    def test_symlinkOutsideSpool(self):
        """A symbolic link inside the spool pointing outside is refused."""
        spool = os.path.abspath(self.mktemp())
        os.makedirs(os.path.join(spool, "tmp"))
        link = os.path.join(spool, "tmp", "D1")
        os.symlink("/etc/passwd", link)
        handler = RequestHandler(Spool(spool, os.path.join(spool, "tmp")))
        handler.setChain(Chain([Entry("reads", ReadsControl())], self.clock))
        reply = self.successResultOf(handler.handle([link.encode()] * 2))
        self.assertEqual(reply, CONTROL_FAILURE)

    def test_directorySymlinkOutsideSpool(self):
        """A directory inside the spool that is a link to outside is
        refused, and a real one seen before stays accepted."""
        spool = os.path.abspath(self.mktemp())
        os.makedirs(os.path.join(spool, "tmp", "real"))
        os.symlink("/etc", os.path.join(spool, "tmp", "linked"))
        spoolDir = Spool(spool, os.path.join(spool, "tmp"))
        self.assertEqual(
            spoolDir.confine(os.path.join(spool, "tmp", "real", "C1")),
            os.path.join(os.path.realpath(spool), "tmp", "real", "C1"))
        for _ in range(2):
            self.assertRaises(ControlFileError, spoolDir.confine,
                              os.path.join(spool, "tmp", "linked", "passwd"))

    def test_missingControlFile(self):
        """A control file that vanished gets the reference's 451."""
        self.handler.setChain(Chain([Entry("reads", ReadsControl())],
                                    self.clock))
        protocol, transport = self.connect()
        protocol.dataReceived(self.request(
            self.dataPath, os.path.join(self.spool, "tmp", "gone")))
        self.assertEqual(transport.value(), CONTROL_FAILURE.toBytes())

    def test_replyAfterClientGone(self):
        """A client gone before the answer does not break the daemon."""
        chain = Recorder()
        self.handler.setChain(chain)
        protocol, transport = self.connect()
        protocol.dataReceived(self.request(self.dataPath, *self.controlPaths))
        protocol.connectionLost(None)
        chain.deferreds[0].callback(Reply("554", "no"))
        self.assertEqual(self.handler.inFlight, set())

    def test_busy(self):
        """Beyond the in-flight bound new messages get 451 at once."""
        chain = Recorder()
        handler = RequestHandler(Spool(self.spool, os.path.join(self.spool, "tmp")), maxInFlight=2)
        handler.setChain(chain)
        paths = [p.encode() for p in [self.dataPath] + self.controlPaths]
        handler.handle(paths)
        handler.handle(paths)
        self.assertEqual(self.successResultOf(handler.handle(paths)), BUSY)
        chain.deferreds[0].callback(OK)
        self.assertEqual(len(handler.inFlight), 1)

    def test_waitsForChain(self):
        """Requests arriving before the chain is ready wait for it."""
        handler = RequestHandler(Spool(self.spool, os.path.join(self.spool, "tmp")))
        d = handler.handle([p.encode() for p in
                            [self.dataPath] + self.controlPaths])
        self.assertNoResult(d)
        handler.setChain(Chain([], self.clock))
        self.assertEqual(self.successResultOf(d), OK)

    def test_drain(self):
        """Drain waits until every reply is delivered, bounded by a timeout."""
        chain = Recorder()
        self.handler.setChain(chain)
        first, firstTransport = self.connect()
        second, _ = self.connect()
        for protocol in (first, second):
            protocol.dataReceived(self.request(self.dataPath,
                                               *self.controlPaths))
        drained = self.factory.drain(10)
        chain.deferreds[0].callback(OK)
        first.connectionLost(None)
        self.assertNoResult(drained)
        chain.deferreds[1].callback(OK)
        second.connectionLost(None)
        self.assertEqual(self.successResultOf(drained), 0)
        self.connect()
        drained = self.factory.drain(10)
        self.clock.advance(10)
        self.assertEqual(self.successResultOf(drained), 1)

    def test_connectionBound(self):
        """Beyond the connection bound a new connection gets 451 at once,
        and lingers until the client has written its request."""
        factory = RequestFactory(self.handler, self.clock, 30, maxConnections=2)
        connections = [self.connect(factory) for _ in range(3)]
        self.assertEqual([t.value() for _, t in connections],
                         [b"", b"", BUSY.toBytes()])
        busy, transport = connections[2]
        self.assertTrue(transport.writeDisconnected)
        busy.dataReceived(self.request(self.dataPath, *self.controlPaths))
        self.assertEqual(transport.value(), BUSY.toBytes())
        self.assertFalse(transport.disconnecting)
        busy.readConnectionLost()
        self.assertTrue(transport.disconnecting)

    def test_halfCloseable(self):
        """The protocol takes half-closes (so the transport tells it when
        the client's input ends instead of dropping the connection)."""
        self.assertTrue(IHalfCloseableProtocol.providedBy(
            self.factory.buildProtocol(None)))

    def test_refusedLingers(self):
        """A refused request's 451 is followed by the end of our half of
        the connection; what the client still writes is discarded until it
        closes its half."""
        protocol, transport = self.connect()
        protocol.dataReceived(b"/" + b"a" * 10000)
        self.assertTrue(transport.writeDisconnected)
        self.assertFalse(transport.disconnecting)
        for _ in range(10):
            protocol.dataReceived(b"a" * 10000)
        protocol.dataReceived(b"\n/b\n\n")
        self.assertEqual(transport.value(), BAD_REQUEST.toBytes())
        self.assertFalse(transport.disconnecting)
        protocol.readConnectionLost()
        self.assertTrue(transport.disconnecting)

    def test_lingerBoundedInBytes(self):
        """A client writing more than the lingering bound after its 451 is
        closed."""
        protocol, transport = self.connect()
        protocol.dataReceived(b"\n")
        protocol.dataReceived(b"a" * LINGER_BYTES)
        self.assertFalse(transport.disconnecting)
        protocol.dataReceived(b"a")
        self.assertTrue(transport.disconnecting)
        self.assertEqual(transport.value(), BAD_REQUEST.toBytes())

    def test_lingerBoundedInTime(self):
        """A client that never closes its half after its 451 is cut off
        once the lingering time is over, by the factory's one sweep."""
        protocol, transport = self.connect()
        protocol.dataReceived(b"\n")
        self.clock.advance(LINGER_SECONDS - 1)
        self.assertFalse(transport.disconnected)
        self.clock.advance(2)
        self.assertTrue(transport.disconnected)
        self.assertEqual(len(self.clock.getDelayedCalls()), 1)

    def test_halfCloseBeforeEnd(self):
        """A request ended by the client's half-close before its empty
        line gets 451, and the connection is closed at once."""
        events = []
        self.patch(RequestProtocol, "log", Logger(observer=events.append))
        protocol, transport = self.connect()
        protocol.dataReceived(self.dataPath.encode() + b"\n")
        protocol.readConnectionLost()
        self.assertEqual(transport.value(), BAD_REQUEST.toBytes())
        self.assertTrue(transport.disconnecting)
        self.assertEqual(len(events), 1)
        self.assertIn("before the end of the request", events[0]["reason"])

    def test_halfCloseWithoutRequest(self):
        """A client that sends nothing and closes its half (a probe of the
        socket) gets 451 too, without a warning."""
        events = []
        self.patch(RequestProtocol, "log", Logger(observer=events.append))
        protocol, transport = self.connect()
        protocol.readConnectionLost()
        self.assertEqual(transport.value(), BAD_REQUEST.toBytes())
        self.assertTrue(transport.disconnecting)
        self.assertEqual(events, [])

    def test_halfCloseAfterRequest(self):
        """A complete request followed by the client's half-close still
        gets the chain's reply."""
        chain = Recorder()
        self.handler.setChain(chain)
        protocol, transport = self.connect()
        protocol.dataReceived(self.request(self.dataPath, *self.controlPaths))
        protocol.readConnectionLost()
        self.assertEqual(transport.value(), b"")
        self.assertFalse(transport.disconnecting)
        chain.deferreds[0].callback(Reply("554", "no"))
        self.assertEqual(transport.value(), b"554 no\n")
        self.assertTrue(transport.disconnecting)

    def test_drainEndsLingering(self):
        """At shutdown a lingering connection is closed at once (its reply
        flushed first), and so is one refused while draining."""
        lingering, lingeringTransport = self.connect()
        lingering.dataReceived(b"\n")
        late, lateTransport = self.connect()
        drained = self.factory.drain(10)
        self.assertTrue(lingeringTransport.disconnecting)
        late.dataReceived(b"\n")
        self.assertEqual(lateTransport.value(), BAD_REQUEST.toBytes())
        self.assertTrue(lateTransport.disconnecting)
        lingering.connectionLost(None)
        late.connectionLost(None)
        self.assertEqual(self.successResultOf(drained), 0)
