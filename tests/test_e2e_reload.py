"""
End-to-end: reloading pyfilter under a real Courier MTA while an SMTP
client sends mail (see tests/courier.py; skipped unless
PYFILTER_TEST_COURIER=1, as root on Debian).
"""

import os
import subprocess
import threading

from twisted.trial import unittest

from tests import courier

SENDER = "carol@example.test"
RECIPIENT = "alice@example.test"
CONTROL = os.path.join(courier.SPOOL, courier.FILTER_NAME + ".control")
CHAINS = ("whitelist_auth\n", "whitelist_auth\nattachments\n")
RELOADS = 10


class SMTPLoad:
    """
    One SMTP client sending plain messages one after another.
    """

    def __init__(self):
        self.replies = []
        self.running = True
        self.thread = threading.Thread(target=self._run)

    def _run(self):
        message = courier.makeMessage(SENDER, RECIPIENT)
        while self.running:
            try:
                reply = courier.send(SENDER, RECIPIENT, message, timeout=30)
            except OSError as e:
                reply = (0, repr(e))
            self.replies.append(reply)

    def stop(self):
        self.running = False
        self.thread.join(60)


class CourierReloadTests(unittest.TestCase):
    def setUp(self):
        courier.startCourier()
        courier.clearMailboxes()

    def reload(self, chain):
        courier.writeFile(os.path.join(courier.STATE_CONFIG, "pyfilter.conf"),
                          chain)
        return subprocess.run(
            [courier.pyfilterCommand(), "reload", "--control", CONTROL],
            capture_output=True, text=True, timeout=60)

    def test_noTemporaryFailureAcrossReloads(self):
        """An SMTP client sending without pause sees no 4xx while the chain
        is reloaded ten times; afterwards the last chain is the one in
        service, and the daemon never restarted."""
        courier.useFilter(CHAINS[0])
        pids = courier.filterPids()
        load = SMTPLoad()
        load.thread.start()
        self.addCleanup(load.stop)
        for i in range(RELOADS):
            courier.waitFor(lambda: len(load.replies) > i, 30,
                            "a message between reloads")
            result = self.reload(CHAINS[(i + 1) % 2])
            self.assertEqual(result.returncode, 0, result.stderr)
            self.assertIn(f"generation {i + 2}", result.stdout)
        load.stop()
        self.assertGreater(len(load.replies), RELOADS)
        self.assertEqual([r for r in load.replies if r[0] != 250], [])
        self.assertEqual(courier.filterPids(), pids)
        self.reload("attachments\n")
        code, _ = courier.send(SENDER, RECIPIENT, courier.makeMessage(
            SENDER, RECIPIENT, attachment="evil.exe"), timeout=30)
        self.assertEqual(code, 554)

    def test_failedReloadKeepsFiltering(self):
        """A reload to a broken chain is reported (exit status 1, the
        error) and mail goes on through the running chain."""
        courier.useFilter("attachments\n")
        result = self.reload("nosuchfilter\n")
        self.assertEqual(result.returncode, 1)
        self.assertIn("unknown filter 'nosuchfilter'", result.stderr)
        code, _ = courier.send(SENDER, RECIPIENT, courier.makeMessage(
            SENDER, RECIPIENT, attachment="evil.exe"), timeout=30)
        self.assertEqual(code, 554)
        self.assertEqual(courier.send(SENDER, RECIPIENT, courier.makeMessage(
            SENDER, RECIPIENT), timeout=30)[0], 250)
