"""
Tests for the simple filters: whitelist_auth, log_aliases and debug.
"""

import os

from twisted.logger import capturedLogs, formatEvent
from twisted.trial import unittest

from pyfilter import testing
from pyfilter.engine.reply import OK
from tests.helpers import sampleMessage, samplePaths


def decide(testCase, name, message=None, **envelope):
    """
    The answer of filter C{name}, started by L{testing.Harness}, for
    C{message} (by default one written from C{envelope}).
    """
    harness = testing.Harness(testCase, name)
    if message is None:
        message = harness.message(**envelope)
    return harness.decide(message)


def loggedLines(events):
    return [formatEvent(event) for event in events]


class WhitelistAuthTests(unittest.TestCase):
    def test_authenticatedAccepted(self):
        """Mail submitted with SMTP AUTH is answered 200 Ok."""
        reply = decide(self, "whitelist_auth", sampleMessage("c-auth"))
        self.assertEqual(reply, OK)
        self.assertEqual(reply.toBytes(), b"200 Ok\n")

    def test_unauthenticatedNoOpinion(self):
        """Mail without an auth user gets no opinion."""
        self.assertIsNone(decide(self, "whitelist_auth",
                                 sampleMessage("a-plain")))

    def test_emptyAuthUserNoOpinion(self):
        """An empty i record does not count as authenticated."""
        self.assertIsNone(decide(self, "whitelist_auth", auth="",
                                 recipients=["bob@example.test"]))


class LogAliasesTests(unittest.TestCase):
    def test_originalRecipientsLogged(self):
        """Each recipient with an original address is logged, a leading
        rfc822; removed, and the filter has no opinion."""
        recipients = [
            ("alice@example.test", "rfc822;team@example.test", ""),
            "bob@example.test",
            ("carol@example.test", "carol-alias@example.test", "N"),
        ]
        with capturedLogs() as events:
            self.assertIsNone(decide(self, "log_aliases",
                                     sender="sender@example.org",
                                     recipients=recipients))
        self.assertEqual(loggedLines(events), [
            "Message delivered to alice@example.test was originally "
            "addressed to team@example.test.",
            "Message delivered to carol@example.test was originally "
            "addressed to carol-alias@example.test.",
        ])

    def test_capturedDsnMessage(self):
        """The captured DSN message's ORCPT is logged."""
        with capturedLogs() as events:
            self.assertIsNone(decide(self, "log_aliases",
                                     sampleMessage("d-dsn")))
        self.assertEqual(loggedLines(events), [
            "Message delivered to alice@example.test was originally "
            "addressed to alice@example.test."])

    def test_deliveredRecipientsSkipped(self):
        """Recipients already delivered are not logged."""
        harness = testing.Harness(self, "log_aliases")
        message = harness.message(recipients=[
            ("alice@example.test", "rfc822;team@example.test", "")])
        with open(message.controlPaths[0], "a") as f:
            f.write("S0 1795593912 r\n")
        with capturedLogs() as events:
            harness.decide(message)
        self.assertEqual(loggedLines(events), [])


class DebugTests(unittest.TestCase):
    def test_diagnosticsLogged(self):
        """The process ids, the data file and each control file are logged
        with their stat, and the filter has no opinion."""
        dataPath, controlPaths = samplePaths("h-two-control-files")
        message = sampleMessage("h-two-control-files")
        with capturedLogs() as events:
            self.assertIsNone(decide(self, "debug", message))
        lines = loggedLines(events)
        self.assertEqual(lines[0], "Debugging filter invoked:")
        self.assertEqual(lines[1], f"    PID: {os.getpid()}")
        self.assertEqual(lines[2], f"    CWD: {os.getcwd()}")
        self.assertEqual(
            [line.split(":")[0].strip() for line in lines[3:8]],
            ["EUID", "EGID", "UID", "GID", "Additional groups"])
        self.assertEqual(lines[8], f"    Body: {dataPath}")
        self.assertEqual(lines[9], f"    Raw stat: {os.stat(dataPath)!r}")
        self.assertEqual(lines[10:], [
            f"    Control file: {controlPaths[0]}",
            f"    Raw stat: {os.stat(controlPaths[0])!r}",
            f"    Control file: {controlPaths[1]}",
            f"    Raw stat: {os.stat(controlPaths[1])!r}",
        ])

    def test_missingFileLogged(self):
        """A data file that has disappeared is reported in the log, not
        raised."""
        harness = testing.Harness(self, "debug")
        message = harness.message()
        os.unlink(message.dataPath)
        with capturedLogs() as events:
            self.assertIsNone(harness.decide(message))
        self.assertIn("    Cannot stat: No such file or directory",
                      loggedLines(events))
