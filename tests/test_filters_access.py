"""
Tests for the filters that consult Courier's access and domain tables:
whitelist_relayclients, whitelist_block and deliveredto.
"""

import os

from twisted.internet.task import Clock
from twisted.trial.unittest import TestCase

from pyfilter.engine.chain import Chain, Entry
from pyfilter.config.errors import ConfigError
from pyfilter.engine.loader import makeFilter
from pyfilter.engine.reply import CONTROL_FAILURE, OK, Reply
from tests.helpers import (courierSysconf, makeContext, sampleMessage,
                           writeMessage)
from tests.test_courierconfig import compiledSysconf

LOOP = Reply("501", "Mail loop - already have my Delivered-To: header.")


def makeAccessFilter(testCase, name, sysconfdir, modulesText=""):
    context = makeContext(testCase, sysconfdir=sysconfdir,
                          modulesText=modulesText)
    return makeFilter(name, context.modules, context)


def clientMessage(testCase, ip, data=b"Subject: test\n\nbody\n"):
    records = ["ssender@example.org", "ralice@example.test", "R", "N"]
    if ip is not None:
        records.append("OTCPREMOTEIP=" + ip)
    return writeMessage(testCase, records, data)


class WhitelistRelayClientsTests(TestCase):
    def setUp(self):
        self.filter = makeAccessFilter(self, "whitelist_relayclients",
                                       compiledSysconf(self))

    def test_fixtureLocalhostRelays(self):
        """A real capture from ::ffff:127.0.0.1, a relay client in the
        default smtpaccess, is answered 200 Ok."""
        reply = self.filter.consider(sampleMessage("a-plain"))
        self.assertEqual(reply, OK)
        self.assertEqual(reply.toBytes(), b"200 Ok\n")

    def test_prefixIPv4(self):
        """An IPv4 client under a RELAYCLIENT prefix is answered 200 Ok."""
        self.assertEqual(self.filter.consider(
            clientMessage(self, "10.20.30.40")), OK)

    def test_relayClientWithValue(self):
        """RELAYCLIENT=value also counts."""
        self.assertEqual(self.filter.consider(
            clientMessage(self, "2001:db9::1")), OK)

    def test_IPv6(self):
        """An IPv6 relay client is answered 200 Ok, another gets none."""
        self.assertEqual(self.filter.consider(clientMessage(self, "::1")), OK)
        self.assertIsNone(self.filter.consider(
            clientMessage(self, "2001:db8::1")))

    def test_notRelayClient(self):
        """A client without RELAYCLIENT gets no opinion."""
        self.assertIsNone(self.filter.consider(
            clientMessage(self, "192.168.1.1")))
        self.assertIsNone(self.filter.consider(
            clientMessage(self, "203.0.113.1")))

    def test_noClientAddress(self):
        """Local mail without a client address gets no opinion."""
        self.assertIsNone(self.filter.consider(clientMessage(self, None)))

    def test_malformedAddress(self):
        """A malformed TCPREMOTEIP makes the chain answer the reference's
        451."""
        chain = Chain([Entry("whitelist_relayclients", self.filter)], Clock())
        reply = self.successResultOf(chain.decide(
            clientMessage(self, "not-an-ip")))
        self.assertEqual(reply, CONTROL_FAILURE)
        self.assertEqual(reply.toBytes(),
                         b"451 Internal failure locating control files\n")


class WhitelistBlockTests(TestCase):
    def setUp(self):
        self.filter = makeAccessFilter(self, "whitelist_block",
                                       compiledSysconf(self))

    def test_emptyBlockAccepted(self):
        """A client whose entry has a bare BLOCK is answered 200 Ok."""
        reply = self.filter.consider(clientMessage(self, "192.168.1.1"))
        self.assertEqual(reply.toBytes(), b"200 Ok\n")

    def test_emptyBlockIPv6(self):
        """An IPv6 client under a bare BLOCK netblock is answered 200 Ok."""
        self.assertEqual(self.filter.consider(
            clientMessage(self, "2001:db8::1")), OK)

    def test_blockWithValue(self):
        """BLOCK=text is a block, not a whitelist: no opinion."""
        self.assertIsNone(self.filter.consider(
            clientMessage(self, "192.168.5.1")))

    def test_moreSpecificEntryWins(self):
        """The most specific entry decides, even without BLOCK."""
        self.assertIsNone(self.filter.consider(
            clientMessage(self, "192.168.5.7")))

    def test_fixtureWithoutBlock(self):
        """The real capture's client has no BLOCK: no opinion."""
        self.assertIsNone(self.filter.consider(sampleMessage("a-plain")))

    def test_noClientAddress(self):
        """Local mail without a client address gets no opinion."""
        self.assertIsNone(self.filter.consider(clientMessage(self, None)))

    def test_malformedAddress(self):
        """A malformed TCPREMOTEIP makes the chain answer the reference's
        451."""
        chain = Chain([Entry("whitelist_block", self.filter)], Clock())
        self.assertEqual(self.successResultOf(chain.decide(
            clientMessage(self, "999.1.1.1"))), CONTROL_FAILURE)


def deliveredTo(*addresses):
    headers = b"".join(b"Delivered-To: " + a.encode() + b"\n"
                       for a in addresses)
    return headers + b"Subject: test\n\nbody\n"


class DeliveredToTests(TestCase):
    def setUp(self):
        self.sysconfdir = compiledSysconf(self)
        self.filter = makeAccessFilter(self, "deliveredto", self.sysconfdir)

    def consider(self, *addresses):
        return self.filter.consider(
            clientMessage(self, "192.0.2.1", deliveredTo(*addresses)))

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
        self.assertIsNone(self.filter.consider(sampleMessage("a-plain")))
        self.assertIsNone(self.filter.consider(
            sampleMessage("g-local-sendmail")))

    def test_meWithoutLocals(self):
        """Without a locals file, a Delivered-To for me() is a loop."""
        sysconfdir = courierSysconf(self, {"me": "mx.example.test\n"})
        deliveredto = makeAccessFilter(self, "deliveredto", sysconfdir)
        message = clientMessage(self, None, deliveredTo("a@MX.example.test"))
        self.assertEqual(deliveredto.consider(message), LOOP)

    def test_unreadableDataFile(self):
        """An unreadable data file is answered 451 Internal failure parsing
        message data file."""
        message = clientMessage(self, None, deliveredTo("a@example.test"))
        os.remove(message.dataPath)
        self.assertEqual(
            self.filter.consider(message).toBytes(),
            b"451 Internal failure parsing message data file\n")

    def test_replyCodeOption(self):
        """reply_code changes the code and keeps the text."""
        deliveredto = makeAccessFilter(
            self, "deliveredto", self.sysconfdir,
            "[deliveredto.py]\nreply_code = '554'\n")
        message = clientMessage(self, None, deliveredTo("a@example.test"))
        self.assertEqual(
            deliveredto.consider(message).toBytes(),
            b"554 Mail loop - already have my Delivered-To: header.\n")

    def test_badReplyCode(self):
        """A reply_code that is not a 4xx or 5xx code is refused at start."""
        for bad in ("200", "5555", "55x", "554 5.4.6"):
            self.assertRaises(
                ConfigError, makeAccessFilter, self, "deliveredto",
                self.sysconfdir, f"[deliveredto.py]\nreply_code = {bad!r}\n")
        self.assertRaises(
            ConfigError, makeAccessFilter, self, "deliveredto",
            self.sysconfdir, "[deliveredto.py]\nreply_code = 554\n")
