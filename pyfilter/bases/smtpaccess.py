"""
Filters deciding by the client's entry in Courier's SMTP access table
(C{smtpaccess.dat}, built by C{makesmtpaccess} from C{smtpaccess/}).

The entry used is Courier's: the most specific address prefix listed
(C{192.0.2.1}, C{192.0.2}, C{192.0}, C{192}; IPv6 by 16-bit groups), else
C{*}.  The table is read once and again only when it changes.  Local mail,
which has no client address, never matches.
"""

from pyfilter.engine.filter import Filter
from pyfilter.engine.reply import OK


class SMTPAccessFilter(Filter):
    """
    Answer C{200 Ok} (the chain ends and the message is accepted, or, on a
    chain line C{NAME for A B}, only A and B are skipped) for clients whose
    entry L{allows} says so; with C{inverse}, for the other clients.
    """

    onError = None
    invertible = True
    matchReply = OK

    def match(self, message):
        ip = message.remoteIP
        if ip is not None and self.allows(self.context.courier, ip):
            return OK
        return None

    def allows(self, courier, ip):
        """
        Whether the entry for C{ip} in C{courier}'s (a
        L{pyfilter.courier.sysconf.CourierConfig}) table matches.
        """
        raise NotImplementedError()
