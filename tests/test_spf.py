"""
Tests for SPF with pyspf answered by twisted.names (pyfilter.clients.spf) and the
spfcheck and whitelist_spf filters, against a real twisted.names server on
127.0.0.1; timeouts are driven by a Clock where the server stays silent.
The differential tests compare pyfilter's evaluation with pyspf's own (its
dnspython driver asking the same server) on the test zones and, when
tools/test.sh has fetched it, on the RFC 7208 test suite pyspf ships.
"""

import dns.resolver
import spf
from twisted.internet import defer, reactor, task, threads
from twisted.logger import Logger
from twisted.names import dns as names
from twisted.trial import unittest

from filters.spfcheck import SPFCheck
from pyfilter.clients import spf as spfclient
from pyfilter.clients.dns import makeResolver
from pyfilter.config.errors import ConfigError
from pyfilter.engine.reply import OK, Reply
from tests import spfsuite
from tests.dnsserver import (
    ClockedReactor, ResolvingZone, dnsContext, dnsFilter, startDNSServer)
from tests.helpers import makeContext, writeMessage
from pyfilter.clients.dns import resolverFor
from pyfilter.bases.spf import SPFFilter

#: Seconds per lookup in the differential tests (both sides), short because
#: the suite's TIMEOUT names make both wait that long.
DIFFERENTIAL_TIMEOUT = 0.3


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
        return spfclient.checkSPF(self.resolver, reactor, ip, sender,
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

    def silentCheck(self, **timeouts):
        """
        Check a@pass.spf.test against a silent server, the lookups' timeouts
        on a Clock: the Clock and the Deferred of the outcome.
        """
        clock = task.Clock()
        resolver = makeResolver((self.dnsServer.address,),
                                ClockedReactor(clock))
        self.addCleanup(resolver.close)
        self.dnsServer.silent = True
        return clock, spfclient.checkSPF(resolver, clock, "192.0.2.5",
                                      "a@pass.spf.test", "helo.example",
                                      **timeouts)

    @defer.inlineCallbacks
    def test_silentServerTempError(self):
        """A silent DNS server gives temperror after the default 5 s of one
        lookup, the query having been sent at 0, 1 and 4 s."""
        clock, d = self.silentCheck()
        clock.advance(1)
        clock.advance(3)
        self.assertNoResult(d)
        clock.advance(1)
        result, explanation = self.successResultOf(d)
        self.assertEqual(result, "temperror")
        self.assertIn("pass.spf.test TXT: TimeoutError", explanation)
        yield received(self.dnsServer, 3)
        self.assertEqual(self.dnsServer.queries,
                         [("pass.spf.test", names.TXT)] * 3)

    def test_queryTimeBoundsLookups(self):
        """The whole check's query time cuts a lookup short."""
        clock, d = self.silentCheck(lookupTimeout=5, queryTime=2)
        clock.advance(1)
        self.assertNoResult(d)
        clock.advance(1)
        self.assertEqual(self.successResultOf(d)[0], "temperror")

    @defer.inlineCallbacks
    def test_serverFailureTempError(self):
        """A SERVFAIL answer is a temperror naming the failed lookup."""
        self.dnsServer.failing.add("inner.spf.test")
        result, explanation = yield self.check("192.0.2.5",
                                               "a@include.spf.test")
        self.assertEqual(result, "temperror")
        self.assertIn("inner.spf.test TXT: DNSServerError", explanation)

    def test_tries(self):
        """One lookup's seconds become Twisted's retry sequence, cut to add
        up to them."""
        self.assertEqual(spfclient.tries(5), (1, 3, 1))
        self.assertEqual(spfclient.tries(20), (1, 3, 11, 5))
        self.assertEqual(spfclient.tries(0.5), (0.5,))
        self.assertEqual(spfclient.tries(100), (1, 3, 11, 45, 40))

    @defer.inlineCallbacks
    def test_unencodableName(self):
        """A domain that cannot be put in a DNS query (IDNA refuses it) has
        no SPF record, rather than failing the check."""
        result, _ = yield self.check("192.0.2.5", "a@\ufffd.spf.test")
        self.assertEqual(result, "none")
        self.assertEqual(self.dnsServer.queries, [])

    @defer.inlineCallbacks
    def test_nonAsciiHostName(self):
        """An MX answer naming a host outside ASCII matches no address."""
        result, _ = yield self.check("192.0.2.5", "a@badmx.spf.test")
        self.assertEqual(result, "neutral")

    def test_pyspfOwnLookupOutsideChecks(self):
        """Outside a check (a legacy module calling pyspf), pyspf's own
        DNS lookup is used."""
        calls = []
        self.patch(spfclient, "_pyspfLookup",
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

    def clockedConsider(self, name, message, modulesText=""):
        """
        C{consider} with the filter's DNS timeouts on a Clock: the Clock
        and the Deferred of the answer.
        """
        clock = task.Clock()
        context = makeContext(self, reactor=ClockedReactor(clock),
                              modulesText=modulesText)
        context.resolverServers = (self.dnsServer.address,)
        self.addCleanup(context.close)
        self.addCleanup(lambda: resolverFor(context).close())
        # Every lookup still running ends after its last try.
        self.addCleanup(clock.pump, [60] * 5)
        return clock, dnsFilter(context, name).consider(message)

    def logged(self):
        events = []
        self.patch(SPFFilter, "log", Logger(observer=events.append))
        return events

    def test_defaults(self):
        """One lookup may take 5 s by default, the whole check 20 s."""
        options = SPFFilter.options
        self.assertEqual(options["dns_timeout"].default, 5)
        self.assertEqual(options["query_timeout"].default, 20)

    @defer.inlineCallbacks
    def test_spfcheckDefersServerFailure(self):
        """spfcheck answers a temperror (here a SERVFAIL) with 451 4.4.3
        naming SPF and the domain, and logs it once with the cause."""
        events = self.logged()
        self.dnsServer.failing.add("fail.spf.test")
        reply = yield self.consider("spfcheck",
                                    spfMessage(self, "a@fail.spf.test"))
        self.assertEqual(reply.toBytes(),
                         b"451 4.4.3 SPF check of fail.spf.test failed "
                         b"temporarily, try again later\n")
        self.assertEqual(len(events), 1)
        self.assertIn("SPF temperror for fail.spf.test", events[0]["reason"])
        self.assertIn("fail.spf.test TXT: DNSServerError", events[0]["reason"])

    def test_spfcheckDefersSilentServer(self):
        """With a silent DNS server spfcheck answers 451 4.4.3 once the
        lookup's 5 s are over."""
        self.dnsServer.silent = True
        clock, d = self.clockedConsider("spfcheck",
                                        spfMessage(self, "a@fail.spf.test"))
        for seconds in (1, 3, 0.5):
            clock.advance(seconds)
        self.assertNoResult(d)
        clock.advance(0.5)
        self.assertEqual(self.successResultOf(d).code, "451")

    def test_spfcheckSilentServerQueryTimeout(self):
        """query_timeout bounds the whole check."""
        self.dnsServer.silent = True
        clock, d = self.clockedConsider(
            "spfcheck", spfMessage(self, "a@fail.spf.test"),
            "[spfcheck.py]\nquery_timeout = 2\n")
        clock.advance(2)
        self.assertEqual(self.successResultOf(d).code, "451")

    @defer.inlineCallbacks
    def test_spfcheckOnErrorContinue(self):
        """on_error = 'continue' gives no opinion on a temperror."""
        self.dnsServer.failing.add("fail.spf.test")
        self.assertIsNone((yield self.consider(
            "spfcheck", spfMessage(self, "a@fail.spf.test"),
            "[spfcheck.py]\non_error = 'continue'\n")))

    def test_spfcheckOnErrorContinueSilentServer(self):
        """on_error = 'continue' gives no opinion when the server is
        silent."""
        self.dnsServer.silent = True
        clock, d = self.clockedConsider(
            "spfcheck", spfMessage(self, "a@fail.spf.test"),
            "[spfcheck.py]\non_error = 'continue'\n")
        clock.advance(5)
        self.assertIsNone(self.successResultOf(d))

    @defer.inlineCallbacks
    def test_spfcheckOnErrorReply(self):
        """on_error may be any reply; {domain} in it names the domain."""
        self.dnsServer.failing.add("fail.spf.test")
        reply = yield self.consider(
            "spfcheck", spfMessage(self, "a@fail.spf.test"),
            "[spfcheck.py]\non_error = '450 SPF of {domain} unknown'\n")
        self.assertEqual(reply, Reply("450", "SPF of fail.spf.test unknown"))

    def test_spfcheckBadOnError(self):
        """An on_error that is neither a reply nor 'continue' is a
        configuration error."""
        context = dnsContext(self, self.dnsServer,
                             "[spfcheck.py]\non_error = 'defer'\n")
        self.assertRaises(ConfigError, dnsFilter, context, "spfcheck")

    def test_replyAboutCleansDomain(self):
        """The domain put into the reply cannot add a line to it."""
        reply = Reply.fromTemplate(SPFCheck.onError, domain="evil\r\n250 ok")
        self.assertEqual(reply.toBytes(),
                         b"451 4.4.3 SPF check of evil250 ok failed "
                         b"temporarily, try again later\n")

    @defer.inlineCallbacks
    def test_whitelistSpfNoOpinionOnTempError(self):
        """whitelist_spf does not whitelist on a temperror, and logs it
        once."""
        events = self.logged()
        self.dnsServer.failing.add("pass.spf.test")
        self.assertIsNone((yield self.consider(
            "whitelist_spf", spfMessage(self, "a@pass.spf.test"))))
        self.assertEqual(len(events), 1)
        self.assertIn("SPF temperror for pass.spf.test", events[0]["reason"])

    def test_whitelistSpfSilentServer(self):
        """whitelist_spf gives no opinion when the server is silent."""
        self.dnsServer.silent = True
        clock, d = self.clockedConsider("whitelist_spf",
                                        spfMessage(self, "a@pass.spf.test"))
        clock.advance(5)
        self.assertIsNone(self.successResultOf(d))


@defer.inlineCallbacks
def received(dnsServer, count, turns=100):
    """
    Let the reactor turn until C{dnsServer} has received C{count} queries
    (at most C{turns} times).
    """
    for _ in range(turns):
        if len(dnsServer.queries) >= count:
            return
        yield task.deferLater(reactor, 0, lambda: None)


def pyspfOwnCheck(testCase, dnsServer, ip, sender, helo):
    """
    pyspf's own C{check2}, in a thread, with its dnspython driver asking
    C{dnsServer}.
    """
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = ["127.0.0.1"]
    resolver.port = dnsServer.port
    testCase.patch(dns.resolver, "default_resolver", resolver)
    return threads.deferToThread(spf.check2, ip, sender, helo,
                                 timeout=DIFFERENTIAL_TIMEOUT, querytime=0)


@defer.inlineCallbacks
def evaluations(testCase, dnsServer, cases):
    """
    Check every C{(ip, sender, helo)} of C{cases} (a mapping from labels)
    with pyfilter and with pyspf on its own against C{dnsServer}.

    @return: a Deferred dictionary of label to C{(pyfilter's, pyspf's)}
        C{(result, explanation)}.
    """
    resolver = makeResolver((dnsServer.address,), reactor)
    outcomes = {}
    try:
        for label, case in cases.items():
            ours = yield spfclient.checkSPF(resolver, reactor, *case,
                                         lookupTimeout=DIFFERENTIAL_TIMEOUT)
            theirs = yield pyspfOwnCheck(testCase, dnsServer, *case)
            outcomes[label] = (ours, theirs)
    finally:
        yield resolver.close()
    return outcomes


def differences(outcomes):
    """
    The L{evaluations} whose results differ, or whose explanations differ
    (but for temperror, whose text names each DNS library's error).
    """
    return {label: (ours, theirs) for label, (ours, theirs)
            in outcomes.items() if ours[0] != theirs[0] or (
                ours[0] != "temperror" and ours[1] != theirs[1])}


#: The RFC 7208 suite's tests where pyfilter and pyspf over dnspython
#: differ because the two DNS libraries read the same answer differently
#: (both comments are the suite's own): pyfilter's result must still be one
#: the suite accepts.
LIBRARY_DIFFERENCES = {
    "null-text": "a TXT record of no strings (illegal, 'SPF should not "
                 "crash'): dnspython refuses the whole answer (temperror), "
                 "twisted.names reads it (pass)",
    "multispf1": "two identical TXT records ('cannot be reliably "
                 "reproduced with live DNS'): dnspython merges them (fail), "
                 "twisted.names keeps both (permerror)",
}


class DifferentialTests(unittest.TestCase):
    """
    pyfilter's SPF evaluation (pyspf answered by twisted.names, run again
    as records arrive) against pyspf's own (its dnspython driver), on the
    same DNS data from the same server.
    """

    @defer.inlineCallbacks
    def test_testZones(self):
        """Every sender of the test zones, from addresses inside and
        outside their policies, IPv4 and IPv6, with a silent name too."""
        dnsServer = startDNSServer(self, zoneClass=ResolvingZone)
        senders = ["a@pass.spf.test", "a@fail.spf.test", "a@soft.spf.test",
                   "a@include.spf.test", "a@broken.spf.test",
                   "a@exp.spf.test", "a@unpublished.spf.test",
                   "a@badmx.spf.test", "a@nomx.test", "pass.spf.test",
                   ""]
        addresses = ["192.0.2.5", "198.51.100.1", "203.0.113.25",
                     "203.0.113.7", "2001:db8::5", "2001:db8:1::7",
                     "::ffff:192.0.2.5"]
        cases = {case: case for case in
                 [(ip, sender, "pass.spf.test") for sender in senders
                  for ip in addresses]}
        outcomes = yield evaluations(self, dnsServer, cases)
        self.assertEqual(differences(outcomes), {})
        dnsServer.unanswered.add(("inner.spf.test", names.TXT))
        dnsServer.failing.add("host.spf.test")
        cases = {ip: (ip, "a@include.spf.test", "pass.spf.test")
                 for ip in ("2001:db8::5", "203.0.113.25", "203.0.113.7")}
        outcomes = yield evaluations(self, dnsServer, cases)
        self.assertEqual(differences(outcomes), {})
        self.assertEqual({ours[0] for ours, _ in outcomes.values()},
                         {"temperror"})

    @defer.inlineCallbacks
    def test_rfc7208Suite(self):
        """The RFC 7208 test suite's scenarios, each one's zone served by
        its own server: pyfilter's result is one the suite accepts for
        every test, and pyspf's own agrees but where the two DNS libraries
        read an answer differently (L{LIBRARY_DIFFERENCES})."""
        try:
            scenarios = spfsuite.scenarios(spfsuite.suiteText())
        except (LookupError, ImportError) as e:
            raise unittest.SkipTest(f"RFC 7208 test suite not available: "
                                    f"{e}")
        outcomes = {}
        accepted = {}
        for scenario in scenarios:
            dnsServer = startDNSServer(self, zones={"": scenario.records},
                                       zoneClass=ResolvingZone)
            dnsServer.unanswered |= scenario.unanswered
            cases = {name: (str(t["host"]), t["mailfrom"], t["helo"])
                     for name, t in scenario.tests.items()}
            accepted.update((name, spfsuite.acceptedResults(t))
                            for name, t in scenario.tests.items())
            outcomes.update((yield evaluations(self, dnsServer, cases)))
            yield dnsServer.stop()
        self.assertGreater(len(outcomes), 200)
        self.assertEqual(
            {name: (ours[0], accepted[name])
             for name, (ours, _) in outcomes.items()
             if ours[0] not in accepted[name]}, {})
        found = differences(outcomes)
        self.assertEqual(sorted(found), sorted(LIBRARY_DIFFERENCES), found)
