"""
spfcheck: refuse mail that SPF says the client may not send.

The envelope sender's domain's SPF policy (RFC 7208, evaluated by pyspf) is
checked against the client's address, with the HELO name from the control
file's C{f} record.  Result C{fail} gives C{517 SPF returns deny}; every
other result (C{pass}, C{softfail}, C{neutral}, C{none}, C{temperror},
C{permerror}) gets no opinion, as in courier-pythonfilter.  Null senders
and local mail are not checked.  (Courier can check SPF itself; see its
C{BOFHSPF*} settings.)

The SPF DNS lookups go through the daemon's resolver without blocking;
a DNS failure or a check that takes too long is a C{temperror}.

Options (section C{[spfcheck.py]}):

  - C{dns_timeout}: seconds one DNS lookup may take (default 20).
  - C{query_timeout}: seconds the whole check may take (default 20).

A malformed client address in the control file gives
C{451 Internal failure locating control files}.
"""

from pyfilter.reply import Reply
from pyfilter.spfdns import SPFFilter

DENY = Reply("517", "SPF returns deny")


class SPFCheck(SPFFilter):
    def answer(self, result):
        return DENY if result == "fail" else None


FILTER = SPFCheck
