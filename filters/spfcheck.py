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

Options (section C{[spfcheck.py]}):

  - C{on_error}: the answer on a temperror: a reply such as
    C{'451 4.4.3 ...'} (C{{domain}} in its text is replaced by the domain
    checked), or C{'continue'} for no opinion (the message goes on
    unchecked by SPF).  Default
    C{'451 4.4.3 SPF check of {domain} failed temporarily, try again later'}.
  - C{dns_timeout}: seconds one DNS lookup may take (default 5; the query
    is sent again after 1 and 4 seconds, so one lost datagram costs a
    second).  pyspf's and courier-pythonfilter's 20 let a single dead name
    server use up the whole check.
  - C{query_timeout}: seconds the whole check may take (default 20, the
    least limit RFC 7208 section 4.6.4 allows); past it the result is
    C{temperror}.

A malformed client address in the control file gives
C{451 Internal failure locating control files}.
"""

from pyfilter.engine.options import Option
from pyfilter.engine.reply import Reply
from pyfilter.clients.spf import SPFFilter
from pyfilter.store import storeErrorAnswer

DENY = Reply("517", "SPF returns deny")
TEMPERROR = ("451 4.4.3 SPF check of {domain} failed temporarily, try again "
             "later")


def replyAbout(reply, domain):
    """
    C{reply} with C{{domain}} in its text replaced by C{domain} (cleaned of
    control characters, as every reply text is), or C{None} for C{None}.
    """
    if reply is None:
        return None
    return Reply(reply.code,
                 *(line.replace("{domain}", domain) for line in reply.lines))


class SPFCheck(SPFFilter):
    options = {
        **SPFFilter.options,
        "on_error": Option(TEMPERROR, storeErrorAnswer,
                           "reply on an SPF temperror ('continue' for no "
                           "opinion)"),
    }

    def answer(self, result, domain):
        if result == "fail":
            return DENY
        if result == "temperror":
            return replyAbout(self.config["on_error"], domain)
        return None


FILTER = SPFCheck
