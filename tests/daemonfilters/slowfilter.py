"""
A test filter that answers after C{[slowfilter.py] delay} seconds; it has
no C{on_error}, so that the chain's own timeout applies to it.
"""

from twisted.internet import reactor
from twisted.internet.task import deferLater

from pyfilter import Filter, Option, Reply, number


class Slow(Filter):
    options = {"delay": Option(1.0, number)}
    onError = None

    def match(self, message):
        self.log.info("slowfilter: holding {id}", id=message.messageId)
        return deferLater(reactor, self.config["delay"],
                          lambda: Reply("250", "slow but fine"))


FILTER = Slow
