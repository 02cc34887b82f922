"""
Tests for L{pyfilter.daemon.logoutput}: the same lines as twistd's text
observer, and the direct path of the decision line.
"""

import io

from twisted.logger import Logger, LogPublisher, textFileLogObserver
from twisted.python import usage
from twisted.trial.unittest import TestCase

from pyfilter.daemon.logoutput import LogOutput, forTwistd

WHEN = 1796198707.25


def _logged(observer, **fields):
    log = Logger(namespace="pyfilter.example", observer=LogPublisher(
        observer))
    log.info("decision {line}", line="qid=abc client=192.0.2.1", **fields)


class LogOutputTests(TestCase):

    def test_sameAsTwistd(self):
        """
        An event is written as twistd's own text observer writes it.
        """
        ours, theirs = io.StringIO(), io.StringIO()
        for observer in (LogOutput(ours), textFileLogObserver(theirs)):
            LogPublisher(observer)({
                "log_format": "hello {who}", "who": "admin",
                "log_time": WHEN, "log_namespace": "pyfilter.x",
                "log_level": None, "log_system": "pyfilter"})
        self.assertEqual(ours.getvalue(), theirs.getvalue())
        self.assertIn("[pyfilter] hello admin\n", ours.getvalue())

    def test_writeLineAsEvent(self):
        """
        L{LogOutput.writeLine} writes what logging the line as an event of
        that namespace and level would have written.
        """
        direct, logged = io.StringIO(), io.StringIO()
        LogOutput(direct, clock=lambda: WHEN).writeLine(
            "pyfilter.example#info", "decision qid=abc client=192.0.2.1")
        output = LogOutput(logged)
        output.clock = lambda: WHEN

        def observer(event):
            output(dict(event, log_time=WHEN))

        _logged(observer)
        self.assertEqual(direct.getvalue(), logged.getvalue())

    def test_timestampOncePerSecond(self):
        """
        The timestamp is formatted again only when the second changes.
        """
        output = LogOutput(io.StringIO())
        first = output.formatTime(WHEN)
        self.assertIs(output.formatTime(WHEN + 0.5), first)
        self.assertNotEqual(output.formatTime(WHEN + 1), first)
        self.assertEqual(output.formatTime(None), "-")


class _Twistd(usage.Options):
    optFlags = [["nodaemon", "n", ""], ["syslog", None, ""]]
    optParameters = [["logfile", "l", None, ""], ["logger", None, None, ""]]


def _options(*argv):
    twistd = _Twistd()
    twistd.parseOptions(list(argv))
    sub = usage.Options()
    sub.parent = twistd
    return sub


class ForTwistdTests(TestCase):

    def test_standardOutput(self):
        """
        twistd logging to standard output (C{--logfile=-}, or C{-n} without
        a log file) gets a L{LogOutput} on it.
        """
        stdout = io.StringIO()
        for argv in (["-n", "--logfile=-"], ["-n"]):
            output = forTwistd(_options(*argv), stdout)
            self.assertIsInstance(output, LogOutput)
            self.assertIs(output.outFile, stdout)

    def test_otherDestinations(self):
        """
        A log file path, syslog or a custom logger keep twistd's observer;
        so do options not given by twistd.
        """
        for argv in (["-n", "--logfile=/var/log/x"], ["-n", "--syslog"],
                     ["-n", "--logfile=-", "--logger=a.b"]):
            self.assertIsNone(forTwistd(_options(*argv)))
        self.assertIsNone(forTwistd(usage.Options()))
