"""
noreceivedheaders: hide the trace of authenticated senders.

For mail submitted with SMTP AUTH, every C{Received} header is removed from
the message, as the reference does (its README says only the first, its
code removes all, Courier's own included).  The header lines are cut out of
the data file byte for byte; the rest of the message, body and other headers
included, stays identical, so DKIM signatures over other headers hold.  The
file is replaced atomically.  Mail without an auth user is left alone.
Never decides (no opinion).  No options.
"""

from pyfilter.engine.filter import Filter


class NoReceivedHeaders(Filter):
    onError = None

    def match(self, message):
        if not message.authUser:
            return None
        return message.rewrite(lambda edit: edit.removeHeader("Received"))


FILTER = NoReceivedHeaders
