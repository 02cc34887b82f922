"""
Tests for the filters that consult Courier's access and domain tables:
whitelist_relayclients, whitelist_block and deliveredto.
"""

import os

from twisted.trial.unittest import TestCase

from pyfilter import testing
from pyfilter.config.errors import ConfigError
from pyfilter.engine.reply import CONTROL_FAILURE, OK, Reply
from tests.helpers import sampleMessage, writeMessage
from tests.test_courierconfig import compiledSysconf

LOOP = Reply("501", "Mail loop - already have my Delivered-To: header.")


class AccessTestCase(TestCase):
    """
    Tests of the filter C{name}, started by L{testing.Harness} on Courier's
    compiled tables (L{compiledSysconf}).
    """

    name = None

    def setUp(self):
        self.sysconfdir = compiledSysconf(self)
        self.harness = testing.Harness(self, self.name,
                                       sysconfdir=self.sysconfdir)

    def decide(self, ip, data="Subject: test\n\nbody\n"):
        """
        The filter's answer for a message to alice@example.test from the
        client C{ip} (C{None}: local mail).
        """
        return self.harness.decide(self.harness.message(
            recipients=["alice@example.test"], ip=ip, data=data))

    def decideMalformed(self, ip):
        """
        The filter's answer for a message whose TCPREMOTEIP is C{ip}, not an
        address (what L{testing.message} cannot write).
        """
        return self.harness.decide(writeMessage(self, [
            "ssender@example.org", "ralice@example.test", "R", "N",
            "OTCPREMOTEIP=" + ip]))


class WhitelistRelayClientsTests(AccessTestCase):
    name = "whitelist_relayclients"

    def test_fixtureLocalhostRelays(self):
        """A real capture from ::ffff:127.0.0.1, a relay client in the
        default smtpaccess, is answered 200 Ok."""
        reply = self.harness.decide(sampleMessage("a-plain"))
        self.assertEqual(reply, OK)
        self.assertEqual(reply.toBytes(), b"200 Ok\n")

    def test_prefixIPv4(self):
        """An IPv4 client under a RELAYCLIENT prefix is answered 200 Ok."""
        self.assertEqual(self.decide("10.20.30.40"), OK)

    def test_relayClientWithValue(self):
        """RELAYCLIENT=value also counts."""
        self.assertEqual(self.decide("2001:db9::1"), OK)

    def test_IPv6(self):
        """An IPv6 relay client is answered 200 Ok, another gets none."""
        self.assertEqual(self.decide("::1"), OK)
        self.assertIsNone(self.decide("2001:db8::1"))

    def test_notRelayClient(self):
        """A client without RELAYCLIENT gets no opinion."""
        self.assertIsNone(self.decide("192.168.1.1"))
        self.assertIsNone(self.decide("203.0.113.1"))

    def test_noClientAddress(self):
        """Local mail without a client address gets no opinion."""
        self.assertIsNone(self.decide(None))

    def test_malformedAddress(self):
        """A malformed TCPREMOTEIP makes the chain answer the reference's
        451."""
        reply = self.decideMalformed("not-an-ip")
        self.assertEqual(reply, CONTROL_FAILURE)
        self.assertEqual(reply.toBytes(),
                         b"451 Internal failure locating control files\n")


class WhitelistBlockTests(AccessTestCase):
    name = "whitelist_block"

    def test_emptyBlockAccepted(self):
        """A client whose entry has a bare BLOCK is answered 200 Ok."""
        reply = self.decide("192.168.1.1")
        self.assertEqual(reply.toBytes(), b"200 Ok\n")

    def test_emptyBlockIPv6(self):
        """An IPv6 client under a bare BLOCK netblock is answered 200 Ok."""
        self.assertEqual(self.decide("2001:db8::1"), OK)

    def test_blockWithValue(self):
        """BLOCK=text is a block, not a whitelist: no opinion."""
        self.assertIsNone(self.decide("192.168.5.1"))

    def test_moreSpecificEntryWins(self):
        """The most specific entry decides, even without BLOCK."""
        self.assertIsNone(self.decide("192.168.5.7"))

    def test_fixtureWithoutBlock(self):
        """The real capture's client has no BLOCK: no opinion."""
        self.assertIsNone(self.harness.decide(sampleMessage("a-plain")))

    def test_noClientAddress(self):
        """Local mail without a client address gets no opinion."""
        self.assertIsNone(self.decide(None))

    def test_malformedAddress(self):
        """A malformed TCPREMOTEIP makes the chain answer the reference's
        451."""
        self.assertEqual(self.decideMalformed("999.1.1.1"), CONTROL_FAILURE)


def deliveredTo(*addresses):
    headers = "".join(f"Delivered-To: {a}\n" for a in addresses)
    return headers + "Subject: test\n\nbody\n"


class DeliveredToTests(AccessTestCase):
    name = "deliveredto"

    def consider(self, *addresses):
        return self.decide("192.0.2.1", deliveredTo(*addresses))

    def test_localDomainLoop(self):
        """Our own Delivered-To header for a local domain is refused with
        the reference's 501."""
        reply = self.consider("alice@example.test")
        self.assertEqual(reply, LOOP)
        self.assertEqual(
            reply.toBytes(),
            b"501 Mail loop - already have my Delivered-To: header.\n")

    def test_hostedDomainLoop(self):
        """A Delivered-To header for a hosted domain is refused."""
        self.assertEqual(self.consider("bob@x.wild.example"), LOOP)

    def test_foreignDomain(self):
        """A Delivered-To header for another domain gets no opinion."""
        self.assertIsNone(self.consider("bob@elsewhere.example"))

    def test_everyHeaderChecked(self):
        """A loop is found in any Delivered-To header, not just the first."""
        self.assertEqual(self.consider("bob@elsewhere.example",
                                       "alice@localhost"), LOOP)

    def test_parsedCaseInsensitive(self):
        """Addresses are parsed (brackets, display names, spaces) and
        domains compared whatever their case."""
        self.assertEqual(self.consider("<alice@Example.TEST> "), LOOP)
        self.assertEqual(self.consider('"Alice" <alice@HOSTED.example>'),
                         LOOP)

    def test_notAnAddress(self):
        """A Delivered-To header without a domain gets no opinion."""
        self.assertIsNone(self.consider("example.test"))

    def test_noHeader(self):
        """Mail without Delivered-To, such as the real captures, gets no
        opinion."""
        self.assertIsNone(self.harness.decide(sampleMessage("a-plain")))
        self.assertIsNone(self.harness.decide(
            sampleMessage("g-local-sendmail")))

    def test_meWithoutLocals(self):
        """Without a locals file, a Delivered-To for me() is a loop."""
        harness = testing.Harness(self, "deliveredto",
                                  courier={"me": "mx.example.test\n"})
        message = harness.message(data=deliveredTo("a@MX.example.test"))
        self.assertEqual(harness.decide(message), LOOP)

    def test_unreadableDataFile(self):
        """An unreadable data file is answered 451 Internal failure parsing
        message data file."""
        message = self.harness.message(data=deliveredTo("a@example.test"))
        os.remove(message.dataPath)
        self.assertEqual(
            self.harness.decide(message).toBytes(),
            b"451 Internal failure parsing message data file\n")

    def test_replyCodeOption(self):
        """reply_code changes the code and keeps the text."""
        harness = testing.Harness(self, "deliveredto", "reply_code = '554'",
                                  sysconfdir=self.sysconfdir)
        message = harness.message(data=deliveredTo("a@example.test"))
        self.assertEqual(
            harness.decide(message).toBytes(),
            b"554 Mail loop - already have my Delivered-To: header.\n")

    def test_badReplyCode(self):
        """A reply_code that is not a 4xx or 5xx code is refused at start."""
        for bad in ("200", "5555", "55x", "554 5.4.6"):
            self.assertRaises(
                ConfigError, testing.Harness, self, "deliveredto",
                f"reply_code = {bad!r}", sysconfdir=self.sysconfdir)
        self.assertRaises(
            ConfigError, testing.Harness, self, "deliveredto",
            "reply_code = 554", sysconfdir=self.sysconfdir)
