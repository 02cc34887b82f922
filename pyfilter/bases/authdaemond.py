"""
Filters asking courier-authdaemond about local accounts.

The client is the daemon's one
L{pyfilter.clients.authdaemond.AuthdaemonClient}, configured by the
C{[authdaemon.py]} section.  An address is asked about when it is a local
account's: its local part in a domain of Courier's C{locals}, the whole
address in a hosted domain (C{hosteddomains}).
"""

from twisted.internet import defer

from pyfilter.clients import authdaemond
from pyfilter.engine.filter import Filter


class AuthdaemondFilter(Filter):
    """
    A filter with an L{account} lookup.  When authdaemond cannot answer,
    the filter answers its C{on_error} (the class's C{onError} by default).
    """

    def start(self):
        self.authdaemon = authdaemond.clientFor(self.context)

    def accountName(self, address):
        """
        The name authdaemond knows C{address}'s account by, or C{None} when
        the address is not a local account's.
        """
        return authdaemond.accountName(self.context.courier, address)

    def account(self, name):
        """
        A Deferred of authdaemond's account record (a dict) for the account
        C{name}, or of C{None} when it has none.
        """
        if name is None:
            return defer.succeed(None)
        return self.authdaemon.userInfo(name)
