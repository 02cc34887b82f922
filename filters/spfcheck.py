"""
spfcheck: refuse mail that SPF says the client may not send.

The envelope sender's domain's SPF policy (RFC 7208, evaluated by pyspf) is
checked against the client's address, with the HELO name from the control
file's C{f} record.  Result C{fail} gives C{517 SPF returns deny}.  Result
C{temperror} (a DNS failure or timeout) gives the C{on_error} answer, by
default C{451 4.4.3 SPF check of DOMAIN failed temporarily, try again
later}: RFC 7208 section 8.6 lets the receiver defer or accept, and this
filter defers, as Courier::Filter's SPF module does (courier-pythonfilter
let such mail through; C{on_error = 'continue'} does the same).  Every
other result (C{pass}, C{softfail}, C{neutral}, C{none}, C{permerror}) gets
no opinion, as in courier-pythonfilter.  Null senders and local mail are
not checked.  (Courier can check SPF itself; see its C{BOFHSPF*} settings.)

The SPF DNS lookups go through the daemon's resolver without blocking.  A
temperror is logged once per message, with the domain and the cause.

Its options and their defaults: C{pyfilter check --help-filter spfcheck}.
On a temperror the filter answers its C{on_error}, C{{domain}} in a reply's
text replaced by the domain checked.

A malformed client address in the control file gives
C{451 Internal failure locating control files}.
"""

from pyfilter.bases.spf import SPFFilter
from pyfilter.engine.reply import Reply

DENY = Reply("517", "SPF returns deny")


class SPFCheck(SPFFilter):
    onError = ("451 4.4.3 SPF check of {domain} failed temporarily, try "
               "again later")

    def answer(self, result, domain):
        return DENY if result == "fail" else None


FILTER = SPFCheck
