"""
Tests for SPF with pyspf answered by twisted.names (pyfilter.spfdns) and the
spfcheck and whitelist_spf filters, against a real twisted.names server on
127.0.0.1.
"""

import time

import spf
from twisted.internet import defer, reactor
from twisted.names import dns as names
from twisted.trial import unittest

from pyfilter import spfdns
from pyfilter.dns import makeResolver
from pyfilter.reply import OK, Reply
from tests.dnsserver import dnsContext, dnsFilter, startDNSServer
from tests.helpers import writeMessage


def spfMessage(testCase, sender, ip="192.0.2.5", helo="helo.example"):
    records = [f"s{sender}", "rbob@example.test", "R", "N",
               f"fdns; {helo} (rdns [{ip}])"]
    if ip is not None:
        records.append(f"OTCPREMOTEIP={ip}")
    return writeMessage(testCase, records)


class CheckSPFTests(unittest.TestCase):
    def setUp(self):
        self.dnsServer = startDNSServer(self)
        self.resolver = makeResolver((self.dnsServer.address,), reactor)
        self.addCleanup(self.resolver.close)

    def check(self, ip, sender, lookupTimeout=2, queryTime=2):
        return spfdns.checkSPF(self.resolver, reactor, ip, sender,
                               "helo.example", lookupTimeout, queryTime)

    @defer.inlineCallbacks
    def test_results(self):
        """pyspf's results come out of records fetched by twisted.names:
        ip4, include, ip6, mx and a mechanisms, softfail, none and
        permerror."""
        cases = [
            ("192.0.2.5", "a@pass.spf.test", "pass"),
            ("198.51.100.1", "a@pass.spf.test", "fail"),
            ("192.0.2.5", "a@soft.spf.test", "softfail"),
            ("2001:db8::5", "a@include.spf.test", "pass"),
            ("203.0.113.25", "a@include.spf.test", "pass"),
            ("2001:db8:1::7", "a@include.spf.test", "pass"),
            ("192.0.2.5", "a@include.spf.test", "fail"),
            ("192.0.2.5", "a@broken.spf.test", "permerror"),
            ("192.0.2.5", "a@unpublished.spf.test", "none"),
        ]
        for ip, sender, expected in cases:
            result, _ = yield self.check(ip, sender)
            self.assertEqual((ip, sender, result), (ip, sender, expected))

    @defer.inlineCallbacks
    def test_explanationFetched(self):
        """An exp= explanation (which pyspf fetches inside a catch-all) is
        fetched too, with its macros expanded."""
        result, explanation = yield self.check("192.0.2.5", "a@exp.spf.test")
        self.assertEqual((result, explanation),
                         ("fail", "192.0.2.5 may not send for exp.spf.test"))

    @defer.inlineCallbacks
    def test_eachRecordFetchedOnce(self):
        """Every record the check needs is asked for once, and no more (the
        a: mechanism after the matching mx is not looked up)."""
        yield self.check("203.0.113.25", "a@include.spf.test")
        self.assertEqual(sorted(self.dnsServer.queries), [
            ("include.spf.test", names.MX),
            ("include.spf.test", names.TXT), ("inner.spf.test", names.TXT),
            ("mx.spf.test", names.A)])

    @defer.inlineCallbacks
    def test_silentServerTempError(self):
        """A silent DNS server gives temperror within the query time."""
        self.dnsServer.silent = True
        began = time.monotonic()
        result, _ = yield self.check("192.0.2.5", "a@pass.spf.test", 0.2, 0.3)
        self.assertEqual(result, "temperror")
        self.assertLess(time.monotonic() - began, 1.0)

    def test_pyspfOwnLookupOutsideChecks(self):
        """Outside a check (a legacy module calling pyspf), pyspf's own
        DNS lookup is used."""
        calls = []
        self.patch(spfdns, "_pyspfLookup",
                   lambda *args, **kwargs: calls.append(args) or [])
        self.assertEqual(spf.DNSLookup("example.org", "TXT", True, 5), [])
        self.assertEqual(calls, [("example.org", "TXT", True, 5)])


class SPFFilterTests(unittest.TestCase):
    def setUp(self):
        self.dnsServer = startDNSServer(self)

    def consider(self, name, message, modulesText=""):
        context = dnsContext(self, self.dnsServer, modulesText)
        return defer.maybeDeferred(dnsFilter(context, name).consider, message)

    @defer.inlineCallbacks
    def test_spfcheckDeniesFail(self):
        """spfcheck answers an SPF fail with 517 SPF returns deny."""
        reply = yield self.consider(
            "spfcheck", spfMessage(self, "a@fail.spf.test"))
        self.assertEqual(reply, Reply("517", "SPF returns deny"))
        self.assertEqual(reply.toBytes(), b"517 SPF returns deny\n")

    @defer.inlineCallbacks
    def test_spfcheckOtherResultsNoOpinion(self):
        """spfcheck has no opinion on pass, softfail, none and permerror."""
        for sender in ("a@pass.spf.test", "a@soft.spf.test",
                       "a@unpublished.spf.test", "a@broken.spf.test"):
            self.assertIsNone((yield self.consider(
                "spfcheck", spfMessage(self, sender))))

    @defer.inlineCallbacks
    def test_whitelistSpfAcceptsPass(self):
        """whitelist_spf answers an SPF pass with 200 Ok."""
        self.assertEqual((yield self.consider(
            "whitelist_spf", spfMessage(self, "a@pass.spf.test"))), OK)

    @defer.inlineCallbacks
    def test_whitelistSpfOtherResultsNoOpinion(self):
        """whitelist_spf has no opinion on fail and softfail."""
        for sender in ("a@fail.spf.test", "a@soft.spf.test"):
            self.assertIsNone((yield self.consider(
                "whitelist_spf", spfMessage(self, sender))))

    @defer.inlineCallbacks
    def test_nullSenderAndLocalMailNotChecked(self):
        """The null sender and local mail get no opinion, without lookups."""
        for message in (spfMessage(self, ""),
                        spfMessage(self, "a@fail.spf.test", ip=None)):
            self.assertIsNone((yield self.consider("spfcheck", message)))
        self.assertEqual(self.dnsServer.queries, [])

    @defer.inlineCallbacks
    def test_silentServerBounded(self):
        """With a silent DNS server spfcheck has no opinion (temperror)
        after query_timeout."""
        self.dnsServer.silent = True
        began = time.monotonic()
        self.assertIsNone((yield self.consider(
            "spfcheck", spfMessage(self, "a@fail.spf.test"),
            "[spfcheck.py]\ndns_timeout = 0.2\nquery_timeout = 0.3\n")))
        self.assertLess(time.monotonic() - began, 1.0)
