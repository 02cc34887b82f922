"""
Filters looking the client's address up in DNS lists (DNSBLs, DNSWLs).

The client's address is looked up in every zone at once, as an A record of
its reversed name under the zone (L{pyfilter.clients.dns.reverseName}).
An address is listed in a zone when the zone answers an address in
127.0.0.0/8 that the filter accepts; answers outside it (a resolver that
invents answers) and in 127.255.255.0/24 (the lists' own error codes, such
as "query through a public resolver refused") are logged and ignored.  The
first zone, in the filter's order, that lists the client decides.

A zone that cannot answer lists nobody; when no zone lists the client and
one could not answer, the filter answers its C{on_error} (by default no
opinion).  The lookups share C{dns_timeout} seconds (5 by default, never
more than the filter's C{timeout} allows).
"""

import ipaddress

from pyfilter.clients.dns import (
    LookupFailed, addresses, resolverFor, reverseName)
from pyfilter.engine.filter import Filter, gather
from pyfilter.engine.options import Option, positiveNumber
from pyfilter.engine.reply import CONTINUE

LOOPBACK = ipaddress.ip_network("127.0.0.0/8")
LIST_ERRORS = ipaddress.ip_network("127.255.255.0/24")



class DNSListFilter(Filter):
    """
    Subclasses give the zones (L{zones}) and the answer for a listed client
    (L{listed}); they may refuse some answers (L{accepts}).
    """

    options = {
        "dns_timeout": Option(5, positiveNumber, "seconds all the lookups of "
                              "a message may take (at most the filter's "
                              "timeout)"),
    }
    onError = CONTINUE

    def zones(self):
        """
        The zones to look the client up in, in order.
        """
        raise NotImplementedError()

    def listed(self, ip, zone, answers):
        """
        The answer for C{ip}, listed in C{zone} with C{answers} (the
        accepted addresses, as L{ipaddress} addresses).
        """
        raise NotImplementedError()

    def accepts(self, zone, answer):
        """
        Whether C{answer} (an address in 127.0.0.0/8) from C{zone} lists the
        client.
        """
        return True

    def match(self, message):
        ip = message.remoteIP
        if ip is None:
            return None
        seconds = min(filter(None, (self.timeLeft(message),
                                    self.config["dns_timeout"])))
        zones = self.zones()
        d = gather(self._lookUp(ip, zone, seconds) for zone in zones)
        return d.addCallback(self._decide, ip, zones)

    def _lookUp(self, ip, zone, seconds):
        d = addresses(resolverFor(self.context), reverseName(ip, zone),
                      seconds, self.context.reactor)
        return d.addCallbacks(self._accepted, self._zoneFailed,
                              callbackArgs=(zone,))

    def _zoneFailed(self, failure):
        failure.trap(LookupFailed)
        return failure.value

    def _accepted(self, answers, zone):
        found = []
        for text in answers:
            answer = ipaddress.ip_address(text)
            if answer not in LOOPBACK or answer in LIST_ERRORS:
                self.log.warn("{filter}: answer {answer} from {zone} "
                              "ignored", filter=self.name, answer=answer,
                              zone=zone)
            elif self.accepts(zone, answer):
                found.append(answer)
        return found

    def _decide(self, results, ip, zones):
        for zone, result in zip(zones, results):
            if isinstance(result, list) and result:
                return self.listed(ip, zone, result)
        for result in results:
            if isinstance(result, LookupFailed):
                raise result
        return None
