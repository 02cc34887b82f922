"""
The daemon as courierfilter runs it: a process with stdin and fd 3 pipes,
talking over its UNIX socket.
"""

import os
import socket
import stat
import threading
import time

from twisted.trial.unittest import SynchronousTestCase

from pyfilter.engine.chain import CONFIG_ERROR
from pyfilter.daemon.requests import BAD_REQUEST, REFUSED_PATH
from tests.daemon import Daemon

HERE = os.path.dirname(os.path.abspath(__file__))
TEST_FILTERS = os.path.join(HERE, "daemonfilters")


def halfClosed(daemon, raw, timeout=30):
    """
    Write C{raw} to the daemon's socket, close our half of the connection,
    and read the reply to EOF.
    """
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(timeout)
        s.connect(daemon.socketPath)
        s.sendall(raw)
        s.shutdown(socket.SHUT_WR)
        return b"".join(iter(lambda: s.recv(65536), b""))


class DaemonTests(SynchronousTestCase):
    def daemon(self, chain, modules=None, **kwargs):
        daemon = Daemon(chain, modules, pythonPath=[TEST_FILTERS])
        self.addCleanup(daemon.cleanup)
        daemon.start(**kwargs)
        return daemon

    def test_servesAndStops(self):
        """The daemon answers Courier's requests and exits 0 on stdin EOF."""
        daemon = self.daemon("whitelist_auth\nattachments\n")
        mode = os.stat(daemon.socketPath).st_mode
        self.assertTrue(stat.S_ISSOCK(mode))
        self.assertEqual(stat.S_IMODE(mode), 0o660)
        self.assertFalse(os.path.exists(os.path.join(
            os.path.dirname(daemon.socketPath), ".pyfilter")))
        self.assertEqual(daemon.request(*daemon.copyMessage("a-plain")),
                         b"200 Ok\n")
        self.assertEqual(daemon.request(*daemon.copyMessage("f-attachment")),
                         b"554 The extension of the attached file is "
                         b"blacklisted\n")
        self.assertEqual(daemon.request(*daemon.copyMessage("c-auth")),
                         b"200 Ok\n")
        self.assertEqual(daemon.stop(), 0)
        self.assertFalse(os.path.exists(daemon.socketPath))

    def test_badRequestsKeepServing(self):
        """Malformed requests get 451 and the daemon keeps serving."""
        daemon = self.daemon("attachments\n")
        self.assertEqual(daemon.send(b"\n"), BAD_REQUEST.toBytes())
        self.assertEqual(daemon.send(b"/" + b"x" * 5000 + b"\n"),
                         BAD_REQUEST.toBytes())
        self.assertEqual(daemon.send(b"/etc/passwd\n/etc/shadow\n\n"),
                         REFUSED_PATH.toBytes())
        self.assertEqual(daemon.send(b"\xff\xfe\n\xff\n\n")[:3], b"451")
        with socket.socket(socket.AF_UNIX) as s:
            s.connect(daemon.socketPath)
            s.sendall(b"/half")
        self.assertEqual(daemon.request(*daemon.copyMessage("a-plain")),
                         b"200 Ok\n")
        self.assertEqual(daemon.stop(), 0)

    def test_overlongLineGetsReply(self):
        """A client writing a 1 MB request line reads the 451 (the daemon
        reads and discards the rest instead of closing on the writer)."""
        daemon = self.daemon("attachments\n")
        self.assertEqual(daemon.send(b"/" + b"x" * 1024 * 1024 + b"\n\n"),
                         BAD_REQUEST.toBytes())
        self.assertEqual(daemon.request(*daemon.copyMessage("a-plain")),
                         b"200 Ok\n")
        self.assertEqual(daemon.stop(), 0)

    def test_halfClose(self):
        """A request cut short by the client's half-close reads a 451; a
        complete request followed by a half-close reads the chain's reply
        (the UNIX socket transport tells the daemon of the half-close)."""
        daemon = self.daemon("attachments\n")
        dataPath, controlPaths = daemon.copyMessage("f-attachment")
        request = "".join(p + "\n" for p in [dataPath] + controlPaths)
        self.assertEqual(halfClosed(daemon, request.encode()),
                         BAD_REQUEST.toBytes())
        self.assertEqual(halfClosed(daemon, request.encode() + b"\n"),
                         b"554 The extension of the attached file is "
                         b"blacklisted\n")
        self.assertEqual(daemon.stop(), 0)

    def test_unknownFilterAnswers451(self):
        """A chain naming an unknown filter keeps the socket answering 451."""
        daemon = self.daemon("attachments\nno_such_filter\n")
        self.assertEqual(daemon.request(*daemon.copyMessage("a-plain")),
                         CONFIG_ERROR.toBytes())
        self.assertIn("no_such_filter", daemon.log())
        self.assertEqual(daemon.stop(), 0)

    def test_badOptionAnswers451(self):
        """A bad option value keeps the socket answering 451 and is logged."""
        daemon = self.daemon("attachments\n",
                             "[attachments.py]\nblocked_pattern = __import__"
                             "('os')\n")
        self.assertEqual(daemon.request(*daemon.copyMessage("a-plain")),
                         CONFIG_ERROR.toBytes())
        self.assertIn("[attachments.py] blocked_pattern", daemon.log())
        daemon.stop()

    def test_unreadableChainAnswers451(self):
        """A chain file that cannot be read keeps the socket answering 451."""
        daemon = Daemon("", pythonPath=[TEST_FILTERS])
        self.addCleanup(daemon.cleanup)
        os.unlink(daemon.chainPath)
        daemon.start()
        self.assertEqual(daemon.request(*daemon.copyMessage("a-plain")),
                         CONFIG_ERROR.toBytes())
        daemon.stop()

    def test_inFlightFinishOnEOF(self):
        """Messages in flight when stdin closes are all answered."""
        daemon = self.daemon("slowfilter\n", "[slowfilter.py]\ndelay = 1.0\n")
        replies = []
        requests = [daemon.copyMessage("a-plain") for _ in range(5)]
        threads = [threading.Thread(
            target=lambda r=r: replies.append(daemon.request(*r)))
            for r in requests]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 10
        while daemon.log().count("slowfilter: holding") < 5:
            self.assertLess(time.monotonic(), deadline, daemon.log())
            time.sleep(0.01)
        self.assertEqual(daemon.stop(), 0)
        for thread in threads:
            thread.join(10)
        self.assertEqual(replies, [b"250 slow but fine\n"] * 5)

    def test_filterTimeout(self):
        """A filter slower than its timeout gets 451 within the timeout."""
        daemon = self.daemon("slowfilter\n",
                             "[slowfilter.py]\ndelay = 30\ntimeout = 0.5\n")
        reply = daemon.request(*daemon.copyMessage("a-plain"), timeout=10)
        self.assertTrue(reply.startswith(b"451 4.3.0 Mail filter slowfilter "
                                         b"did not answer in time"), reply)
        daemon.stop()

    def test_withoutStartupPipe(self):
        """Started without fd 3, the daemon closes nothing it does not own."""
        daemon = self.daemon("attachments\n", startupPipe=False)
        for _ in range(3):
            self.assertEqual(daemon.request(*daemon.copyMessage("a-plain")),
                             b"200 Ok\n")
        self.assertEqual(daemon.stop(), 0)
