"""
Chain generations: the chain in service, and the ones still finishing.

A reload builds a new chain beside the running one (with a new
L{pyfilter.engine.context.Context} that shares the running one's services
where their settings did not change), then swaps it in: messages arriving
after the swap go through the new chain, messages in flight finish on the
old one, whose filters and unshared services are released after the last
of them.  Generations are numbered from 1, the chain built at start-up.
"""

from twisted.internet import defer
from twisted.logger import Logger


class Generation:
    """
    One chain and the context its filters were made with, counting the
    messages it is filtering.  It stands in for the chain in the
    L{pyfilter.daemon.requests.RequestHandler}.

    @ivar number: 1 for the chain built at start-up, then one more per
        successful reload.
    @ivar chain: the L{pyfilter.engine.chain.Chain} (or C{StaticChain}).
    @ivar context: the chain's context, closed when it is retired.
    @ivar inFlight: messages being filtered by this generation.
    """

    log = Logger()

    def __init__(self, number, chain, context):
        self.number = number
        self.chain = chain
        self.context = context
        self.inFlight = 0
        self._idle = None

    @property
    def entries(self):
        return self.chain.entries

    def names(self):
        """
        The chain's filter names, in order.
        """
        return [entry.name for entry in self.chain.entries]

    def decide(self, message, *args, **kwargs):
        """
        Run the chain (L{pyfilter.engine.chain.Chain.decide}), counting the
        message in flight until it is answered.
        """
        self.inFlight += 1
        return self.chain.decide(message, *args, **kwargs).addBoth(
            self._finished)

    def _finished(self, result):
        self.inFlight -= 1
        if not self.inFlight and self._idle is not None:
            idle, self._idle = self._idle, None
            idle.callback(None)
        return result

    @defer.inlineCallbacks
    def retire(self):
        """
        Wait for the messages in flight (each bounded by the chain's
        deadline), then stop the filters and release the services no
        other generation uses.

        @return: a Deferred firing when that is done.
        """
        if self.inFlight:
            self._idle = defer.Deferred()
            yield self._idle
        yield self.context.close()
        self.log.info("generation {number} retired", number=self.number)


class Generations:
    """
    The generation in service (L{current}) and those retiring.

    @ivar handler: the L{pyfilter.daemon.requests.RequestHandler} new
        messages come through.
    @ivar retiring: generations replaced whose messages are still in
        flight.
    """

    def __init__(self, handler):
        self.handler = handler
        self.current = None
        self.retiring = set()

    def install(self, chain, context):
        """
        Put C{chain} in service (atomically: the next message gets it) and
        retire the one it replaces.

        @return: the new L{Generation}.
        """
        number = self.current.number + 1 if self.current else 1
        previous, self.current = self.current, Generation(number, chain,
                                                          context)
        self.handler.threads = context.threads
        self.handler.setChain(self.current)
        if previous is not None:
            self.retiring.add(previous)
            previous.retire().addBoth(
                lambda _: self.retiring.discard(previous))
        return self.current

    def inFlight(self):
        """
        Messages being filtered, by every generation.
        """
        return sum(g.inFlight for g in self.retiring | {self.current} if g)

    def close(self):
        """
        Release every generation's filters and services at once: the daemon
        stops, and has waited for the messages in flight (bounded).
        """
        generations = list(self.retiring)
        if self.current is not None:
            generations.append(self.current)
            self.current = None
        return defer.DeferredList([g.context.close() for g in generations],
                                  consumeErrors=True)
