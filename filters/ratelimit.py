"""
ratelimit: limit how many messages one client address may send.

Every message from a client is counted (rejected ones too); once more than
C{max_connections} were counted within the last C{interval} minutes the
answer is C{421 Too many messages from <client address>, slow down.}
Locally submitted mail (no client address) is not counted.

Its options and their defaults: C{pyfilter check --help-filter ratelimit}.

The counters live in the state store (C{[ttldb]}), so several daemons
sharing it count together, and a restart forgets nothing.  Each daemon
counts in memory and adds its counts to the store every C{count_interval}
seconds (C{[ttldb]}, default 1; a message waits for the store only when its
client's counter is not in memory yet): it sees the other daemons' messages
at most that late, so a client sending through several servers at once may
get up to an interval's worth of each other server's messages past the
limit.  C{count_interval = 0} writes every message before answering.
"""

from pyfilter.engine.filter import Filter
from pyfilter.engine.options import Option, boolean, nonNegativeInteger
from pyfilter.engine.reply import Reply
from pyfilter.store import STORE_UNAVAILABLE, Table, clientNetwork, storeFor


class RateLimit(Filter):
    """
    Counting messages per key in a sliding window of whole minutes;
    subclasses choose the key and the reply.
    """

    table = "ratelimit"
    options = {
        "max_connections": Option(
            60, nonNegativeInteger, "messages allowed within the window"),
        "interval": Option(
            1, nonNegativeInteger,
            "the window, in whole minutes (as the reference counted)"),
        "senders_purge_interval": Option(
            60 * 60 * 12, nonNegativeInteger,
            "accepted for compatibility; old counters are removed by the "
            "store's background purge"),
        "limit_network": Option(
            False, boolean,
            "count per client network (IPv4 /24, IPv6 /48) instead of per "
            "address"),
    }
    onError = STORE_UNAVAILABLE

    def start(self):
        self.counters = Table(storeFor(self.context), self.table)

    def counted(self, message):
        """
        The key to count C{message} under, or C{None} not to count it.
        """
        address = message.remoteIP
        if address is None:
            return None
        if self.config["limit_network"]:
            return clientNetwork(address)
        return str(address)

    def refusal(self, message):
        return Reply("421", f"Too many messages from {message.remoteIP}, "
                     "slow down.")

    def match(self, message):
        key = self.counted(message)
        if key is None:
            return None
        d = self.counters.increment((key,), max(1, self.config["interval"])
                                    * 60)
        d.addCallback(self._answer, message)
        return d

    def _answer(self, count, message):
        if count > self.config["max_connections"]:
            return self.refusal(message)
        return None


FILTER = RateLimit
