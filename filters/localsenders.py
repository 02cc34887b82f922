"""
localsenders: refuse mail whose sender claims a local or hosted domain but
is not an account there.

For a sender in a local domain (Courier's C{locals}) the local part is
looked up with courier-authdaemond, for a hosted domain (C{hosteddomains})
the whole address; other senders, and the null sender, are not checked.
Aliases and other addresses authdaemond does not know are refused as
senders.  The authdaemond socket comes from section C{[authdaemon.py]}
(see L{pyfilter.clients.authdaemond}).

Its options and their defaults:
C{pyfilter check --help-filter localsenders}.  When authdaemond cannot
answer the filter answers its C{on_error} (C{{reason}} is filled in; the
reference's C{unavailable_reply} is read too, C{''} for no opinion).

Replies: C{517 Sender does not exist: <sender>};
C{517 Policy requires local senders to authenticate.}
"""

from pyfilter.bases.authdaemond import AuthdaemondFilter
from pyfilter.engine.options import Option, boolean
from pyfilter.engine.reply import Reply

MUST_AUTHENTICATE = Reply(
    "517", "Policy requires local senders to authenticate.")


class LocalSenders(AuthdaemondFilter):
    options = {
        "require_auth": Option(
            False, boolean,
            "also refuse local senders who did not authenticate (SMTP "
            "AUTH)"),
    }
    onError = "451 Cannot verify the sender now, try again later"

    def match(self, message):
        name = self.accountName(message.sender or "")
        if name is None:
            return None
        return self.account(name).addCallback(self._found, message)

    def _found(self, account, message):
        if account is None:
            return Reply("517", f"Sender does not exist: {message.sender}")
        if self.config["require_auth"] and not message.authUser:
            return MUST_AUTHENTICATE
        return None


FILTER = LocalSenders
