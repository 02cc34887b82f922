"""
dnsbl: refuse mail from clients listed in DNS block lists.

The client's address (IPv4 or IPv6) is looked up in every zone at once;
the first zone, in the order given, that lists it gives its reply.  Local
mail, and clients no zone lists, get no opinion.  A zone that cannot answer
lists nobody (C{on_error}, by default C{'continue'}).  See
L{pyfilter.bases.dnslist} for which answers count.

Its options and their defaults: C{pyfilter check --help-filter dnsbl}.

Default reply: C{554 5.7.1 Service unavailable; client [<ip>] blocked using
<zone>}.  Not in courier-pythonfilter.
"""

from pyfilter import (
    ConfigError, Option, Reply, mapping, optional, reply, string)
from pyfilter.bases.dnslist import DNSListFilter

DEFAULT_REPLY = ("554 5.7.1 Service unavailable; client [{ip}] blocked "
                 "using {zone}")


class DNSBL(DNSListFilter):
    options = {
        "zones": Option(
            {}, mapping(string, optional(reply)),
            "required: zone name to its reply, in the order tried (None "
            "for the default reply); {ip}, {zone} and {answer} are filled "
            "in, e.g. {'bl.example': '554 5.7.1 {ip} listed at example'}"),
    }

    def start(self):
        if not self.config["zones"]:
            raise ConfigError("[dnsbl.py] zones: no zone given")

    def zones(self):
        return list(self.config["zones"])

    def listed(self, ip, zone, answers):
        template = self.config["zones"][zone] or DEFAULT_REPLY
        return Reply.fromTemplate(template, ip=ip, zone=zone,
                                  answer=answers[0])


FILTER = DNSBL
