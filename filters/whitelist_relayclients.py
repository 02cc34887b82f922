"""
whitelist_relayclients: accept mail from clients Courier lets relay.

When the client's IP address has an entry in Courier's SMTP access table
(C{smtpaccess.dat}, built by C{makesmtpaccess} from C{smtpaccess/}) whose
value sets C{RELAYCLIENT}, with or without a value (C{allow,RELAYCLIENT}),
the message is answered C{200 Ok}: the chain ends and the message is
accepted (or, on a chain line C{whitelist_relayclients for A B}, only the
filters A and B are skipped for it).  Other mail, and local mail without a
client address, gets no opinion.

The entry used is Courier's: the most specific address prefix listed
(C{192.0.2.1}, C{192.0.2}, C{192.0}, C{192}; IPv6 by 16-bit groups), else
C{*}.  The table is read once and again only when it changes.

A malformed client address in the control file gives
C{451 Internal failure locating control files}.  No options.
"""

from pyfilter.engine.filter import Filter
from pyfilter.engine.reply import OK


class WhitelistRelayClients(Filter):
    def consider(self, message):
        ip = message.remoteIP
        if ip is not None and self.context.courier.isRelayClient(ip):
            return OK
        return None


FILTER = WhitelistRelayClients
