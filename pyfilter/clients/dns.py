"""
The daemon's one DNS resolver: twisted.names on the reactor, with Twisted's
cache.

The servers are the daemon's C{--resolver HOST:PORT} options, or those of
/etc/resolv.conf when none is given.  Filters ask through L{addresses} (a
name's IPv4 addresses: an empty list when it has none, L{LookupFailed} when
the DNS cannot say) with names made by L{reverseName}; the lower-level
L{lookup} gives twisted.names' own answers and errors.  Answers are kept in a
L{twisted.names.cache.CacheResolver} for their TTL (Twisted's client resolver
never fills that cache by itself, so L{CachingResolver} does).

Every lookup takes the usual twisted.names C{timeout} sequence; L{lookup}
adds an overall bound so that a silent server costs a caller at most the
seconds it asks for.
"""

import socket

from twisted.internet import defer
from twisted.names import cache, client, common, error
from twisted.names import dns as names

from pyfilter.outage import Unavailable

RESOLV_CONF = "/etc/resolv.conf"

#: What a failed lookup raises: no such name or data, a server error, a
#: timeout, no usable server.  (Not CancelledError: a cancelled caller
#: must stop.)
LOOKUP_FAILED = (error.DomainError, error.AuthoritativeDomainError,
                 error.ResolverError, defer.TimeoutError,
                 error.DNSQueryTimeoutError, OSError)

#: Seconds per try when a caller gives no timeout (Twisted's default).
DEFAULT_TIMEOUT = (1, 3, 11, 45)


def parseServer(text):
    """
    C{"HOST:PORT"} (or C{"[v6]:PORT"}) to a C{(host, port)} tuple.
    """
    host, _, port = text.rpartition(":")
    return host.strip("[]"), int(port)


class CachingResolver(common.ResolverBase):
    """
    Answers from the cache while their TTL lasts, otherwise from the
    upstream client resolver, caching what it answers.

    @ivar inFlight: Deferreds firing when each upstream lookup still running
        ends (cancelling a caller does not stop its lookup: it ends by its
        own timeout).
    """

    def __init__(self, upstream, reactor):
        common.ResolverBase.__init__(self)
        self.upstream = upstream
        self.cache = cache.CacheResolver(reactor=reactor)
        self.inFlight = set()

    def _lookup(self, name, cls, type, timeout):
        query = names.Query(name, type, cls)
        hit = []
        self.cache.query(query).addCallbacks(hit.append, lambda _: None)
        if hit:
            return defer.succeed(hit[0])
        result = defer.Deferred()
        landed = defer.Deferred()
        self.inFlight.add(landed)

        def answered(payload):
            if any(payload):
                self.cache.cacheResult(query, payload)
            if not result.called:
                result.callback(payload)

        def failed(reason):
            if not result.called:
                result.errback(reason)

        def finished(_):
            self.inFlight.discard(landed)
            landed.callback(None)

        upstream = self.upstream.query(query, timeout)
        upstream.addCallbacks(answered, failed).addBoth(finished)
        return result

    def close(self):
        """
        Forget the cache, stop re-reading resolv.conf, and wait for the
        upstream lookups still running (each bounded by its timeout).
        """
        for call in self.cache.cancel.values():
            if call.active():
                call.cancel()
        self.cache.cancel.clear()
        self.cache.cache.clear()
        parseCall = getattr(self.upstream, "_parseCall", None)
        if parseCall is not None and parseCall.active():
            parseCall.cancel()
        return defer.DeferredList(list(self.inFlight))


def makeResolver(servers, reactor, timeout=DEFAULT_TIMEOUT):
    """
    The daemon's resolver.

    @param servers: C{"HOST:PORT"} strings; empty means /etc/resolv.conf.
    @param timeout: seconds per try used when a lookup gives none.
    """
    if servers:
        upstream = client.Resolver(
            servers=[parseServer(server) for server in servers],
            reactor=reactor, timeout=timeout)
    else:
        upstream = client.Resolver(resolv=RESOLV_CONF, reactor=reactor,
                                   timeout=timeout)
    return CachingResolver(upstream, reactor)


def resolverFor(context):
    """
    The daemon's one resolver (servers from C{--resolver}, else
    /etc/resolv.conf), closed when the daemon stops.
    """
    def create():
        resolver = makeResolver(context.resolverServers, context.reactor)
        context.onStop(resolver.close)
        return resolver
    return context.shared("resolver", create)


def lookup(resolver, method, name, seconds, reactor):
    """
    Call C{resolver.<method>(name)} (C{"lookupAddress"},
    C{"lookupMailExchange"}, ...) and give up after C{seconds}.

    @return: a Deferred with the C{(answers, authority, additional)} tuple;
        it fails with L{defer.TimeoutError} after C{seconds}, or with the
        resolver's error (L{names.DomainError} for NXDOMAIN, ...).
    """
    d = getattr(resolver, method)(name, timeout=(seconds,))
    return d.addTimeout(seconds, reactor)


def answersOf(payload, recordType):
    """
    The payloads of the answer records of C{recordType} (CNAMEs the server
    followed are skipped).
    """
    answers, _, _ = payload
    return [record.payload for record in answers if record.type == recordType]


def addressOf(record):
    """
    The text of an A or AAAA record's address.
    """
    if record.TYPE == names.AAAA:
        return socket.inet_ntop(socket.AF_INET6, record.address)
    return record.dottedQuad()


class LookupFailed(Unavailable):
    """
    The DNS could not say: a server failure or refusal, a timeout, no
    usable server.
    """

    service = "dns"


#: The errors that say a name does not exist (NXDOMAIN).
NO_SUCH_NAME = (error.DNSNameError, error.AuthoritativeDomainError)


def reverseName(ip, zone):
    """
    The name of C{ip} (an L{ipaddress} address) in a DNS list C{zone}:
    C{2.2.0.192.zone} for 192.0.2.2, the 32 reversed nibbles for IPv6.
    """
    reversed, _, _ = ip.reverse_pointer.rpartition(
        ".in-addr.arpa" if ip.version == 4 else ".ip6.arpa")
    return f"{reversed}.{zone.strip('.')}"


def addresses(resolver, name, seconds, reactor):
    """
    The IPv4 addresses of C{name}, as text, within C{seconds}.

    @return: a Deferred of the list: empty when the name does not exist or
        has no A record; it fails with L{LookupFailed} when the DNS cannot
        answer.
    """
    d = lookup(resolver, "lookupAddress", name, seconds, reactor)
    d.addCallback(lambda payload: [record.dottedQuad()
                                   for record in answersOf(payload, names.A)])
    return d.addErrback(_noAddresses, name)


def _noAddresses(failure, name):
    if failure.check(*NO_SUCH_NAME):
        return []
    failure.trap(*LOOKUP_FAILED)
    raise LookupFailed(f"DNS lookup of {name} failed: "
                       f"{type(failure.value).__name__}")
