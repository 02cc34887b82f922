"""
A test filter that holds each message for C{[pausefilter.py] delay}
seconds without reading it, then has no opinion (the chain goes on).
"""

from twisted.internet import reactor
from twisted.internet.task import deferLater

from pyfilter.engine.filter import Filter
from pyfilter.engine.options import Option, number


class Pause(Filter):
    options = {"delay": Option(1.0, number)}

    def match(self, message):
        self.log.info("pausefilter: holding a message")
        return deferLater(reactor, self.config["delay"], lambda: None)


FILTER = Pause
