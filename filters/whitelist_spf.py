"""
whitelist_spf: accept mail that SPF says the client may send.

The envelope sender's domain's SPF policy (RFC 7208, evaluated by pyspf) is
checked against the client's address, with the HELO name from the control
file's C{f} record.  Result C{pass} gives C{200 Ok}: the chain ends and the
message is accepted (or, on a chain line C{whitelist_spf for A B}, only A
and B are skipped).  Every other result, null senders and local mail get no
opinion.

The SPF DNS lookups go through the daemon's resolver without blocking.  A
DNS failure or a check that takes too long is a C{temperror}: no opinion
(the message is not whitelisted, and the rest of the chain decides), logged
once per message with the domain and the cause.

Its options and their defaults: C{pyfilter check --help-filter
whitelist_spf}.

A malformed client address in the control file gives
C{451 Internal failure locating control files}.
"""

from pyfilter.bases.spf import SPFFilter
from pyfilter.engine.reply import CONTINUE, OK


class WhitelistSPF(SPFFilter):
    onError = CONTINUE

    def answer(self, result, domain):
        return OK if result == "pass" else None


FILTER = WhitelistSPF
