"""
greylist: defer mail from unknown (sender, recipient, client network)
triplets, accept it when the sender retries after a delay.

The first message for a triplet is refused with
C{451 4.7.1 Greylisting in action, please come back in HH:MM:SS} (the time
still to wait; with several recipients, the longest).  A retry at least
C{greylist_time} seconds after the first attempt passes, and the triplet
is then remembered as passed.  Mail with the null sender, and locally
submitted mail (no client address), is not greylisted.

Its options and their defaults: C{pyfilter check --help-filter greylist}.
While the state store is unavailable the filter answers its C{on_error}
(the reference's name C{on_store_error} is read too); C{'continue'} lets
such mail through this filter.

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
        "senders_purge_interval": Option(
            60 * 60 * 2, nonNegativeInteger,
            "accepted for compatibility; expired triplets are ignored at "
            "once and removed by the store's background purge ([ttldb] "
            "purge_interval)"),
        "senders_passed_ttl": Option(
            60 * 60 * 24 * 36, nonNegativeInteger,
            "seconds a passed triplet is remembered since it was last used "
            "(36 days)"),
        "senders_not_passed_ttl": Option(
            60 * 60 * 24, nonNegativeInteger,
            "seconds a first attempt is remembered"),
        "greylist_time": Option(
            300, nonNegativeInteger,
            "seconds before a retry is accepted"),
        "ipv4_prefix": Option(
            24, prefixLength(32),
            "prefix length of the IPv4 client network of a triplet"),
        "ipv6_prefix": Option(
            48, prefixLength(128),
            "prefix length of the IPv6 client network of a triplet"),
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
