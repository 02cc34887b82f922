"""
whitelist_block: accept mail from clients exempted from Courier's BLOCK.

When the client's IP address has an entry in Courier's SMTP access table
(C{smtpaccess.dat}, built by C{makesmtpaccess} from C{smtpaccess/}) that
sets C{BLOCK} to an empty value (C{allow,BLOCK}, the way Courier whitelists
an address against DNS block lists), the message is answered C{200 Ok}: the
chain ends and the message is accepted (or, on a chain line
C{whitelist_block for A B}, only the filters A and B are skipped for it).
An entry with a non-empty C{BLOCK=...}, no entry, and local mail without a
client address get no opinion.

The entry used is Courier's: the most specific address prefix listed
(C{192.0.2.1}, C{192.0.2}, C{192.0}, C{192}; IPv6 by 16-bit groups), else
C{*}.  The table is read once and again only when it changes.

A malformed client address in the control file gives
C{451 Internal failure locating control files}.  No options.
"""

from pyfilter.engine.filter import Filter
from pyfilter.engine.reply import OK


class WhitelistBlock(Filter):
    def consider(self, message):
        ip = message.remoteIP
        if ip is not None and self.context.courier.isWhiteBlocked(ip):
            return OK
        return None


FILTER = WhitelistBlock
