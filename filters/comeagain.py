"""
comeagain: defer the first message between a sender and a recipient once.

A message is accepted when every (sender, recipient) pair of it was seen
before; otherwise it is refused with
C{421 Please send the message again to prove you are not spamware or virusware.}
Each pair is remembered (again) on every message.  There is no minimum
delay: any retry passes.  Mail with the null sender is not checked.  Do
not combine with greylist.

Its options and their defaults: C{pyfilter check --help-filter comeagain}.
While the state store is unavailable the filter answers its C{on_error}
(the reference's name C{on_store_error} is read too).

Pairs are case-sensitive, as in the control file; pairs imported from the
reference with C{pyfilter import-state} are honoured.
"""

from twisted.internet import defer

from pyfilter.engine.filter import Filter, gather
from pyfilter.engine.options import Option, nonNegativeInteger
from pyfilter.engine.reply import Reply
from pyfilter.store import STORE_UNAVAILABLE, Table, storeFor

SEND_AGAIN = Reply("421", "Please send the message again to prove you are "
                   "not spamware or virusware.")


class ComeAgain(Filter):
    options = {
        "senders_ttl": Option(
            60 * 60 * 24 * 30, nonNegativeInteger,
            "seconds a pair is remembered since it was last seen (30 days)"),
        "senders_purge_interval": Option(
            60 * 60 * 12, nonNegativeInteger,
            "accepted for compatibility; expired pairs are removed by the "
            "store's background purge"),
    }
    onError = STORE_UNAVAILABLE

    def start(self):
        self.correspondents = Table(storeFor(self.context), "correspondents",
                                    reference=True)
        return self.correspondents.start()

    def match(self, message):
        sender = message.sender
        if not sender:
            return None
        recipients = {r.address for r in message.recipients}
        d = gather(self._seen((sender, r)) for r in recipients)
        return d.addCallback(lambda seen: None if all(seen) else SEND_AGAIN)

    @defer.inlineCallbacks
    def _seen(self, pair):
        table = self.correspondents
        last = yield table.get(pair)
        yield table.set(pair, table.store.now(), self.config["senders_ttl"])
        return last is not None


FILTER = ComeAgain
