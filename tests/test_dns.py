"""
Tests for pyfilter.clients.dns: the daemon's caching twisted.names resolver, against
a real twisted.names server on 127.0.0.1.
"""

import time

from twisted.internet import defer, reactor, task
from twisted.names import dns as names
from twisted.names import error
from twisted.trial import unittest

from pyfilter.clients.dns import (
    LOOKUP_FAILED, RESOLV_CONF, answersOf, lookup, makeResolver, parseServer)
from tests.dnsserver import startDNSServer
from tests.helpers import makeContext
from pyfilter.clients.dns import resolverFor


def loopbackResolver(testCase, dnsServer):
    resolver = makeResolver((dnsServer.address,), reactor)
    testCase.addCleanup(resolver.close)
    return resolver


class ParseServerTests(unittest.TestCase):
    def test_hostAndPort(self):
        """A HOST:PORT text becomes a (host, port) tuple."""
        self.assertEqual(parseServer("127.0.0.1:5353"), ("127.0.0.1", 5353))

    def test_bracketedIPv6(self):
        """An IPv6 server is given in brackets."""
        self.assertEqual(parseServer("[::1]:53"), ("::1", 53))


class MakeResolverTests(unittest.TestCase):
    def test_resolvConfByDefault(self):
        """Without servers the resolver reads /etc/resolv.conf."""
        clock = task.Clock()
        resolver = makeResolver((), clock)
        self.assertEqual(resolver.upstream.resolv, RESOLV_CONF)
        self.successResultOf(resolver.close())
        self.assertEqual(clock.getDelayedCalls(), [])

    def test_givenServers(self):
        """Given servers are used in order, without resolv.conf."""
        resolver = makeResolver(("127.0.0.1:5353", "[::1]:53"), task.Clock())
        self.assertEqual(resolver.upstream.servers,
                         [("127.0.0.1", 5353), ("::1", 53)])
        self.assertIsNone(resolver.upstream.resolv)

    def test_contextMakesOneResolver(self):
        """The context creates its resolver from its servers, once."""
        context = makeContext(self)
        context.resolverServers = ("127.0.0.1:5353",)
        self.assertIs(resolverFor(context), resolverFor(context))
        self.assertEqual(resolverFor(context).upstream.servers,
                         [("127.0.0.1", 5353)])


class LoopbackLookupTests(unittest.TestCase):
    def setUp(self):
        self.dnsServer = startDNSServer(self)
        self.resolver = loopbackResolver(self, self.dnsServer)

    @defer.inlineCallbacks
    def test_mailExchangers(self):
        """MX records come from the loopback server."""
        payload = yield lookup(self.resolver, "lookupMailExchange",
                               "sender.test", 2, reactor)
        self.assertEqual(
            sorted((mx.preference, mx.name.name)
                   for mx in answersOf(payload, names.MX)),
            [(10, b"mx1.sender.test"), (20, b"mx2.sender.test")])

    @defer.inlineCallbacks
    def test_answersCached(self):
        """A second lookup of the same name is answered from the cache."""
        for _ in range(2):
            payload = yield lookup(self.resolver, "lookupAddress",
                                   "nomx.test", 2, reactor)
            self.assertEqual(
                [a.dottedQuad() for a in answersOf(payload, names.A)],
                ["127.0.0.1"])
        self.assertEqual(self.dnsServer.queries, [("nomx.test", names.A)])

    @defer.inlineCallbacks
    def test_missingName(self):
        """A name that does not exist fails with a lookup failure."""
        with self.assertRaises(error.DNSNameError) as caught:
            yield lookup(self.resolver, "lookupAddress", "nothing.test", 2,
                         reactor)
        self.assertIsInstance(caught.exception, LOOKUP_FAILED)

    @defer.inlineCallbacks
    def test_silentServerTimesOut(self):
        """A silent server costs the lookup its timeout, then it fails."""
        self.dnsServer.silent = True
        began = time.monotonic()
        with self.assertRaises(defer.TimeoutError) as caught:
            yield lookup(self.resolver, "lookupAddress", "nomx.test", 0.2,
                         reactor)
        self.assertIsInstance(caught.exception, LOOKUP_FAILED)
        self.assertLess(time.monotonic() - began, 1.0)


class NonBlockingTests(unittest.TestCase):
    @defer.inlineCallbacks
    def test_otherLookupServedWhileOneHangs(self):
        """While a lookup waits for a silent server, another lookup on the
        same reactor is answered, well before the hanging one times out."""
        silent = startDNSServer(self)
        silent.silent = True
        answering = startDNSServer(self)
        hanging = lookup(loopbackResolver(self, silent), "lookupAddress",
                         "nomx.test", 1.0, reactor)
        order = []
        hanging.addErrback(lambda f: order.append(("hanging", f.type)))
        began = time.monotonic()
        payload = yield lookup(loopbackResolver(self, answering),
                               "lookupAddress", "nomx.test", 1.0, reactor)
        answeredAfter = time.monotonic() - began
        order.append(("answered", None))
        self.assertEqual(len(answersOf(payload, names.A)), 1)
        self.assertFalse(hanging.called)
        yield hanging
        self.assertEqual(order, [("answered", None),
                                 ("hanging", defer.TimeoutError)])
        self.assertLess(answeredAfter, 0.5)
        self.assertLess(time.monotonic() - began, 2.0)
