"""
What it looks like when a service a filter depends on cannot answer.

Every client (DNS, the state store, clamd, spamd, authdaemond, LDAP, rspamd)
fails with a subclass of L{Unavailable} when its service is down, too slow
or overloaded.  A filter does not catch it: the filter base answers the
filter's C{on_error} option instead (a reply, or C{'continue'}), logs the
outage, and counts it for the service named here.
"""


class Unavailable(Exception):
    """
    A service could not answer.

    @ivar service: the kind of service, for logs and metrics (C{"dns"},
        C{"store"}, C{"clamd"}, ...): the class's unless given.
    @ivar reason: a short reason, fit for a reply text: C{str(error)}.
    @ivar fields: more values a filter's C{on_error} reply may name (such as
        C{{domain}}), besides C{{reason}} and C{{filter}}.
    """

    service = "service"
    fields = {}

    def __init__(self, reason, service=None):
        super().__init__(reason)
        if service is not None:
            self.service = service

    @property
    def reason(self):
        return str(self)


class TimedOut(Unavailable):
    """
    A filter's work did not finish within the time the chain gives it.
    """

    service = "filter"
