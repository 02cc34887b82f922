"""
A real twisted.names authoritative server on 127.0.0.1 for the DNS tests and
benchmarks, serving the C{.test} names in L{TEST_RECORDS} (MX, A, AAAA,
TXT/SPF and a DNSWL zone) and the C{.example} names of the benchmark
fixtures in L{BENCHMARK_RECORDS}, and answering NXDOMAIN for other names in
those zones.  Setting C{silent} makes it drop every query, like a dead
server; C{unanswered} and C{failing} drop, or answer SERVFAIL to, the queries
for some names only.  L{ResolvingZone} follows CNAMEs in its answers, as a
recursive resolver does, and L{ClockedReactor} lets a test drive a client's
DNS timeouts with a L{Clock} while its queries cross real sockets.

Run on its own for the end-to-end tests and benchmarks (prints the port,
serves until killed; C{--silent} never answers)::

    python -m tests.dnsserver [--port 5353] [--silent]
"""

import argparse
import sys
import time

from twisted.internet import defer
from twisted.internet.error import CannotListenError
from twisted.names import authority, common, dns, server
from pyfilter.clients.dns import resolverFor


#: Where the dialback targets of the zones listen (the SMTP port is the
#: dialback filter's C{smtp_port} option).
MX_ADDRESS = "127.0.0.1"
SECOND_MX_ADDRESS = "127.0.0.2"

TEST_RECORDS = {
    # dialback: a domain with two MX hosts (on two loopback addresses),
    # two with one MX host each (one per address), one with only an
    # address, one whose MX name does not resolve.
    "sender.test": [dns.Record_MX(10, b"mx1.sender.test"),
                    dns.Record_MX(20, b"mx2.sender.test")],
    "mx1.sender.test": [dns.Record_A(MX_ADDRESS)],
    "mx2.sender.test": [dns.Record_A(SECOND_MX_ADDRESS)],
    "single.test": [dns.Record_MX(10, b"mx.single.test")],
    "mx.single.test": [dns.Record_A(MX_ADDRESS)],
    "nomx.test": [dns.Record_A(MX_ADDRESS)],
    "lame.test": [dns.Record_MX(10, b"missing.lame.test")],
    "refuses.test": [dns.Record_MX(10, b"mx.refuses.test")],
    "mx.refuses.test": [dns.Record_A(SECOND_MX_ADDRESS)],
    # SPF: TXT records, one through an include.
    "pass.spf.test": [dns.Record_TXT(b"v=spf1 ip4:192.0.2.0/24 -all"),
                      dns.Record_A("192.0.2.10")],
    "fail.spf.test": [dns.Record_TXT(b"v=spf1 ip4:198.51.100.0/24 -all")],
    "soft.spf.test": [dns.Record_TXT(b"v=spf1 ~all")],
    "include.spf.test": [dns.Record_TXT(
        b"v=spf1 include:inner.spf.test mx a:host.spf.test -all"),
                         dns.Record_MX(10, b"mx.spf.test")],
    "inner.spf.test": [dns.Record_TXT(b"v=spf1 ip6:2001:db8::/32 -all")],
    "host.spf.test": [dns.Record_A("203.0.113.7"),
                      dns.Record_AAAA("2001:db8:1::7")],
    "mx.spf.test": [dns.Record_A("203.0.113.25")],
    "broken.spf.test": [dns.Record_TXT(b"v=spf1 ip4:192.0.2.300 -all")],
    "exp.spf.test": [dns.Record_TXT(b"v=spf1 -all exp=why.spf.test")],
    "why.spf.test": [dns.Record_TXT(b"%{i} may not send for %{d}")],
    "badmx.spf.test": [dns.Record_TXT(b"v=spf1 mx ?all"),
                       dns.Record_MX(10, b"m\xc3\xa4il.spf.test")],
    # DNSWL: two zones; 192.0.2.1 listed in the second one only, refused
    # by the first; 192.0.2.2 listed in the first; 192.0.2.3 answered
    # outside 127.0.0.0/8 (a hijacking resolver); 2001:db8::1 listed.
    "1.2.0.192.first.dnswl.test": [dns.Record_A("127.0.0.255")],
    "1.2.0.192.second.dnswl.test": [dns.Record_A("127.0.10.1")],
    "2.2.0.192.first.dnswl.test": [dns.Record_A("127.0.5.2")],
    "3.2.0.192.first.dnswl.test": [dns.Record_A("192.0.2.99")],
    "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2"
    ".first.dnswl.test": [dns.Record_A("127.0.9.3")],
}

#: The names the benchmark fixtures use (senders C{senderN@sender.example},
#: client 203.0.113.45): an MX on 127.0.0.1 for dialback (its SMTP port is
#: the benchmark's C{smtp_port}), an SPF record that passes the client, and
#: a DNSWL listing of the client in the zone C{dnswl.example}.
BENCHMARK_RECORDS = {
    "sender.example": [dns.Record_MX(10, b"mail.sender.example"),
                       dns.Record_TXT(b"v=spf1 ip4:203.0.113.0/24 -all")],
    "mail.sender.example": [dns.Record_A(MX_ADDRESS)],
    "45.113.0.203.dnswl.example": [dns.Record_A("127.0.10.1")],
}

ZONES = {"test": TEST_RECORDS, "example": BENCHMARK_RECORDS}


class MemoryZone(authority.FileAuthority):
    """
    An authority for C{origin} holding C{records} (name to record list).
    """

    def __init__(self, origin, records):
        common.ResolverBase.__init__(self)
        self._cache = {}
        self.soa = (origin.encode(), dns.Record_SOA(
            mname=b"ns." + origin.encode(), rname=b"root." + origin.encode(),
            serial=1, refresh=3600, retry=600, expire=3600, minimum=60,
            ttl=60))
        self.records = {name.lower().encode(): list(answers)
                        for name, answers in records.items()}


class ResolvingZone(MemoryZone):
    """
    A L{MemoryZone} answering as a recursive resolver does: a name with a
    CNAME gets the CNAME and the records of its target (followed through
    at most L{MAX_CNAMES} CNAMEs; a loop gets the chain alone).
    """

    MAX_CNAMES = 8

    def _lookup(self, name, cls, type, timeout=None):
        d = MemoryZone._lookup(self, name, cls, type, timeout)
        if type == dns.CNAME:
            return d
        return d.addCallback(self._follow, cls, type, {name.lower()})

    def _follow(self, payload, cls, type, seen):
        answers, authority, additional = payload
        targets = [r.payload.name.name for r in answers
                   if r.type == dns.CNAME]
        if any(r.type == type for r in answers) or not targets \
                or targets[-1].lower() in seen \
                or len(seen) > self.MAX_CNAMES:
            return payload
        target = targets[-1]
        d = MemoryZone._lookup(self, target, cls, type)
        d.addCallback(self._follow, cls, type, seen | {target.lower()})
        d.addCallbacks(lambda more: (answers + more[0], more[1], more[2]),
                       lambda _: payload)
        return d


class ClockedReactor:
    """
    The real reactor for sockets, C{clock} for time: a twisted.names client
    made with it talks to a real server, and its timeouts fire when the
    test advances C{clock}.
    """

    def __init__(self, clock, reactor=None):
        if reactor is None:
            from twisted.internet import reactor
        self.clock = clock
        self.reactor = reactor

    def seconds(self):
        return self.clock.seconds()

    def callLater(self, *args, **kwargs):
        return self.clock.callLater(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self.reactor, name)


class _Factory(server.DNSServerFactory):
    def __init__(self, owner, authorities):
        server.DNSServerFactory.__init__(self, authorities=authorities)
        self.owner = owner

    def messageReceived(self, message, proto, address=None):
        for query in message.queries:
            self.owner.queries.append((query.name.name.decode(), query.type))
        if self.owner.silent or self.owner.ignores(message):
            return
        if self.owner.fails(message):
            message.timeReceived = time.time()
            self.sendReply(proto, self._responseFromMessage(
                message=message, rCode=dns.ESERVER), address)
            return
        server.DNSServerFactory.messageReceived(self, message, proto,
                                                address)


class DNSServer:
    """
    The server on 127.0.0.1, UDP and TCP on one port.

    @ivar silent: drop queries instead of answering them.
    @ivar unanswered: C{(name, type)} pairs whose queries are dropped.
    @ivar failing: names whose queries are answered SERVFAIL.
    @ivar queries: C{(name, type)} of every query received.
    """

    def __init__(self, reactor, zones=None, zoneClass=MemoryZone):
        self.reactor = reactor
        self.silent = False
        self.unanswered = set()
        self.failing = set()
        self.queries = []
        zones = ZONES if zones is None else zones
        self.factory = _Factory(self, [
            zoneClass(origin, records) for origin, records in zones.items()])
        self.ports = []

    def ignores(self, message):
        return any((q.name.name.decode().lower(), q.type) in self.unanswered
                   for q in message.queries)

    def fails(self, message):
        return any(q.name.name.decode().lower() in self.failing
                   for q in message.queries)

    def start(self, port=0, attempts=20):
        """
        Listen on C{port} (a free one when 0: the UDP port the system picks,
        tried again when its TCP twin is taken).
        """
        for _ in range(attempts):
            udp = self.reactor.listenUDP(
                port, dns.DNSDatagramProtocol(self.factory),
                interface="127.0.0.1")
            self.port = udp.getHost().port
            try:
                tcp = self.reactor.listenTCP(self.port, self.factory,
                                             interface="127.0.0.1")
            except CannotListenError:
                udp.stopListening()
                if port:
                    raise
                continue
            self.ports = [udp, tcp]
            return self
        raise CannotListenError("127.0.0.1", port, "no free UDP+TCP port")

    @property
    def address(self):
        """
        The C{"127.0.0.1:PORT"} form of C{--resolver}.
        """
        return f"127.0.0.1:{self.port}"

    def stop(self):
        return defer.gatherResults(
            [defer.maybeDeferred(port.stopListening) for port in self.ports])


def startDNSServer(testCase, reactor=None, zones=None, zoneClass=MemoryZone):
    """
    Start a L{DNSServer} on the real reactor, stopped when C{testCase} ends.
    """
    if reactor is None:
        from twisted.internet import reactor
    dnsServer = DNSServer(reactor, zones, zoneClass).start()
    testCase.addCleanup(dnsServer.stop)
    return dnsServer


def dnsContext(testCase, dnsServer, modulesText="", sysconfdir=None):
    """
    A test Context on the real reactor whose resolver asks C{dnsServer};
    the resolver is closed when C{testCase} ends.
    """
    from twisted.internet import reactor

    from tests.helpers import makeContext
    context = makeContext(testCase, reactor=reactor, modulesText=modulesText,
                          sysconfdir=sysconfdir)
    context.resolverServers = (dnsServer.address,)
    testCase.addCleanup(context.close)
    testCase.addCleanup(lambda: resolverFor(context).close())
    return context


def dnsFilter(context, name):
    """
    The filter C{name} configured from C{context}'s modules config.
    """
    from pyfilter.engine.loader import makeFilter
    return makeFilter(name, context.modules, context)


def main(argv=None):
    from twisted.internet import reactor
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--silent", action="store_true",
                        help="never answer (a dead server)")
    args = parser.parse_args(argv)
    dnsServer = DNSServer(reactor).start(args.port)
    dnsServer.silent = args.silent
    print(dnsServer.port, flush=True)
    reactor.run()


if __name__ == "__main__":
    sys.exit(main())
