"""
Tests for C{pyfilter check}: the chain run once over a message, with the
verdicts printed and the exit status given by the final reply.
"""

import io
import os
import re

from twisted.internet.testing import MemoryReactorClock
from twisted.trial import unittest

from pyfilter.cli import check
from tests import legacymods
from tests.helpers import courierSysconf, samplePaths


class CheckFiles:
    """
    A test case's directory with Courier's configuration and an empty
    modules file, and files written into it (a mixin for trial cases).
    """

    def setUp(self):
        self.directory = self.mktemp()
        os.makedirs(self.directory)
        self.sysconfdir = courierSysconf(self, {"me": "mail.example.test\n"})
        self.modulesPath = self.write("modules.conf", "")

    def write(self, name, text):
        path = os.path.join(self.directory, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(text)
        return path


class CheckTests(CheckFiles, unittest.TestCase):

    def check(self, chain, sample, *extra):
        """
        Run C{pyfilter check} with chain text C{chain} over a captured
        message; return the exit status, standard output and error.
        """
        dataPath, controlPaths = samplePaths(sample)
        argv = ["--config", self.write("chain.conf", chain),
                "--modules-config", self.modulesPath,
                "--courier-sysconf", self.sysconfdir,
                "--state-dir", self.directory, *extra,
                dataPath, *controlPaths]
        return self.runArgs(argv)

    def runArgs(self, argv):
        stdout, stderr = io.StringIO(), io.StringIO()
        status = check.main(argv, stdout, stderr, MemoryReactorClock())
        return status, stdout.getvalue(), stderr.getvalue()

    def assertVerdicts(self, output, expected):
        """
        The output has one line per filter (name, verdict, time in ms) and
        then the final reply.
        """
        lines = output.splitlines()
        self.assertEqual(len(lines), len(expected) + 1, output)
        for line, (name, verdict) in zip(lines, expected):
            self.assertRegex(line, r"^" + re.escape(name) + r" +"
                             + re.escape(verdict) + r" \(\d+\.\d ms\)$")
        return lines[-1]

    def test_rejected(self):
        """A permanent rejection prints each verdict, the reply last, and
        exits 5."""
        status, output, errors = self.check(
            "whitelist_auth\nattachments\nlog_aliases\n", "f-attachment")
        final = self.assertVerdicts(output, [
            ("whitelist_auth", "no opinion"),
            ("attachments",
             "554 The extension of the attached file is blacklisted")])
        self.assertEqual(final,
                         "554 The extension of the attached file is "
                         "blacklisted")
        self.assertEqual(status, 5)
        self.assertIn("blocked attachment 'evil.exe'", errors)

    def test_acceptedWithBypass(self):
        """A 2xx reply on a `for` line skips the named filters; the message
        is accepted with exit status 0."""
        status, output, _ = self.check(
            "whitelist_auth for attachments\nattachments\n", "c-auth")
        final = self.assertVerdicts(output, [
            ("whitelist_auth", "200 Ok"), ("attachments", "skipped")])
        self.assertEqual(final, "200 Ok")
        self.assertEqual(status, 0)

    def test_noDecision(self):
        """When no filter decides, the reply is 200 Ok."""
        status, output, _ = self.check("# nothing\nattachments\n", "a-plain")
        final = self.assertVerdicts(output, [("attachments", "no opinion")])
        self.assertEqual((status, final), (0, "200 Ok"))

    def test_filterError(self):
        """A filter that fails gives a temporary failure and exit status
        4."""
        legacymods.onPath(self)
        status, output, errors = self.check("checkfails\nattachments\n",
                                          "a-plain")
        final = self.assertVerdicts(output, [("checkfails", "error")])
        self.assertEqual(final, "451 4.3.0 Temporary failure in mail filter "
                         "checkfails, try again later")
        self.assertEqual(status, 4)
        self.assertIn("always fails", errors)
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)

    def test_unknownFilter(self):
        """An unknown filter is a configuration error: exit status 1 and an
        explanation on standard error, nothing on standard output."""
        status, output, errors = self.check("nosuchfilter\n", "a-plain")
        self.assertEqual((status, output), (1, ""))
        self.assertIn("unknown filter 'nosuchfilter'", errors)

    def test_badOption(self):
        """A bad option value is a configuration error naming it."""
        self.modulesPath = self.write(
            "bad.conf", "[attachments.py]\nblocked_pattern = r'('\n")
        status, output, errors = self.check("attachments\n", "f-attachment")
        self.assertEqual((status, output), (1, ""))
        self.assertIn("[attachments.py] blocked_pattern", errors)

    def test_missingChainFile(self):
        """A chain file that cannot be read is a configuration error."""
        dataPath, controlPaths = samplePaths("a-plain")
        status, output, errors = self.runArgs([
            "--config", os.path.join(self.directory, "absent.conf"),
            "--modules-config", self.modulesPath,
            "--courier-sysconf", self.sysconfdir, dataPath, *controlPaths])
        self.assertEqual((status, output), (1, ""))
        self.assertIn("cannot read the chain file", errors)

    def test_missingControlFile(self):
        """A control file that cannot be read is reported, exit status 1."""
        dataPath, _ = samplePaths("a-plain")
        status, output, errors = self.runArgs([
            "--config", self.write("chain.conf", "attachments\n"),
            "--modules-config", self.modulesPath,
            "--courier-sysconf", self.sysconfdir, dataPath,
            os.path.join(self.directory, "C-absent")])
        self.assertEqual((status, output), (1, ""))
        self.assertIn("cannot read control file", errors)

    def test_usageErrors(self):
        """Missing files or a bad option value are usage errors: exit status
        1 and the usage on standard error."""
        dataPath, controlPaths = samplePaths("a-plain")
        for argv in ([], [dataPath], [os.path.join(self.directory, "absent"),
                                      *controlPaths],
                     ["--resolver", "host:notaport", dataPath, *controlPaths],
                     ["--no-such-option", dataPath, *controlPaths]):
            status, output, errors = self.runArgs(argv)
            self.assertEqual((status, output), (1, ""), argv)
            self.assertIn("pyfilter check:", errors)
            self.assertIn("Usage:", errors)

    def test_resolverOption(self):
        """Resolvers given on the command line are accepted, repeatedly."""
        options = check.Options()
        dataPath, controlPaths = samplePaths("a-plain")
        options.parseOptions(["--resolver", "127.0.0.1:5353",
                              "--resolver", "[::1]:53", dataPath,
                              *controlPaths])
        self.assertEqual(options["resolvers"], ["127.0.0.1:5353", "::1:53"])

    def test_defaultConfigs(self):
        """Without options the configuration files are pyfilter's, else the
        reference's."""
        from pyfilter.config import locations
        self.assertEqual(locations.CHAIN_CONFIGS,
                         ("/etc/pyfilter.conf", "/etc/pythonfilter.conf"))
        self.assertEqual(locations.MODULES_CONFIGS,
                         ("/etc/pyfilter-modules.conf",
                          "/etc/pythonfilter-modules.conf"))
