"""
whitelist_relayclients: accept mail from clients Courier lets relay.

When the client's IP address has an entry in Courier's SMTP access table
whose value sets C{RELAYCLIENT}, with or without a value
(C{allow,RELAYCLIENT}), the message is answered C{200 Ok}: the chain ends
and the message is accepted (or, on a chain line
C{whitelist_relayclients for A B}, only the filters A and B are skipped for
it).  Other mail, and local mail without a client address, gets no
opinion.  See L{pyfilter.bases.smtpaccess} for how the entry is found.

A malformed client address in the control file gives
C{451 Internal failure locating control files}.
"""

from pyfilter.bases.smtpaccess import SMTPAccessFilter


class WhitelistRelayClients(SMTPAccessFilter):
    def allows(self, courier, ip):
        return courier.isRelayClient(ip)


FILTER = WhitelistRelayClients
