"""
localsenders: refuse mail whose sender claims a local or hosted domain but
is not an account there.

For a sender in a local domain (Courier's C{locals}) the local part is
looked up with courier-authdaemond, for a hosted domain (C{hosteddomains})
the whole address; other senders, and the null sender, are not checked.
Aliases and other addresses authdaemond does not know are refused as
senders.  The authdaemond socket comes from section C{[authdaemon.py]}
(see L{pyfilter.clients.authdaemond}).

Options (section C{[localsenders.py]}):

  - C{require_auth}: also refuse local senders who did not authenticate
    (SMTP AUTH).  Default C{False}.
  - C{unavailable_reply}: the reply when authdaemond cannot answer;
    C{{reason}} is replaced by the reason.  Default
    C{'451 Cannot verify the sender now, try again later'}; C{''} lets the
    mail pass unchecked.

Replies: C{517 Sender does not exist: <sender>};
C{517 Policy requires local senders to authenticate.}
"""

from pyfilter.clients import authdaemond
from pyfilter.engine.filter import Filter
from pyfilter.engine.options import Option, boolean
from pyfilter.engine.reply import Reply
from pyfilter.clients.base import ServiceError, outage, unavailableReply

MUST_AUTHENTICATE = Reply(
    "517", "Policy requires local senders to authenticate.")


class LocalSenders(Filter):
    options = {
        "require_auth": Option(False, boolean,
                               "local senders must authenticate"),
        "unavailable_reply": Option(
            "451 Cannot verify the sender now, try again later",
            unavailableReply, "reply when authdaemond fails"),
    }

    def start(self):
        self.authdaemon = authdaemond.clientFor(self.context)

    def consider(self, message):
        sender = message.sender or ""
        name = authdaemond.accountName(self.context.courier, sender)
        if name is None:
            return None
        d = self.authdaemon.userInfo(name)
        d.addCallbacks(self._found, self._failed, callbackArgs=(message,),
                       errbackArgs=(message,))
        return d

    def _found(self, account, message):
        if account is None:
            return Reply("517", f"Sender does not exist: {message.sender}")
        if self.config["require_auth"] and not message.authUser:
            return MUST_AUTHENTICATE
        return None

    def _failed(self, failure, message):
        failure.trap(ServiceError)
        return outage(self, message, failure.value)


FILTER = LocalSenders
