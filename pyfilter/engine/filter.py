"""
The base class of pyfilter's filters and the typed options they declare.

A filter module in C{filters/} defines one subclass of L{Filter} and names it
C{FILTER}.  The class lists its options (those of the reference's
C{[NAME.py]} section, with the reference's defaults) as L{Option}s; the
framework reads the section, checks every value and hands the filter a plain
dictionary.  C{consider(message)} answers C{None} (no opinion), a
L{pyfilter.engine.reply.Reply}, or a Deferred firing with either.  Exceptions and
timeouts are the chain's business, not the filter's.
"""

from twisted.logger import Logger


class Filter:
    """
    Base of every filter.

    @cvar name: the filter's chain name (its module name).
    @cvar options: option name to L{Option}, the reference's defaults.
    @ivar config: the checked option values.
    @ivar context: the daemon's L{pyfilter.engine.context.Context}.
    """

    name = None
    options = {}
    log = Logger()

    def __init__(self, config, context):
        self.config = config
        self.context = context

    def start(self):
        """
        Prepare anything asynchronous (connections, stores); may return a
        Deferred.  A failure here is a configuration error.
        """

    def stop(self):
        """
        Release what L{start} acquired; may return a Deferred.
        """

    def consider(self, message):
        """
        Decide about C{message}: C{None}, a Reply, or a Deferred of either.
        """
        raise NotImplementedError()
