"""
whitelist_auth: accept mail from authenticated senders.

A message submitted with SMTP AUTH (an C{i} record in its control file) is
answered C{200 Ok}, which ends the chain and accepts it (or, on a chain line
C{whitelist_auth for A B}, skips the filters A and B for it).  Other mail gets
no opinion.  No options.
"""

from pyfilter.engine.filter import Filter
from pyfilter.engine.reply import OK


class WhitelistAuth(Filter):
    onError = None

    def match(self, message):
        return OK if message.authUser else None


FILTER = WhitelistAuth
