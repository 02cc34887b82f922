"""
Tests for the decision line (L{pyfilter.daemon.decisions}).
"""

import json

from twisted.internet import task
from twisted.logger import LogLevel, globalLogPublisher
from twisted.trial import unittest

from pyfilter.daemon.decisions import DecisionLog, logfmt, quote
from pyfilter.engine.chain import Entry
from pyfilter.engine.reply import Reply


class FakeRecipient:
    def __init__(self, address):
        self.address = address


class FakeMessage:
    messageId = "0001.ABC"
    remoteIP = "192.0.2.1"
    helo = "mx.example"
    sender = "a@example.org"
    authUser = None

    def __init__(self, count=1):
        self.recipients = [FakeRecipient(f"u{i}@example.com")
                           for i in range(count)]
        self.outages = []
        self.notes = {}


class QuoteTests(unittest.TestCase):
    def test_plain(self):
        self.assertEqual(quote("abc@x.y"), "abc@x.y")

    def test_empty_and_none(self):
        self.assertEqual(quote(""), '""')
        self.assertEqual(quote(None), '""')

    def test_specials(self):
        self.assertEqual(quote('a "b"'), '"a \\"b\\""')
        self.assertEqual(quote("k=v"), '"k=v"')
        self.assertEqual(quote("a\\b"), '"a\\\\b"')
        self.assertEqual(quote("x\ny"), '"x\\ny"')

    def test_logfmt(self):
        self.assertEqual(logfmt([("a", 1), ("b", "c d")]), 'a=1 b="c d"')


class DecisionLineTests(unittest.TestCase):
    def setUp(self):
        self.events = []
        globalLogPublisher.addObserver(self.events.append)
        self.addCleanup(globalLogPublisher.removeObserver,
                        self.events.append)
        self.clock = task.Clock()

    def line(self, message, json=False):
        log = DecisionLog("json" if json else "logfmt",
                          clock=self.clock.seconds)
        decision = log.start(message)
        self.clock.advance(0.002)
        decision.observe(Entry("dnsbl", None), None, 0.002)
        decision.observe(Entry("spam", None, testing=True),
                         Reply("550", "5.7.1 no"), 0.001)
        self.clock.advance(0.001)
        reply = Reply("250", "Ok")
        self.assertIs(log.finish(decision, reply), reply)
        [event] = [e for e in self.events
                   if e.get("log_format") == "decision {line}"]
        self.assertEqual(event["log_level"], LogLevel.info)
        return event["line"]

    def test_fields(self):
        message = FakeMessage(2)
        message.outages.append(("dnsbl", "dns", "timeout"))
        message.notes["rspamd"] = {"score": 3.5}
        self.assertEqual(
            self.line(message),
            "qid=0001.ABC client=192.0.2.1 helo=mx.example "
            "from=a@example.org rcpts=2 to=u0@example.com,u1@example.com "
            'filters="dnsbl=continue:2.0,spam=testing-550:1.0" '
            'outages=dnsbl:dns notes="rspamd.score=3.5" '
            "reply=250 text=Ok ms=3.0")

    def test_many_recipients_counted(self):
        line = self.line(FakeMessage(6))
        self.assertIn("rcpts=6 ", line)
        self.assertNotIn("to=", line)

    def test_off(self):
        """With off set no line is written; metrics still count it."""
        counted = []

        class Counting:
            def decided(self, *args):
                counted.append(args)
        log = DecisionLog("off", clock=self.clock.seconds,
                          metrics=Counting())
        reply = Reply("250", "Ok")
        self.assertIs(log.finish(log.start(FakeMessage(1)), reply), reply)
        self.assertEqual([e for e in self.events
                          if e.get("log_format") == "decision {line}"], [])
        self.assertEqual(len(counted), 1)

    def test_json(self):
        fields = json.loads(self.line(FakeMessage(1), json=True))
        self.assertEqual(fields["qid"], "0001.ABC")
        self.assertEqual(fields["reply"], "250")
        self.assertEqual(fields["to"], "u0@example.com")

    def test_afterReply(self):
        """
        With C{later}, the control files are read before the reply and the
        line is written when C{later}'s function runs, lines waiting
        meanwhile together; the time is the decision's, not the writing's.
        """
        scheduled = []

        class Reading(FakeMessage):
            read = 0

            def readControl(self):
                self.read += 1

        log = DecisionLog("logfmt", clock=self.clock.seconds,
                          later=scheduled.append)
        messages = [Reading(1), Reading(1)]
        for message in messages:
            decision = log.start(message)
            self.clock.advance(0.004)
            log.finish(decision, Reply("250", "Ok"))
        self.assertEqual([m.read for m in messages], [1, 1])
        self.assertEqual(len(scheduled), 1)
        lines = [e for e in self.events
                 if e.get("log_format") == "decision {line}"]
        self.assertEqual(lines, [])
        self.clock.advance(1)
        scheduled[0]()
        lines = [e["line"] for e in self.events
                 if e.get("log_format") == "decision {line}"]
        self.assertEqual(len(lines), 2)
        self.assertTrue(all(line.endswith(" ms=4.0") for line in lines))
        log.flush()
        self.assertEqual(len([e for e in self.events
                              if e.get("log_format") == "decision {line}"]),
                         2)
