"""
whitelist_dnswl: accept mail from clients listed in a DNS whitelist.

The client's address is looked up in every DNSWL zone at once, as an A
record of the reversed address under the zone (C{1.2.0.192.list.dnswl.org}
for 192.0.2.1; for IPv6 the 32 reversed nibbles).  The first zone, in the
order given, that lists the client gives C{200 Ok}: the chain ends and
the message is accepted (or, on a chain line C{whitelist_dnswl for A B},
only A and B are skipped).  An answer of C{127.0.0.255} (dnswl.org's "query refused") goes on to the next
zone; answers outside 127.0.0.0/8 (a resolver that invents answers) never
whitelist.  Not listed anywhere, local mail, or a DNS failure or timeout:
no opinion.

Its options and their defaults: C{pyfilter check --help-filter
whitelist_dnswl}.  When no zone lists the client and one could not answer
(a DNS failure or timeout) the filter answers its C{on_error}, by default
C{'continue'}: no opinion.

A malformed client address in the control file gives
C{451 Internal failure locating control files}.
"""

import ipaddress

from twisted.logger import Logger

from pyfilter import Option, OK, nonNegativeInteger, stringList
from pyfilter.bases.dnslist import DNSListFilter

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


class WhitelistDNSWL(DNSListFilter):
    options = {
        "dnswl_zone": Option(["list.dnswl.org"], zoneList,
                             "the list of DNSWL zones, tried in order (a "
                             "single string is taken as a one-zone list, "
                             "with a warning)"),
        "min_trust": Option(0, nonNegativeInteger,
                            "the lowest trust level (last octet of the "
                            "answer, 0 to 3 at dnswl.org) that whitelists; "
                            "0: any listing"),
    }

    def zones(self):
        return self.config["dnswl_zone"]

    def accepts(self, zone, answer):
        if answer == REFUSED:
            self.log.info("DNSWL {zone} refused the query", zone=zone)
            return False
        return answer.packed[3] >= self.config["min_trust"]

    def listed(self, ip, zone, answers):
        return OK


FILTER = WhitelistDNSWL
