"""
Tests for the filter base (pyfilter.engine.filter): the options every
filter gets (testing, timeout, on_error and its old names, inverse), outages,
the filter's time, and describe().
"""

import os
import sys

from twisted.internet import defer
from twisted.logger import capturedLogs
from twisted.trial import unittest

from pyfilter import ConfigError, Reply, Unavailable, testing
from pyfilter.engine.filter import describe
from pyfilter.engine.loader import daemonSettings, findFilter
from pyfilter.config.modulesfile import ModulesConfig

SITEFILTERS = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                           "sitefilters")


class BaseTests(unittest.TestCase):
    def setUp(self):
        sys.path.insert(0, SITEFILTERS)
        self.addCleanup(sys.path.remove, SITEFILTERS)
        import basetest
        self.module = basetest
        self.addCleanup(basetest.ANSWER.__setitem__, 0, None)

    def harness(self, config=""):
        return testing.Harness(self, "basetest", config)

    def answer(self, value, config=""):
        self.module.ANSWER[0] = value
        harness = self.harness(config)
        return harness.decide(harness.message(ip="192.0.2.1"))

    def test_answers(self):
        """match's answer, or a Deferred of it, is the filter's."""
        reply = Reply("554", "no")
        self.assertEqual(self.answer(reply), reply)
        self.assertEqual(self.answer(lambda m: defer.succeed(reply)), reply)
        self.assertIsNone(self.answer(None))

    def test_outageGivesOnError(self):
        """An outage, raised or as a failure, gives on_error with the reason
        and the filter's name, and is logged."""
        def down(message):
            raise Unavailable("clamd is down", "clamd")
        with capturedLogs() as events:
            reply = self.answer(down)
        self.assertEqual(reply, Reply(
            "451", "4.3.0 basetest: clamd is down (basetest)"))
        self.assertTrue(any("not checked: clamd is down" in
                            (event.get("log_format", "")
                             .format(**event)) for event in events))
        self.assertEqual(self.answer(lambda m: defer.fail(Unavailable("x"))),
                         Reply("451", "4.3.0 basetest: x (basetest)"))

    def test_onErrorContinue(self):
        """on_error 'continue' gives no opinion on an outage."""
        self.assertIsNone(self.answer(lambda m: defer.fail(Unavailable("x")),
                                      "on_error = 'continue'"))

    def test_oldName(self):
        """The reference's on_store_error still sets on_error; a filter's
        own option of an old name stays its own."""
        failing = lambda m: defer.fail(Unavailable("x"))
        self.assertEqual(self.answer(failing, "on_store_error = '421 later'"),
                         Reply("421", "later"))
        harness = self.harness("unavailable_reply = True")
        self.assertTrue(harness.filter.config["unavailable_reply"])

    def test_twoNamesRefused(self):
        """on_error given twice (new and old name) is a configuration
        error naming both."""
        error = self.assertRaises(
            ConfigError, self.harness,
            "on_error = 'continue'\non_store_error = '451 x'")
        self.assertIn("on_error and on_store_error", str(error))

    def test_badOnErrorRefused(self):
        """on_error must be a reply or 'continue'."""
        error = self.assertRaises(ConfigError, self.harness,
                                  "on_error = 'accept'")
        self.assertIn("[basetest.py] on_error", str(error))

    def test_otherFailuresAreTheChains(self):
        """An exception that is no outage gives the chain's 451."""
        def broken(message):
            raise KeyError("bug")
        reply = self.answer(broken)
        self.assertEqual(reply.code, "451")
        self.assertIn("Temporary failure in mail filter basetest",
                      reply.lines[0])
        self.flushLoggedErrors(KeyError)

    def test_slowMatchGivesOnErrorBeforeChainTimeout(self):
        """A match still running near the end of the filter's time is
        cancelled and answers on_error, a margin before the chain's own
        timeout."""
        cancelled = []
        self.module.ANSWER[0] = lambda m: defer.Deferred(cancelled.append)
        harness = self.harness("timeout = 10")
        reply = harness.decide(harness.message())
        self.assertEqual(reply.code, "451")
        self.assertIn("no answer within 9 seconds", reply.lines[0])
        self.assertEqual(len(cancelled), 1)
        self.assertEqual(harness.clock.seconds(), 9)

    def test_timeLeft(self):
        """timeLeft is the filter's time less a margin (a tenth, at most a
        second); None outside a chain."""
        seen = []

        def note(message):
            seen.append(harness.filter.timeLeft(message))
        self.module.ANSWER[0] = note
        harness = self.harness("timeout = 5")
        harness.decide(harness.message())
        self.assertEqual(seen, [4.5])
        self.assertIsNone(harness.filter.timeLeft(harness.message()))

    def test_testing(self):
        """In testing mode the answer is logged, and the filter has no
        opinion; so has a failure."""
        with capturedLogs() as events:
            self.assertIsNone(self.answer(Reply("554", "spam"),
                                          "testing = True"))
        self.assertTrue(any("(testing) would have answered 554 spam" in
                            event.get("log_format", "").format(**event)
                            for event in events))

        def broken(message):
            raise KeyError("bug")
        self.assertIsNone(self.answer(broken, "testing = True"))
        self.flushLoggedErrors(KeyError)

    def test_inverse(self):
        """inverse: a match gives no opinion, no match the filter's
        reply."""
        self.assertEqual(self.answer(None, "inverse = True"),
                         Reply("550", "not matched"))
        self.assertIsNone(self.answer(Reply("200", "Ok"), "inverse = True"))

    def test_inverseOnlyWhereInvertible(self):
        """A filter that is not invertible has no inverse option, and one
        that uses no service no on_error: both are unknown options."""
        with capturedLogs() as events:
            testing.Harness(self, "plain", "inverse = True\non_error = 'x'")
        unknown = [event for event in events
                   if "unknown option" in event.get("log_format", "")]
        self.assertEqual(len(unknown), 2)

    def test_describe(self):
        """describe() gives the module's documentation, then every option
        with its default and what it does."""
        found = findFilter("basetest")
        text = describe(found, "basetest", daemonSettings(ModulesConfig()))
        self.assertTrue(text.startswith("A filter whose answer the test"))
        self.assertIn("Options (section [basetest.py]):", text)
        self.assertIn("  on_error = '451 4.3.0 basetest: {reason} "
                      "({filter})'", text)
        self.assertIn("  inverse = False", text)
        self.assertIn("  timeout = 60", text)


class RecordTests(unittest.TestCase):
    def setUp(self):
        sys.path.insert(0, SITEFILTERS)
        self.addCleanup(sys.path.remove, SITEFILTERS)
        import basetest
        self.module = basetest
        self.addCleanup(basetest.ANSWER.__setitem__, 0, None)

    def test_outagesAndNotesRecorded(self):
        """The message keeps each outage its filters met (filter, service,
        reason) and the details they noted, for the decision log."""
        harness = testing.Harness(self, "basetest", "on_error = 'continue'")
        message = harness.message()

        def noteThenFail(message):
            harness.filter.note(message, score=5.5, action="reject")
            raise Unavailable("clamd is down", "clamd")
        self.module.ANSWER[0] = noteThenFail
        self.assertIsNone(harness.decide(message))
        self.assertEqual(message.outages,
                         [("basetest", "clamd", "clamd is down")])
        self.assertEqual(message.notes,
                         {"basetest": {"score": 5.5, "action": "reject"}})
