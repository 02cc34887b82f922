"""
Tests for the whitelist_dnswl filter against a real twisted.names server on
127.0.0.1 serving two DNSWL zones.
"""

import ipaddress
import time

from twisted.internet import defer
from twisted.logger import capturedLogs
from twisted.names import dns as names
from twisted.trial import unittest

from filters.whitelist_dnswl import zoneList
from pyfilter.clients.dns import reverseName
from pyfilter.config.errors import ConfigError
from pyfilter.engine.reply import OK
from tests.dnsserver import dnsContext, dnsFilter, startDNSServer
from tests.helpers import writeMessage

ZONES = ("[whitelist_dnswl.py]\n"
         "dnswl_zone = ['first.dnswl.test', 'second.dnswl.test']\n")


def clientMessage(testCase, ip):
    records = ["ssender@example.org", "rbob@example.test", "R", "N"]
    if ip is not None:
        records.append(f"OTCPREMOTEIP={ip}")
    return writeMessage(testCase, records)


class QueryNameTests(unittest.TestCase):
    def test_ipv4Reversed(self):
        """IPv4 octets are reversed under the zone."""
        self.assertEqual(
            reverseName(ipaddress.ip_address("192.0.2.1"), "list.dnswl.org"),
            "1.2.0.192.list.dnswl.org")

    def test_ipv6Nibbles(self):
        """IPv6 addresses become their 32 reversed nibbles."""
        self.assertEqual(
            reverseName(ipaddress.ip_address("2001:db8::1"), "list.dnswl.org."),
            "1." + "0." * 23 + "8.b.d.0.1.0.0.2.list.dnswl.org")


class ZoneOptionTests(unittest.TestCase):
    def test_stringWrappedWithWarning(self):
        """A single zone string is used as a one-zone list, with a
        warning."""
        with capturedLogs() as events:
            self.assertEqual(zoneList("list.dnswl.org"), ["list.dnswl.org"])
        self.assertEqual(len(events), 1)

    def test_otherTypesRefused(self):
        """A zone option that is neither a list nor a string is a
        configuration error."""
        context = dnsContext(self, startDNSServer(self),
                             "[whitelist_dnswl.py]\ndnswl_zone = 5\n")
        self.assertRaises(ConfigError, dnsFilter, context, "whitelist_dnswl")


class LookupTests(unittest.TestCase):
    def setUp(self):
        self.dnsServer = startDNSServer(self)

    def consider(self, ip, modulesText=ZONES):
        context = dnsContext(self, self.dnsServer, modulesText)
        return defer.maybeDeferred(
            dnsFilter(context, "whitelist_dnswl").consider,
            clientMessage(self, ip))

    @defer.inlineCallbacks
    def test_refusedGoesToNextZone(self):
        """127.0.0.255 from the first zone is a refusal: the second zone's
        listing whitelists."""
        self.assertEqual((yield self.consider("192.0.2.1")), OK)
        self.assertEqual(
            self.dnsServer.queries,
            [("1.2.0.192.first.dnswl.test", names.A),
             ("1.2.0.192.second.dnswl.test", names.A)])

    @defer.inlineCallbacks
    def test_firstZoneListing(self):
        """A listing in the first zone whitelists; both zones are asked at
        once."""
        self.assertEqual((yield self.consider("192.0.2.2")), OK)
        self.assertEqual(len(self.dnsServer.queries), 2)

    @defer.inlineCallbacks
    def test_notListed(self):
        """A client in no zone gets no opinion."""
        self.assertIsNone((yield self.consider("192.0.2.200")))
        self.assertEqual(len(self.dnsServer.queries), 2)

    @defer.inlineCallbacks
    def test_answerOutsideLoopbackIgnored(self):
        """An answer outside 127.0.0.0/8 never whitelists."""
        self.assertIsNone((yield self.consider("192.0.2.3")))

    @defer.inlineCallbacks
    def test_ipv6Listed(self):
        """An IPv6 client is looked up by its nibbles."""
        self.assertEqual((yield self.consider("2001:db8::1")), OK)

    @defer.inlineCallbacks
    def test_minimumTrust(self):
        """A listing below min_trust does not whitelist."""
        self.assertIsNone((yield self.consider(
            "192.0.2.2", ZONES + "min_trust = 3\n")))

    @defer.inlineCallbacks
    def test_defaultZone(self):
        """By default the zone is list.dnswl.org."""
        self.assertIsNone((yield self.consider("192.0.2.1", "")))
        self.assertEqual(self.dnsServer.queries,
                         [("1.2.0.192.list.dnswl.org", names.A)])

    @defer.inlineCallbacks
    def test_localMailNoLookup(self):
        """Local mail (no client address) gets no opinion and no lookup."""
        self.assertIsNone((yield self.consider(None)))
        self.assertEqual(self.dnsServer.queries, [])

    @defer.inlineCallbacks
    def test_silentServerBoundedByTimeout(self):
        """With a silent DNS server the message gets no opinion after
        dns_timeout, for all zones together."""
        self.dnsServer.silent = True
        began = time.monotonic()
        self.assertIsNone((yield self.consider(
            "192.0.2.1", ZONES + "dns_timeout = 0.3\n")))
        self.assertLess(time.monotonic() - began, 1.0)
