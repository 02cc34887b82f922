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

Options (section C{[whitelist_spf.py]}):

  - C{dns_timeout}: seconds one DNS lookup may take (default 5; the query
    is sent again after 1 and 4 seconds, so one lost datagram costs a
    second).  pyspf's and courier-pythonfilter's 20 let a single dead name
    server use up the whole check.
  - C{query_timeout}: seconds the whole check may take (default 20, the
    least limit RFC 7208 section 4.6.4 allows).

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
