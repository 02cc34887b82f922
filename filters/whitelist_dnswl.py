"""
whitelist_dnswl: accept mail from clients listed in a DNS whitelist.

The client's address is looked up in each DNSWL zone in turn, as an A
record of the reversed address under the zone (C{1.2.0.192.list.dnswl.org}
for 192.0.2.1; for IPv6 the 32 reversed nibbles).  The first zone that lists
the client gives C{200 Ok}: the chain ends and the message is accepted (or,
on a chain line C{whitelist_dnswl for A B}, only A and B are skipped).  An
answer of C{127.0.0.255} (dnswl.org's "query refused") goes on to the next
zone; answers outside 127.0.0.0/8 (a resolver that invents answers) never
whitelist.  Not listed anywhere, local mail, or a DNS failure or timeout:
no opinion.

Options (section C{[whitelist_dnswl.py]}):

  - C{dnswl_zone}: the list of zones, tried in order.  Default
    C{['list.dnswl.org']}.  A single string is taken as a one-zone list
    (with a warning).
  - C{min_trust}: the lowest trust level (last octet of the answer, 0 to 3
    at dnswl.org) that whitelists.  Default 0: any listing.
  - C{dns_timeout}: seconds all the lookups of one message may take.
    Default 5.

A malformed client address in the control file gives
C{451 Internal failure locating control files}.
"""

import ipaddress

from twisted.internet import defer
from twisted.logger import Logger
from twisted.names import dns as names

from pyfilter.clients.dns import LOOKUP_FAILED, answersOf, lookup
from pyfilter.engine.filter import Filter
from pyfilter.engine.options import Option, nonNegativeInteger, positiveNumber
from pyfilter.engine.options import stringList
from pyfilter.engine.reply import OK

LOOPBACK = ipaddress.ip_network("127.0.0.0/8")
REFUSED = ipaddress.ip_address("127.0.0.255")

log = Logger()


def zoneList(value):
    """
    A list of zone names; a lone string becomes a one-zone list.
    """
    if isinstance(value, str):
        log.warn("[whitelist_dnswl.py] dnswl_zone should be a list of zones; "
                 "using [{zone!r}]", zone=value)
        value = [value]
    return stringList(value)


def queryName(ip, zone):
    """
    The reversed address under C{zone}.
    """
    reversed, _, _ = ip.reverse_pointer.rpartition(
        ".in-addr.arpa" if ip.version == 4 else ".ip6.arpa")
    return f"{reversed}.{zone.strip('.')}"


class WhitelistDNSWL(Filter):
    options = {
        "dnswl_zone": Option(["list.dnswl.org"], zoneList,
                             "DNSWL zones, tried in order"),
        "min_trust": Option(0, nonNegativeInteger,
                            "lowest trust level that whitelists"),
        "dns_timeout": Option(5, positiveNumber,
                              "seconds for all lookups of a message"),
    }

    def consider(self, message):
        ip = message.remoteIP
        if ip is None:
            return None
        return self.listed(ip)

    @defer.inlineCallbacks
    def listed(self, ip):
        reactor = self.context.reactor
        deadline = reactor.seconds() + self.config["dns_timeout"]
        for zone in self.config["dnswl_zone"]:
            remaining = deadline - reactor.seconds()
            if remaining <= 0:
                self.log.warn("DNSWL lookups for {ip} timed out", ip=ip)
                return None
            name = queryName(ip, zone)
            try:
                payload = yield lookup(self.context.resolver, "lookupAddress",
                                       name, remaining, reactor)
            except LOOKUP_FAILED as e:
                self.log.debug("DNSWL lookup {name} failed: {error!r}",
                               name=name, error=e)
                continue
            if self.whitelists(name, answersOf(payload, names.A)):
                return OK
        return None

    def whitelists(self, name, records):
        for record in records:
            answer = ipaddress.ip_address(record.dottedQuad())
            if answer == REFUSED:
                self.log.info("DNSWL refused the query {name}", name=name)
                return False
            if answer not in LOOPBACK:
                self.log.warn("DNSWL answer {answer} for {name} is outside "
                              "127.0.0.0/8: ignored", answer=answer, name=name)
                continue
            if answer.packed[3] >= self.config["min_trust"]:
                return True
        return False


FILTER = WhitelistDNSWL
