"""
A test filter that answers after C{[slowfilter.py] delay} seconds.
"""

from twisted.internet import reactor
from twisted.internet.task import deferLater

from pyfilter.engine.filter import Filter
from pyfilter.engine.options import Option, number
from pyfilter.engine.reply import Reply


class Slow(Filter):
    options = {"delay": Option(1.0, number)}

    def consider(self, message):
        self.log.info("slowfilter: holding {id}", id=message.messageId)
        return deferLater(reactor, self.config["delay"],
                          lambda: Reply("250", "slow but fine"))


FILTER = Slow
