"""
The request step: one framed request (the paths Courier sent) becomes a
L{Message} and goes through the chain; beyond a bound of messages in
flight it is answered "busy" at once.

The paths must lie in Courier's spool (L{pyfilter.courier.spool.Spool}):
checked lexically here, and with symbolic links resolved by the message
when a filter first uses a file.
"""

from twisted.internet import defer
from twisted.logger import Logger

from pyfilter.courier.spool import OutsideSpool
from pyfilter.daemon.decisions import DecisionLog
from pyfilter.engine.message import Message
from pyfilter.engine.reply import Reply

BUSY = Reply("451", "4.3.2 Mail filter busy, try again later")
BAD_REQUEST = Reply("451", "4.3.0 Malformed mail filter request")
REFUSED_PATH = Reply("451", "4.3.0 Mail filter request refused")


class RequestHandler:
    """
    @ivar spool: the L{pyfilter.courier.spool.Spool} requests must name
        files in.
    @ivar threads: the daemon's thread pool, for the messages' rewrites.
    @ivar chain: the chain, or C{None} until it is ready.
    @ivar inFlight: the Deferreds of messages being filtered.
    """

    log = Logger()

    def __init__(self, spool, threads=None, maxInFlight=512,
                 decisions=None):
        self.spool = spool
        self.decisions = decisions or DecisionLog()
        self.threads = threads
        self.maxInFlight = maxInFlight
        self.chain = None
        self.inFlight = set()
        self._waiting = []

    def quiet(self):
        """
        Whether nothing is being decided and no decision line waits.
        """
        return not self.inFlight and not self.decisions.waiting

    def setChain(self, chain):
        self.chain = chain
        waiting, self._waiting = self._waiting, []
        for d, message in waiting:
            self._decide(message).chainDeferred(d)

    def _decide(self, message):
        decision = self.decisions.start(message)
        d = self.chain.decide(message, decision.observe)
        d.addCallback(lambda reply: self.decisions.finish(decision, reply))
        return d

    def handle(self, rawPaths):
        """
        Decide about the message named by C{rawPaths} (data path, then
        control paths).

        @return: a Deferred that fires with the L{Reply}; it never fails.
        """
        if len(self.inFlight) >= self.maxInFlight:
            self.log.warn("{count} messages in flight: answering busy",
                          count=len(self.inFlight))
            return defer.succeed(BUSY)
        try:
            if len(rawPaths) < 2:
                raise OutsideSpool("request names no control file")
            paths = [self.spool.resolve(raw) for raw in rawPaths]
        except OutsideSpool as e:
            self.log.warn("refused request: {error}", error=e)
            return defer.succeed(REFUSED_PATH)
        message = Message(paths[0], paths[1:], spool=self.spool,
                          threads=self.threads)
        if self.chain is None:
            d = defer.Deferred()
            self._waiting.append((d, message))
        else:
            d = self._decide(message)
        if d.called:
            return d
        self.inFlight.add(d)
        d.addBoth(self._finished, d)
        return d

    def _finished(self, result, d):
        self.inFlight.discard(d)
        return result
