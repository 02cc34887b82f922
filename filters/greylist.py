"""
greylist: defer mail from unknown (sender, recipient, client network)
triplets, accept it when the sender retries after a delay.

The first message for a triplet is refused with
C{451 4.7.1 Greylisting in action, please come back in HH:MM:SS} (the time
still to wait; with several recipients, the longest).  A retry at least
C{greylist_time} seconds after the first attempt passes, and the triplet
is then remembered as passed.  Mail with the null sender, and locally
submitted mail (no client address), is not greylisted.

Options (section C{[greylist.py]}):
  - C{greylist_time} (default 300): seconds before a retry is accepted;
  - C{senders_not_passed_ttl} (default 86400): how long a first attempt is
    remembered;
  - C{senders_passed_ttl} (default 3110400, 36 days): how long a passed
    triplet is remembered since it was last used;
  - C{senders_purge_interval} (default 7200): accepted for compatibility;
    expired triplets are ignored at once and removed by the store's
    background purge (C{[ttldb] purge_interval});
  - C{ipv4_prefix} (default 24), C{ipv6_prefix} (default 48): the client
    network of a triplet;
  - C{on_error} (default C{'451 4.3.0 Temporary failure of the mail
    filter's state store, try again later'}; the reference's name
    C{on_store_error} is read too): the reply while the state store is
    unavailable, or C{'continue'} to let such mail through this filter.

State lives in the state store (C{[ttldb]}), so several pyfilter daemons
sharing it greylist together; triplets imported from the reference with
C{pyfilter import-state} are honoured.
"""

import time

from twisted.internet import defer

from pyfilter.engine.filter import Filter, gather
from pyfilter.engine.options import Option, nonNegativeInteger, prefixLength
from pyfilter.engine.reply import Reply
from pyfilter.store import (
    STORE_UNAVAILABLE, Table, clientNetwork, referenceNetwork, storeFor)


def waitText(seconds):
    """
    C{HH:MM:SS} for a wait of C{seconds}, as the reference wrote it.
    """
    return time.strftime("%H:%M:%S", time.gmtime(int(seconds)))


class Greylist(Filter):
    options = {
        "senders_purge_interval": Option(60 * 60 * 2, nonNegativeInteger),
        "senders_passed_ttl": Option(60 * 60 * 24 * 36, nonNegativeInteger),
        "senders_not_passed_ttl": Option(60 * 60 * 24, nonNegativeInteger),
        "greylist_time": Option(300, nonNegativeInteger),
        "ipv4_prefix": Option(24, prefixLength(32)),
        "ipv6_prefix": Option(48, prefixLength(128)),
    }
    onError = STORE_UNAVAILABLE

    def start(self):
        store = storeFor(self.context)
        self.passed = Table(store, "greylist_Passed", reference=True)
        self.pending = Table(store, "greylist_NotPassed", reference=True)
        return gather([self.passed.start(), self.pending.start()])

    def match(self, message):
        address = message.remoteIP
        sender = message.sender
        if address is None or not sender:
            return None
        network = clientNetwork(address, self.config["ipv4_prefix"],
                                self.config["ipv6_prefix"])
        oldNetwork = referenceNetwork(address)
        checks = []
        for recipient in {r.address.lower() for r in message.recipients}:
            triplet = (sender.lower(), recipient, network)
            checks.append(self._check(
                triplet, (sender.lower(), recipient, oldNetwork)))
        d = gather(checks)
        return d.addCallback(self._answer)

    @defer.inlineCallbacks
    def _check(self, triplet, referenceTriplet):
        """
        @return: the seconds still to wait for C{triplet}, C{None} when it
            passes.
        """
        store = self.passed.store
        now = store.now()
        passedTtl = self.config["senders_passed_ttl"]
        # Passed triplets first: the common case then costs one round trip
        # to the store.
        if (yield self.passed.refresh(triplet, now, passedTtl)):
            return None
        if (yield self.passed.adopt(triplet, referenceTriplet)) is not None:
            yield self.passed.set(triplet, now, passedTtl)
            return None
        first = yield self.pending.get(triplet, referenceTriplet)
        if first is None:
            yield self.pending.add(triplet, now,
                                   self.config["senders_not_passed_ttl"])
            return self.config["greylist_time"]
        remaining = first + self.config["greylist_time"] - now
        if remaining > 0:
            return remaining
        yield self.passed.set(triplet, now, passedTtl)
        yield self.pending.delete(triplet)
        return None

    def _answer(self, waits):
        waits = [wait for wait in waits if wait is not None]
        if not waits:
            return None
        longest = max(waits)
        return Reply("451", "4.7.1 Greylisting in action, please come back "
                     f"in {waitText(longest)}")


FILTER = Greylist
