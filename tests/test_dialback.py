"""
Tests for the dialback filter and its SMTP call-out, against a real
twisted.names server and real Twisted SMTP servers on loopback addresses.
"""

import time

from twisted.internet import defer, reactor
from twisted.trial import unittest

from pyfilter.config.errors import ConfigError
from pyfilter.engine.reply import Reply
from pyfilter.store import StoreError, tupleKey
from pyfilter.store.memory import MemoryStore
from tests.dnsserver import (
    SECOND_MX_ADDRESS, dnsContext, dnsFilter, startDNSServer)
from tests.helpers import courierSysconf, writeMessage
from tests.smtpserver import startSMTPServer
from pyfilter.store import storeFor
from pyfilter.store.opening import storeKey

CALLOUT = ["HELO helo.example.test",
           "MAIL FROM:<postmaster@mx.example.test>",
           "RCPT TO:<{sender}>", "QUIT"]


class _FailingStore(MemoryStore):
    def _execute(self, operation, *args):
        raise StoreError("down")


def senderMessage(testCase, sender):
    return writeMessage(testCase, [f"s{sender}", "rbob@example.test", "R",
                                   "N", "OTCPREMOTEIP=192.0.2.5"])


class DialbackTests(unittest.TestCase):
    timeout = 10

    def setUp(self):
        self.dnsServer = startDNSServer(self)
        self.smtp = startSMTPServer(self)

    def dialback(self, options="", store=None):
        sysconfdir = courierSysconf(self, {"me": "mx.example.test\n",
                                           "esmtphelo": "helo.example.test\n"})
        context = dnsContext(
            self, self.dnsServer,
            "[ttldb]\ntype = 'memory'\n[dialback.py]\n"
            f"smtp_port = {self.smtp.port}\n{options}", sysconfdir)
        if store is not None:
            context.shared(storeKey(context), lambda: store)
        instance = dnsFilter(context, "dialback")
        return defer.maybeDeferred(instance.start).addCallback(
            lambda _: instance)

    @defer.inlineCallbacks
    def consider(self, sender, options="", instance=None):
        instance = instance or (yield self.dialback(options))
        reply = yield instance.consider(senderMessage(self, sender))
        return reply

    @defer.inlineCallbacks
    def test_acceptedSenderRemembered(self):
        """A sender the MX accepts gets no opinion, after HELO, MAIL FROM,
        RCPT TO and QUIT; the next message is not called back."""
        instance = yield self.dialback()
        self.assertIsNone((yield self.consider("a@single.test",
                                               instance=instance)))
        expected = [line.format(sender="a@single.test") for line in CALLOUT]
        yield self.smtp.whenIdle()
        self.assertEqual(self.smtp.commands, expected)
        self.assertIsNone((yield self.consider("a@single.test",
                                               instance=instance)))
        self.assertEqual(self.smtp.commands, expected)

    @defer.inlineCallbacks
    def test_recentSenderAnsweredFromMemory(self):
        """Within a second of its verdict a sender's messages cost no
        store operation; later, one operation finds the sender and renews
        its entry."""
        instance = yield self.dialback()
        self.assertIsNone((yield self.consider("a@single.test",
                                               instance=instance)))
        store = storeFor(instance.context)
        operations = []
        execute = store._execute

        def counted(operation, *args):
            operations.append(operation)
            return execute(operation, *args)
        store._execute = counted
        self.assertIsNone((yield self.consider("a@single.test",
                                               instance=instance)))
        self.assertEqual(operations, [])
        verdict, until = instance.recent["a@single.test"]
        instance.recent["a@single.test"] = (verdict, until - 2)
        expires = store.entries[("goodsenders", tupleKey("a@single.test"))][1]
        self.assertIsNone((yield self.consider("a@single.test",
                                               instance=instance)))
        self.assertEqual(operations, ["refresh"])
        self.assertGreaterEqual(
            store.entries[("goodsenders", tupleKey("a@single.test"))][1],
            expires)

    @defer.inlineCallbacks
    def test_refusedSenderRemembered(self):
        """A sender the MX refuses with 5xx gets the two-line 517 reply;
        the next message gets the one-line 517 without a call-out."""
        self.smtp.behaviour = "reject"
        instance = yield self.dialback()
        reply = yield self.consider("a@single.test", instance=instance)
        self.assertEqual(reply.toBytes(),
                         b"517-MX server mx.single.test said:\n"
                         b"517 Sender does not exist: a@single.test\n")
        yield self.smtp.whenIdle()
        calls = len(self.smtp.commands)
        self.assertEqual(self.smtp.commands[-1], "QUIT")
        reply = yield self.consider("a@single.test", instance=instance)
        self.assertEqual(reply, Reply("517",
                                      "Sender does not exist: a@single.test"))
        self.assertEqual(len(self.smtp.commands), calls)

    @defer.inlineCallbacks
    def test_unknownReplyWellFormed(self):
        """Another RCPT reply (450) gives a well-formed two-line 421 reply,
        after QUIT, and is not remembered."""
        self.smtp.behaviour = "tempfail"
        instance = yield self.dialback()
        reply = yield self.consider("a@single.test", instance=instance)
        self.assertEqual(reply.toBytes(),
                         b"421-Unable to validate sender address.\n"
                         b"421 MX server mx.single.test provided unknown "
                         b"reply\n")
        yield self.smtp.whenIdle()
        self.assertEqual(self.smtp.commands[-1], "QUIT")
        yield self.consider("a@single.test", instance=instance)
        yield self.smtp.whenIdle()
        self.assertEqual(self.smtp.commands.count("QUIT"), 2)

    @defer.inlineCallbacks
    def test_heloRejected(self):
        """A HELO refusal names the host, and the call-out ends with QUIT."""
        self.smtp.behaviour = "rejectHelo"
        reply = yield self.consider("a@single.test")
        self.assertEqual(reply, Reply(
            "421", "mx.single.test rejected the HELO command"))
        yield self.smtp.whenIdle()
        self.assertEqual(self.smtp.commands,
                         ["HELO helo.example.test", "QUIT"])

    @defer.inlineCallbacks
    def test_mailFromRejected(self):
        """A MAIL FROM refusal names the host."""
        self.smtp.behaviour = "rejectMail"
        reply = yield self.consider("a@single.test")
        self.assertEqual(reply, Reply(
            "421", "mx.single.test rejected the MAIL FROM command"))

    @defer.inlineCallbacks
    def test_postmasterAddress(self):
        """postmaster_addr is the call-out's MAIL FROM."""
        yield self.consider("a@single.test",
                            "postmaster_addr = 'check@example.test'\n")
        self.assertIn("MAIL FROM:<check@example.test>", self.smtp.commands)

    @defer.inlineCallbacks
    def test_connectionRefused(self):
        """A host that refuses the connection gives the connect outcome."""
        yield self.smtp.stop()
        reply = yield self.consider("a@single.test")
        self.assertEqual(reply, Reply(
            "400", "SMTP class exception during connect"))

    @defer.inlineCallbacks
    def test_silentGreetingTimesOut(self):
        """A server that never greets costs smtp_timeout, then the connect
        outcome; the connection is closed."""
        self.smtp.behaviour = "hangGreeting"
        began = time.monotonic()
        reply = yield self.consider("a@single.test", "smtp_timeout = 0.3\n")
        self.assertEqual(reply, Reply(
            "400", "SMTP class exception during connect"))
        self.assertLess(time.monotonic() - began, 1.5)
        yield self.smtp.stop()

    @defer.inlineCallbacks
    def test_hangingRcptTimesOut(self):
        """A server that never answers RCPT costs smtp_timeout, then the
        RCPT outcome."""
        self.smtp.behaviour = "hangRcpt"
        began = time.monotonic()
        reply = yield self.consider("a@single.test", "smtp_timeout = 0.3\n")
        self.assertEqual(reply, Reply(
            "400", "SMTP class exception during RCPT command"))
        self.assertLess(time.monotonic() - began, 1.5)

    @defer.inlineCallbacks
    def test_nextHostAfterHang(self):
        """When the first MX hangs, the second one is asked and settles
        the sender."""
        self.smtp.behaviour = "hangGreeting"
        second = startSMTPServer(self, interface=SECOND_MX_ADDRESS,
                                 port=self.smtp.port)
        reply = yield self.consider("a@sender.test", "smtp_timeout = 0.3\n")
        self.assertIsNone(reply)
        self.assertIn("RCPT TO:<a@sender.test>", second.commands)

    @defer.inlineCallbacks
    def test_lastOutcomeWhenNoHostSettles(self):
        """When no host settles the sender, the last host's outcome is the
        answer."""
        self.smtp.behaviour = "tempfail"
        reply = yield self.consider("a@sender.test")
        self.assertEqual(reply, Reply(
            "400", "SMTP class exception during connect"))
        yield self.smtp.whenIdle()
        self.assertEqual(self.smtp.commands[-1], "QUIT")

    @defer.inlineCallbacks
    def test_deadlineBoundsWholeCheck(self):
        """The deadline bounds all call-outs of a message together, whatever
        smtp_timeout is."""
        self.smtp.behaviour = "hangGreeting"
        startSMTPServer(self, "hangGreeting", SECOND_MX_ADDRESS,
                        self.smtp.port)
        began = time.monotonic()
        reply = yield self.consider("a@sender.test",
                                    "smtp_timeout = 30\ndeadline = 0.4\n")
        self.assertEqual(reply, Reply(
            "400", "SMTP class exception during connect"))
        self.assertLess(time.monotonic() - began, 1.5)

    @defer.inlineCallbacks
    def test_domainWithoutMX(self):
        """A domain without MX but with an address is called itself."""
        reply = yield self.consider("a@nomx.test")
        self.assertIsNone(reply)
        self.assertIn("RCPT TO:<a@nomx.test>", self.smtp.commands)

    @defer.inlineCallbacks
    def test_unknownDomain(self):
        """A domain with neither MX nor address gives the DNS failure."""
        reply = yield self.consider("a@nothing.test")
        self.assertEqual(reply.toBytes(),
                         b"421 DNS failure resolving nothing.test\n")

    @defer.inlineCallbacks
    def test_unresolvableExchanger(self):
        """An MX host without an address gives the connect outcome."""
        reply = yield self.consider("a@lame.test")
        self.assertEqual(reply, Reply(
            "400", "SMTP class exception during connect"))

    @defer.inlineCallbacks
    def test_silentDNSBounded(self):
        """A silent DNS server gives the DNS failure after dns_timeout."""
        self.dnsServer.silent = True
        began = time.monotonic()
        reply = yield self.consider("a@single.test", "dns_timeout = 0.3\n")
        self.assertEqual(reply, Reply("421",
                                      "DNS failure resolving single.test"))
        self.assertLess(time.monotonic() - began, 1.5)

    @defer.inlineCallbacks
    def test_invalidSender(self):
        """A sender without exactly one @ is invalid."""
        instance = yield self.dialback()
        for sender in ("nobody", "a@b@single.test"):
            reply = yield self.consider(sender, instance=instance)
            self.assertEqual(reply.toBytes(),
                             b"501 Envelope sender is invalid\n")

    @defer.inlineCallbacks
    def test_nullSender(self):
        """The null sender is not checked."""
        self.assertIsNone((yield self.consider("")))
        self.assertEqual(self.dnsServer.queries, [])

    @defer.inlineCallbacks
    def test_storeUnavailable(self):
        """When the state store fails, the answer is on_store_error."""
        instance = yield self.dialback(store=_FailingStore(reactor))
        reply = yield self.consider("a@single.test", instance=instance)
        self.assertEqual(reply.code, "451")
        self.assertEqual(self.smtp.commands, [])
        self.flushLoggedErrors(StoreError)

    @defer.inlineCallbacks
    def test_cancelAbortsCallout(self):
        """Cancelling the check (the chain's timeout) closes the call-out
        connection."""
        self.smtp.behaviour = "hangRcpt"
        instance = yield self.dialback()
        pending = instance.consider(senderMessage(self, "a@single.test"))
        yield self.smtp.whenReceived("RCPT TO:<a@single.test>")
        pending.cancel()
        self.failureResultOf(pending, defer.CancelledError)
        yield self.smtp.whenIdle()

    def test_portChecked(self):
        """smtp_port must be a port number."""
        context = dnsContext(self, self.dnsServer,
                             "[dialback.py]\nsmtp_port = 0\n")
        self.assertRaises(ConfigError, dnsFilter, context, "dialback")

