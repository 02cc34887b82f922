"""
Tests for the simple filters: whitelist_auth, log_aliases and debug.
"""

import os

from twisted.logger import capturedLogs, formatEvent
from twisted.trial import unittest

from pyfilter.engine.loader import makeFilter
from pyfilter.config.modulesfile import ModulesConfig
from pyfilter.engine.reply import OK
from tests.helpers import sampleMessage, samplePaths, writeMessage


def simpleFilter(name):
    return makeFilter(name, ModulesConfig(), None)


def loggedLines(events):
    return [formatEvent(event) for event in events]


class WhitelistAuthTests(unittest.TestCase):
    def test_authenticatedAccepted(self):
        """Mail submitted with SMTP AUTH is answered 200 Ok."""
        reply = simpleFilter("whitelist_auth").consider(
            sampleMessage("c-auth"))
        self.assertEqual(reply, OK)
        self.assertEqual(reply.toBytes(), b"200 Ok\n")

    def test_unauthenticatedNoOpinion(self):
        """Mail without an auth user gets no opinion."""
        self.assertIsNone(simpleFilter("whitelist_auth").consider(
            sampleMessage("a-plain")))

    def test_emptyAuthUserNoOpinion(self):
        """An empty i record does not count as authenticated."""
        message = writeMessage(self, ["ssender@example.org", "i",
                                      "rbob@example.test", "R", "N"])
        self.assertIsNone(simpleFilter("whitelist_auth").consider(message))


class LogAliasesTests(unittest.TestCase):
    def test_originalRecipientsLogged(self):
        """Each recipient with an original address is logged, a leading
        rfc822; removed, and the filter has no opinion."""
        message = writeMessage(self, [
            "ssender@example.org",
            "ralice@example.test", "Rrfc822;team@example.test", "N",
            "rbob@example.test", "R", "N",
            "rcarol@example.test", "Rcarol-alias@example.test", "NN",
        ])
        with capturedLogs() as events:
            self.assertIsNone(simpleFilter("log_aliases").consider(message))
        self.assertEqual(loggedLines(events), [
            "Message delivered to alice@example.test was originally "
            "addressed to team@example.test.",
            "Message delivered to carol@example.test was originally "
            "addressed to carol-alias@example.test.",
        ])

    def test_capturedDsnMessage(self):
        """The captured DSN message's ORCPT is logged."""
        with capturedLogs() as events:
            self.assertIsNone(simpleFilter("log_aliases").consider(
                sampleMessage("d-dsn")))
        self.assertEqual(loggedLines(events), [
            "Message delivered to alice@example.test was originally "
            "addressed to alice@example.test."])

    def test_deliveredRecipientsSkipped(self):
        """Recipients already delivered are not logged."""
        message = writeMessage(self, [
            "ralice@example.test", "Rrfc822;team@example.test", "N",
            "S0 1795593912 r"])
        with capturedLogs() as events:
            simpleFilter("log_aliases").consider(message)
        self.assertEqual(loggedLines(events), [])


class DebugTests(unittest.TestCase):
    def test_diagnosticsLogged(self):
        """The process ids, the data file and each control file are logged
        with their stat, and the filter has no opinion."""
        dataPath, controlPaths = samplePaths("h-two-control-files")
        message = sampleMessage("h-two-control-files")
        with capturedLogs() as events:
            self.assertIsNone(simpleFilter("debug").consider(message))
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
        message = writeMessage(self, ["ssender@example.org"])
        os.unlink(message.dataPath)
        with capturedLogs() as events:
            self.assertIsNone(simpleFilter("debug").consider(message))
        self.assertIn("    Cannot stat: No such file or directory",
                      loggedLines(events))
