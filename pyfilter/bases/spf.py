"""
Filters that evaluate the envelope sender's SPF policy (RFC 7208, with
pyspf; its DNS lookups through the daemon's resolver, see
L{pyfilter.clients.spf}).

The client's address, the envelope sender and the HELO name of the
control file's C{f} record are checked; L{SPFFilter.answer} turns pyspf's
result into the filter's reply.  Null senders and local mail (no client
address) get no opinion.  A C{temperror} (a DNS failure or timeout) is an
outage: the filter answers its C{on_error} (C{{domain}} is filled in), and
the log has the domain, the sender, the client and the cause.
"""

import spf

from pyfilter.clients.dns import resolverFor
from pyfilter.clients.spf import DNS_TIMEOUT, MAX_QUERY_TIME, checkSPF
from pyfilter.engine.filter import Filter
from pyfilter.engine.options import Option, positiveNumber
from pyfilter.outage import Unavailable


class Temperror(Unavailable):
    """
    The SPF check of C{domain} could not be completed.
    """

    service = "dns"

    def __init__(self, reason, domain):
        super().__init__(reason)
        self.fields = {"domain": domain}


class SPFFilter(Filter):
    """
    The part spfcheck and whitelist_spf share.
    """

    options = {
        "dns_timeout": Option(DNS_TIMEOUT, positiveNumber,
                              "seconds one DNS lookup may take (the query is "
                              "sent again after 1 and 4 seconds, so one lost "
                              "datagram costs a second); pyspf's and "
                              "courier-pythonfilter's 20 let a single dead "
                              "name server use up the whole check"),
        "query_timeout": Option(MAX_QUERY_TIME, positiveNumber,
                                "seconds the whole SPF check may take (RFC "
                                "7208 section 4.6.4's least limit is 20); "
                                "past it the result is temperror"),
    }

    def match(self, message):
        helo = message.helo
        ip = message.remoteIP
        sender = message.sender
        if not sender or ip is None:
            return None
        d = checkSPF(resolverFor(self.context), self.context.reactor, str(ip),
                     sender, helo, self.config["dns_timeout"],
                     self.config["query_timeout"])
        return d.addCallback(self._answered, message, ip, sender, helo)

    def _answered(self, outcome, message, ip, sender, helo):
        result, explanation = outcome
        _, domain = spf.split_email(sender, helo or "")
        if result == "temperror":
            raise Temperror(f"SPF temperror for {domain} (sender {sender}, "
                            f"client {ip}): {explanation}", domain)
        self.log.debug("SPF {result} for {sender} from {ip} "
                       "({messageId}): {explanation}", result=result,
                       sender=sender, ip=ip, messageId=message.messageId,
                       explanation=explanation)
        return self.answer(result, domain)

    def answer(self, result, domain):
        """
        The reply for pyspf's C{result} (C{'pass'}, C{'fail'}, ...) about
        C{domain}, or C{None}.
        """
        raise NotImplementedError()
