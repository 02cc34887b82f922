"""
Reloading the real daemon (a twistd process): the control socket, SIGHUP,
a failed reload keeping the running chain, messages in flight finishing on
the old chain, and 100 reloads while a load generator sends requests.
"""

import io
import json
import os
import signal
import socket
import stat
import threading
import time

from twisted.trial.unittest import SynchronousTestCase

from pyfilter.cli import reload as reloadCommand, status as statusCommand
from pyfilter.cli.controlclient import ask
from tests.daemon import Daemon
from tests.test_daemon import TEST_FILTERS
from tests.test_daemon_legacy import GREYLISTED

REFUSED = b"517 Sender does not exist: "


def poll(condition, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return False


class ReloadTests(SynchronousTestCase):
    def daemon(self, chain="", modules=""):
        daemon = Daemon(chain, modules, pythonPath=[TEST_FILTERS])
        self.addCleanup(daemon.cleanup)
        daemon.start()
        daemon.controlPath = os.path.join(daemon.spool, "pyfilter.control")
        return daemon

    def rewrite(self, daemon, chain=None, modules=None):
        for path, text in ((daemon.chainPath, chain),
                           (daemon.modulesPath, modules)):
            if text is not None:
                with open(path, "w") as f:
                    f.write(text)

    def control(self, daemon, command):
        return ask(daemon.controlPath, command, 30)

    def test_controlSocket(self):
        """The control socket is NAME.control beside the filter directory,
        mode 0660; status names the process, generation 1 and the chain."""
        daemon = self.daemon("whitelist_auth\n")
        mode = os.stat(daemon.controlPath).st_mode
        self.assertTrue(stat.S_ISSOCK(mode))
        self.assertEqual(stat.S_IMODE(mode), 0o660)
        status = self.control(daemon, "status")
        self.assertEqual(status["pid"], daemon.process.pid)
        self.assertEqual(status["generation"], 1)
        self.assertEqual(status["chain"], ["whitelist_auth"])
        self.assertEqual(status["in_flight"], 0)
        self.assertIsNone(status["last_reload"])
        self.assertRegex(status["started"], r"^\d{4}-\d\d-\d\dT.*Z$")
        self.assertEqual(daemon.stop(), 0)
        self.assertFalse(os.path.exists(daemon.controlPath))

    def test_reloadSwapsChain(self):
        """After a reload new messages go through the new chain."""
        daemon = self.daemon("")
        message = daemon.copyMessage("a-plain")
        self.assertEqual(daemon.request(*message), b"200 Ok\n")
        self.rewrite(daemon, "echosender\n")
        self.assertEqual(self.control(daemon, "reload"),
                         {"ok": True, "generation": 2,
                          "chain": ["echosender"]})
        self.assertTrue(daemon.request(*message).startswith(REFUSED))
        last = self.control(daemon, "status")["last_reload"]
        self.assertEqual((last["ok"], last["error"]), (True, None))
        self.assertTrue(poll(lambda: "generation 1 retired" in daemon.log()))

    def test_failedReloadKeepsChain(self):
        """A chain that fails to load (an unknown filter, a bad value, a
        filter whose start fails) is reported with its file, section and
        option; the running chain stays in service."""
        daemon = self.daemon("echosender\n")
        message = daemon.copyMessage("a-plain")
        for chain, modules, expected in [
                ("nosuchfilter\n", "", "unknown filter 'nosuchfilter'"),
                ("slowfilter\n", "[slowfilter.py]\ndelay = 'soon'\n",
                 f"{daemon.modulesPath}: [slowfilter.py] delay"),
                ("failstart\n", "", "filter failstart: start failed"),
                ("echosender\n", "[pyfilter]\nthreads = -1\n",
                 "[pyfilter] threads")]:
            self.rewrite(daemon, chain, modules)
            answer = self.control(daemon, "reload")
            self.assertFalse(answer["ok"])
            self.assertIn(expected, answer["error"])
            self.assertTrue(daemon.request(*message).startswith(REFUSED))
            status = self.control(daemon, "status")
            self.assertEqual((status["generation"], status["chain"]),
                             (1, ["echosender"]))
            self.assertEqual(status["last_reload"]["error"], answer["error"])
        self.assertIn("reload failed, generation 1 stays in service",
                      daemon.log())

    def test_reloadRepairsStartupError(self):
        """A daemon that started with a broken configuration (451 to every
        message) filters again after a reload with a good one."""
        daemon = self.daemon("nosuchfilter\n")
        message = daemon.copyMessage("a-plain")
        self.assertTrue(daemon.request(*message).startswith(b"451"))
        self.rewrite(daemon, "echosender\n")
        self.assertTrue(self.control(daemon, "reload")["ok"])
        self.assertTrue(daemon.request(*message).startswith(REFUSED))

    def test_sighup(self):
        """SIGHUP reloads too."""
        daemon = self.daemon("")
        self.rewrite(daemon, "echosender\n")
        os.kill(daemon.process.pid, signal.SIGHUP)
        self.assertTrue(poll(lambda: self.control(
            daemon, "status")["generation"] == 2))
        self.assertTrue(daemon.request(
            *daemon.copyMessage("a-plain")).startswith(REFUSED))

    def test_inFlightFinishOnOldChain(self):
        """A message in flight during a reload gets the old chain's answer;
        the old generation is retired after it."""
        daemon = self.daemon("slowfilter\n", "[slowfilter.py]\ndelay = 1.5\n")
        message = daemon.copyMessage("a-plain")
        replies = []
        sender = threading.Thread(
            target=lambda: replies.append(daemon.request(*message)))
        sender.start()
        self.assertTrue(poll(lambda: "slowfilter: holding" in daemon.log()))
        self.rewrite(daemon, "echosender\n")
        self.assertTrue(self.control(daemon, "reload")["ok"])
        self.assertTrue(daemon.request(*message).startswith(REFUSED))
        self.assertEqual(self.control(daemon, "status")["retiring"], 1)
        self.assertNotIn("generation 1 retired", daemon.log())
        sender.join(30)
        self.assertEqual(replies, [b"250 slow but fine\n"])
        self.assertTrue(poll(lambda: "generation 1 retired" in daemon.log()))

    def test_legacyStateSurvives(self):
        """A legacy module's TtlDb, made when its module was imported, keeps
        its store after the generation that imported it is retired."""
        daemon = self.daemon("legacygreylist\n")
        message = daemon.copyMessage("a-plain")
        self.assertEqual(daemon.request(*message), GREYLISTED)
        self.rewrite(daemon, "whitelist_auth\nlegacygreylist\n")
        self.assertTrue(self.control(daemon, "reload")["ok"])
        self.assertTrue(poll(lambda: "generation 1 retired" in daemon.log()))
        self.assertEqual(daemon.request(*message), b"200 Ok\n")
        self.assertEqual(daemon.stop(), 0)

    def test_commands(self):
        """C{pyfilter reload} prints the new generation and exits 0, or the
        error and exits 1; C{pyfilter status} prints the chain."""
        daemon = self.daemon("")

        def run(command):
            out, err = io.StringIO(), io.StringIO()
            status = command.main(["--control", daemon.controlPath],
                                  stdout=out, stderr=err)
            return status, out.getvalue() + err.getvalue()

        self.rewrite(daemon, "echosender\n")
        self.assertEqual(run(reloadCommand),
                         (0, "reloaded: generation 2, chain: echosender\n"))
        self.rewrite(daemon, "nosuchfilter\n")
        status, text = run(reloadCommand)
        self.assertEqual(status, 1)
        self.assertIn("the running chain stays in service: unknown filter "
                      "'nosuchfilter'", text)
        status, text = run(statusCommand)
        self.assertEqual(status, 0)
        self.assertIn("generation 2: echosender\n", text)
        self.assertIn(": FAILED: unknown filter", text)

    def test_controlRefusesNonsense(self):
        """Unknown commands and overlong lines get an error answer."""
        daemon = self.daemon("")
        answer = self.control(daemon, "restart")
        self.assertFalse(answer["ok"])
        self.assertIn("unknown command 'restart'", answer["error"])
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(10)
            s.connect(daemon.controlPath)
            s.sendall(b"x" * 10000 + b"\n")
            answer = json.loads(s.makefile("rb").readline())
        self.assertIn("line longer than", answer["error"])
        self.assertEqual(self.control(daemon, "status")["generation"], 1)


class LoadGenerator:
    """
    Threads sending requests to the daemon one after another, recording
    every reply and how long it took.
    """

    def __init__(self, daemon, message, threads=4):
        self.daemon = daemon
        self.message = message
        self.replies = []
        self.errors = []
        self.latencies = []
        self.running = True
        self.threads = [threading.Thread(target=self._run)
                        for _ in range(threads)]

    def _run(self):
        while self.running:
            started = time.monotonic()
            try:
                reply = self.daemon.request(*self.message, timeout=30)
            except OSError as e:
                self.errors.append(repr(e))
                continue
            self.latencies.append(time.monotonic() - started)
            self.replies.append(reply)

    def start(self):
        for thread in self.threads:
            thread.start()

    def stop(self):
        self.running = False
        for thread in self.threads:
            thread.join(60)


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


class ReloadUnderLoadTests(SynchronousTestCase):
    RELOADS = 100

    def test_hundredReloadsUnderLoad(self):
        """100 reloads, alternating two chains, while four clients send
        requests without pause: no request refused, lost or answered 4xx;
        every reply is one of the two chains' answers."""
        daemon = Daemon("whitelist_auth\n", "[ttldb]\ntype = 'dbm'\n",
                        pythonPath=[TEST_FILTERS])
        self.addCleanup(daemon.cleanup)
        daemon.start()
        control = os.path.join(daemon.spool, "pyfilter.control")
        load = LoadGenerator(daemon, daemon.copyMessage("a-plain"))
        load.start()
        self.addCleanup(load.stop)
        time.sleep(1)
        before = len(load.replies)
        swaps = []
        for i in range(self.RELOADS):
            with open(daemon.chainPath, "w") as f:
                f.write("whitelist_auth\n" if i % 2 else
                        "whitelist_auth\nechosender\n")
            started = time.monotonic()
            answer = ask(control, "reload", 30)
            swaps.append(time.monotonic() - started)
            self.assertTrue(answer["ok"], answer)
            self.assertEqual(answer["generation"], i + 2)
        during = len(load.replies) - before
        load.stop()
        self.assertEqual(load.errors, [])
        unexpected = [r for r in load.replies
                      if r != b"200 Ok\n" and not r.startswith(REFUSED)]
        self.assertEqual(unexpected, [])
        self.assertGreater(during, self.RELOADS)
        self.assertTrue(poll(lambda: ask(control, "status", 30)
                             ["retiring"] == 0))
        self.assertEqual(daemon.stop(), 0)
        figures = {"reloads": self.RELOADS, "requests": len(load.replies),
                   "requests_during_reloads": during,
                   "reload_ms_median": 1000 * percentile(swaps, 0.5),
                   "reload_ms_p99": 1000 * percentile(swaps, 0.99),
                   "request_ms_median": 1000 * percentile(load.latencies,
                                                          0.5),
                   "request_ms_p99": 1000 * percentile(load.latencies, 0.99),
                   "request_ms_max": 1000 * max(load.latencies)}
        report = os.environ.get("PYFILTER_RELOAD_FIGURES")
        if report:
            with open(report, "w") as f:
                json.dump(figures, f, indent=2)
