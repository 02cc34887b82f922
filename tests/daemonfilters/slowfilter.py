"""
A test filter that answers after C{[slowfilter.py] delay} seconds.
"""

from twisted.internet import reactor
from twisted.internet.task import deferLater

from pyfilter.filter import Filter, Option, number
from pyfilter.reply import Reply


class Slow(Filter):
    options = {"delay": Option(1.0, number)}

    def consider(self, message):
        self.log.info("slowfilter: holding {id}", id=message.messageId)
        return deferLater(reactor, self.config["delay"],
                          lambda: Reply("250", "slow but fine"))


FILTER = Slow
