"""
The metrics endpoint and the decision line of a running daemon.
"""

import os
import signal
import socket
import tempfile
import time

from twisted.trial.unittest import SynchronousTestCase

from pyfilter.cli.controlclient import ask
from tests.daemon import Daemon

FAMILIES = ["pyfilter_messages", "pyfilter_filter_verdicts",
            "pyfilter_filter_seconds", "pyfilter_filter_errors",
            "pyfilter_outages", "pyfilter_message_seconds",
            "pyfilter_in_flight", "pyfilter_connections",
            "pyfilter_threads_busy", "pyfilter_store_seconds",
            "pyfilter_reloads", "pyfilter_build"]


def scrape(path, timeout=10):
    """
    GET /metrics over the UNIX socket at C{path}; return the body.
    """
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(timeout)
        s.connect(path)
        s.sendall(b"GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n")
        raw = b"".join(iter(lambda: s.recv(65536), b""))
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.") and b" 200 " in head, head
    return body.decode()


class MetricsEndpointTests(SynchronousTestCase):
    def test_scrape(self):
        """
        Every family is served; messages, verdicts and a reload are counted;
        each message has its decision line in the log.
        """
        directory = tempfile.mkdtemp(prefix="pyfilter-")
        metricsPath = os.path.join(directory, "metrics")
        daemon = Daemon("whitelist_auth\nattachments\n",
                        extraArgs=["--metrics", "unix:" + metricsPath],
                        directory=directory)
        self.addCleanup(daemon.cleanup)
        daemon.start()
        self.assertEqual(daemon.request(*daemon.copyMessage("a-plain")),
                         b"200 Ok\n")
        self.assertTrue(daemon.request(
            *daemon.copyMessage("f-attachment")).startswith(b"554 "))
        daemon.process.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 20
        while 'pyfilter_reloads_total{result="ok"}' not in scrape(
                metricsPath):
            self.assertLess(time.monotonic(), deadline, "no reload counted")
            time.sleep(0.1)
        body = scrape(metricsPath)
        for family in FAMILIES:
            self.assertIn(f"# TYPE {family}", body)
        self.assertIn('pyfilter_messages_total{verdict="2xx"} 1.0', body)
        self.assertIn('pyfilter_messages_total{verdict="5xx"} 1.0', body)
        self.assertIn('pyfilter_filter_verdicts_total{filter="attachments",'
                      'verdict="5xx"} 1.0', body)
        self.assertIn('pyfilter_filter_seconds_bucket{filter="attachments"',
                      body)
        self.assertIn("pyfilter_in_flight 0.0", body)
        self.assertIn("pyfilter_build_info{version=", body)
        figures = ask(os.path.join(daemon.spool, "pyfilter.control"),
                      "status", 10)["metrics"]
        self.assertEqual(figures["messages"], {"2xx": 1, "5xx": 1})
        self.assertEqual(figures["filters"]["attachments"]["verdicts"],
                         {"continue": 1, "5xx": 1})
        self.assertEqual(figures["reloads"], {"ok": 1})
        self.assertEqual(daemon.stop(), 0)
        lines = [line for line in daemon.log().splitlines()
                 if "decision qid=" in line]
        self.assertEqual(len(lines), 2, daemon.log())
        self.assertIn("reply=554", lines[1])
        self.assertIn("filters=", lines[1])
