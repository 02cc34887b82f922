"""
The control channel's protocol (one command a line, one JSON answer) and
the commands that use it, on a L{Clock} and string transports; the
commands against the real daemon are in L{tests.test_daemon_reload}.
"""

import io
import json
import os

from twisted.internet import defer
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.trial.unittest import SynchronousTestCase

from pyfilter.cli import reload as reloadCommand, status as statusCommand
from pyfilter.cli.controlclient import EXIT_UNREACHABLE
from pyfilter.config.locations import controlSocketFor
from pyfilter.daemon.control import (
    IDLE_TIMEOUT, MAX_CONNECTIONS, MAX_LINE, ControlFactory)


class ControlProtocolTests(SynchronousTestCase):
    def setUp(self):
        self.clock = Clock()
        self.pending = None
        self.factory = ControlFactory(
            {"status": lambda: {"ok": True, "generation": 3},
             "reload": lambda: self.pending,
             "broken": lambda: 1 / 0}, self.clock)

    def connect(self):
        protocol = self.factory.buildProtocol(None)
        transport = StringTransport()
        protocol.makeConnection(transport)
        return protocol, transport

    def answers(self, transport):
        return [json.loads(line) for line in
                transport.value().decode().splitlines()]

    def test_answersEachLine(self):
        """Each command line gets one JSON line; blank lines are none."""
        protocol, transport = self.connect()
        protocol.dataReceived(b"status\n\nstatus\r\n")
        self.assertEqual(self.answers(transport),
                         [{"ok": True, "generation": 3}] * 2)

    def test_unknownCommand(self):
        protocol, transport = self.connect()
        protocol.dataReceived(b"restart\n")
        [answer] = self.answers(transport)
        self.assertEqual(answer["ok"], False)
        self.assertIn("unknown command 'restart' (known: broken, reload, "
                      "status)", answer["error"])

    def test_commandFailure(self):
        """A command that raises gets an error answer, not a hang."""
        protocol, transport = self.connect()
        protocol.dataReceived(b"broken\n")
        [answer] = self.answers(transport)
        self.assertIn("broken failed", answer["error"])
        self.flushLoggedErrors(ZeroDivisionError)

    def test_slowCommandPausesReading(self):
        """While a reload runs the connection reads no more and the idle
        timeout does not apply; the answer comes when it is done."""
        self.pending = defer.Deferred()
        protocol, transport = self.connect()
        protocol.dataReceived(b"reload\n")
        self.assertEqual(transport.producerState, "paused")
        self.clock.advance(IDLE_TIMEOUT * 10)
        self.assertTrue(transport.connected)
        self.pending.callback({"ok": True, "generation": 4})
        self.assertEqual(self.answers(transport),
                         [{"ok": True, "generation": 4}])
        self.assertEqual(transport.producerState, "producing")

    def test_answerAfterClientGone(self):
        """A client that leaves before its answer costs nothing."""
        self.pending = defer.Deferred()
        protocol, transport = self.connect()
        protocol.dataReceived(b"reload\n")
        protocol.connectionLost(None)
        self.pending.callback({"ok": True})
        self.assertEqual(transport.value(), b"")
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_overlongLine(self):
        protocol, transport = self.connect()
        protocol.dataReceived(b"x" * (MAX_LINE + 1))
        [answer] = self.answers(transport)
        self.assertIn(f"longer than {MAX_LINE}", answer["error"])
        self.assertTrue(transport.disconnecting)

    def test_idleTimeout(self):
        protocol, transport = self.connect()
        self.clock.advance(IDLE_TIMEOUT - 1)
        protocol.dataReceived(b"status\n")
        self.clock.advance(IDLE_TIMEOUT - 1)
        self.assertFalse(transport.disconnecting)
        self.clock.advance(1)
        self.assertTrue(transport.disconnecting)

    def test_boundedConnections(self):
        """Beyond a few connections at once, a new one is told and
        closed."""
        for _ in range(MAX_CONNECTIONS):
            self.connect()
        protocol, transport = self.connect()
        [answer] = self.answers(transport)
        self.assertIn("too many", answer["error"])
        self.assertTrue(transport.disconnecting)
        protocol.connectionLost(None)
        self.assertEqual(len(self.factory.connections), MAX_CONNECTIONS)


class CommandTests(SynchronousTestCase):
    def command(self, command, *argv):
        out, err = io.StringIO(), io.StringIO()
        status = command.main(list(argv), stdout=out, stderr=err)
        return status, out.getvalue(), err.getvalue()

    def test_defaultLocation(self):
        """The control socket is NAME.control in the parent of Courier's
        filter directory."""
        self.assertEqual(controlSocketFor("/var/lib/courier/allfilters/x"),
                         "/var/lib/courier/x.control")

    def test_unreachable(self):
        """No daemon: a distinct exit status and a message saying so."""
        missing = os.path.abspath(self.mktemp())
        for command in (reloadCommand, statusCommand):
            status, out, err = self.command(command, "--control", missing)
            self.assertEqual(status, EXIT_UNREACHABLE)
            self.assertIn("no daemon answers", err)

    def test_reloadFallsBackToSignal(self):
        """Without a control socket, reload signals the pid file's
        process."""
        signalled = []
        self.patch(os, "kill", lambda pid, sig: signalled.append((pid, sig)))
        pidFile = self.mktemp()
        with open(pidFile, "w") as f:
            f.write("4242\n")
        status, out, _ = self.command(reloadCommand, "--control",
                                      self.mktemp(), "--pid-file", pidFile)
        self.assertEqual((status, len(signalled)), (0, 1))
        self.assertEqual(signalled[0][0], 4242)
        self.assertIn("sent SIGHUP to process 4242", out)

    def test_statusText(self):
        lines = statusCommand.describe(
            {"pid": 7, "started": "T0", "generation": 2, "chain": ["a", "b"],
             "in_flight": 1, "retiring": 0,
             "last_reload": {"at": "T1", "ok": False, "error": "f: [s] o"},
             "metrics": {
                 "messages": {"2xx": 5, "5xx": 1}, "messages_ms": 2.5,
                 "filters": {"a": {"count": 6, "ms": 0.4,
                                   "verdicts": {"continue": 5, "5xx": 1},
                                   "errors": {}},
                             "b": {"count": 5, "ms": None,
                                   "verdicts": {"continue": 4},
                                   "errors": {"timeout": 1}}},
                 "outages": {}, "reloads": {"ok": 1, "failed": 1},
                 "store": {"get": {"count": 3, "failed": 1, "ms": 0.2}},
                 "in_flight": 1, "connections": 2, "threads_busy": 0}})
        self.assertEqual(lines, [
            "pid 7, running since T0", "generation 2: a b",
            "messages in flight: 1", "last reload T1: FAILED: f: [s] o",
            "messages: 2xx 5, 5xx 1, mean 2.5 ms",
            "  a: 6 checked, mean 0.4 ms; 5xx 1, continue 5",
            "  b: 5 checked; continue 4; errors: timeout 1",
            "outages: none",
            "  store get: 3, 1 failed, mean 0.2 ms",
            "reloads: failed 1, ok 1",
            "in flight 1, connections 2, threads busy 0"])
