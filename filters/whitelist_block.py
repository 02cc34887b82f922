"""
whitelist_block: accept mail from clients exempted from Courier's BLOCK.

When the client's IP address has an entry in Courier's SMTP access table
that sets C{BLOCK} to an empty value (C{allow,BLOCK}, the way Courier
whitelists an address against DNS block lists), the message is answered
C{200 Ok}: the chain ends and the message is accepted (or, on a chain line
C{whitelist_block for A B}, only the filters A and B are skipped for it).
An entry with a non-empty C{BLOCK=...}, no entry, and local mail without a
client address get no opinion.  See L{pyfilter.bases.smtpaccess} for how
the entry is found.

A malformed client address in the control file gives
C{451 Internal failure locating control files}.
"""

from pyfilter.bases.smtpaccess import SMTPAccessFilter


class WhitelistBlock(SMTPAccessFilter):
    def allows(self, courier, ip):
        return courier.isWhiteBlocked(ip)


FILTER = WhitelistBlock
