"""
Running the configured filters over one message.

Semantics are the reference's: a filter's C{None} goes on to the next one;
a 2xx reply ends the chain and accepts, unless the entry has a C{for} list,
in which case those filters are skipped for this message and the chain goes
on; a 0xx reply ends the chain and also tells Courier to skip its later
filters; 4xx and 5xx reject.  When no filter decides the answer is
C{200 Ok}.

Unlike the reference, nothing fails open: an exception in a filter, a filter
that does not answer within its timeout, or a message that is not decided
within the per-message deadline each give a 451 temporary failure and a log
line naming the filter and the message.
"""

from twisted.internet import defer
from twisted.logger import Logger
from twisted.python.failure import Failure

from pyfilter.courier.control import ControlFileError
from pyfilter.engine.reply import CONTROL_FAILURE, OK, Reply

FILTER_FAILED = "Temporary failure in mail filter {}, try again later"
FILTER_TIMED_OUT = "Mail filter {} did not answer in time, try again later"
DEADLINE = Reply("451", "4.3.0 Mail filtering took too long, try again later")
CONFIG_ERROR = Reply(
    "451", "4.3.5 Mail filter configuration error, try again later")

#: What an observer of L{Chain.decide} is told for a filter it skipped.
SKIPPED = "skipped"


class Entry:
    """
    One line of the chain: a filter, the names it bypasses on a 2xx reply,
    its timeout in seconds, and whether it runs in testing mode (its answer
    is logged, then the chain goes on as if it had no opinion).
    """

    def __init__(self, name, filter, bypass=frozenset(), timeout=60.0,
                 testing=False):
        self.name = name
        self.filter = filter
        self.bypass = frozenset(bypass)
        self.timeout = timeout
        self.testing = testing


class Chain:
    """
    @ivar entries: the L{Entry}s, in order.
    @ivar deadline: seconds a message may take in all.
    """

    log = Logger()

    def __init__(self, entries, reactor, deadline=300.0):
        self.entries = list(entries)
        self.reactor = reactor
        self.deadline = deadline

    def decide(self, message, observe=None):
        """
        Run the chain over C{message}.

        @param observe: called as C{observe(entry, outcome, seconds)} for
            each L{Entry}, where outcome is the Reply, C{None}, L{SKIPPED},
            or what went wrong (C{"error"}, C{"timeout"}, C{"deadline"});
            an entry in testing mode is observed with what it would have
            answered.
        @return: a Deferred that fires with the L{Reply}; it never fails.
        """
        return _Run(self, message, observe).start()


class StaticChain:
    """
    A chain that gives every message the same reply: used when the
    configuration is broken, so that no mail passes unfiltered.
    """

    log = Logger()

    def __init__(self, reply, reason):
        self.reply = reply
        self.reason = reason
        self.entries = []

    def decide(self, message, observe=None):
        self.log.warn("refusing message {messageId}: {reason}",
                      messageId=message.messageId, reason=self.reason)
        return defer.succeed(self.reply)


class _Run:
    """
    The state of one message going through the chain.
    """

    def __init__(self, chain, message, observe):
        self.chain = chain
        self.message = message
        self.observe = observe
        self.index = 0
        self.bypass = set()
        self.started = chain.reactor.seconds()
        self.result = defer.Deferred(self._cancelled)
        self.pending = None
        self.timer = None
        self.timedOut = None

    def _now(self):
        return self.chain.reactor.seconds()

    def start(self):
        self._next()
        return self.result

    def _next(self):
        entries = self.chain.entries
        while self.index < len(entries):
            entry = entries[self.index]
            self.index += 1
            if entry.name in self.bypass:
                self._observe(entry, SKIPPED, 0.0)
                continue
            began = self._now()
            self.message.deadline = began + self._delay(entry, began)[0]
            try:
                outcome = entry.filter.consider(self.message)
            except Exception:
                if self._conclude(entry, self._failure(entry, Failure(),
                                                       began)):
                    return
                continue
            if isinstance(outcome, defer.Deferred):
                self._wait(entry, outcome, began)
                return
            if self._decided(entry, outcome, began):
                return
        self._finish(None, OK)

    def _delay(self, entry, began):
        """
        Seconds C{entry} may take from C{began}: its own timeout, or what is
        left of the message's deadline if that is less; and whether it is
        its own timeout.
        """
        remaining = self.chain.deadline - (began - self.started)
        if entry.timeout < remaining:
            return entry.timeout, True
        return max(remaining, 0), False

    def _wait(self, entry, pending, began):
        self.pending = pending
        self.timer = None
        pending.addCallbacks(self._answered, self._errored,
                             callbackArgs=(entry, began),
                             errbackArgs=(entry, began))
        if self.pending is not pending:
            return  # answered at once (from memory): no timer needed
        delay, ownTimeout = self._delay(entry, began)
        # Which limit will cancel the filter: its own timeout (the message
        # gets FILTER_TIMED_OUT, naming it) or the message's deadline
        # (DEADLINE, whatever the filter); _errored tells the two apart.
        self.timedOut = entry if ownTimeout else None
        self.timer = self.chain.reactor.callLater(delay, pending.cancel)

    def _stopTimer(self):
        self.pending = None
        if self.timer is not None and self.timer.active():
            self.timer.cancel()
        self.timer = None

    def _answered(self, outcome, entry, began):
        self._stopTimer()
        if not self._decided(entry, outcome, began):
            self._next()

    def _errored(self, failure, entry, began):
        timerFired = self.timer is not None and not self.timer.active()
        self._stopTimer()
        if self.result.called:
            return None
        # A fired timer cancelled the filter.  self.timedOut (set in _wait)
        # says which limit it was: the filter's own timeout (a 451 naming
        # the filter, concluded like any reply) or, when the deadline came
        # first, the deadline (the whole message gets DEADLINE at once).
        if timerFired and self.timedOut is not entry:
            self.chain.log.warn(
                "message {messageId} not decided within {seconds}s "
                "(waiting for {filter})", filter=entry.name,
                seconds=self.chain.deadline, messageId=self.message.messageId)
            self._observe(entry, "deadline", self._now() - began)
            self._finish(entry, DEADLINE)
            return None
        if timerFired:
            self.chain.log.warn(
                "filter {filter} timed out after {seconds}s on message "
                "{messageId}", filter=entry.name, seconds=entry.timeout,
                messageId=self.message.messageId)
            self._observe(entry, "timeout", self._now() - began)
            reply = Reply("451", "4.3.0 " + FILTER_TIMED_OUT.format(
                entry.name))
        else:
            reply = self._failure(entry, failure, began)
        if not self._conclude(entry, reply):
            self._next()
        return None

    def _failure(self, entry, failure, began):
        """
        Log that C{entry}'s filter failed; the reply that failure gives.
        """
        self._observe(entry, "error", self._now() - began)
        if failure.check(ControlFileError):
            self.chain.log.warn(
                "filter {filter}, message {messageId}: {error}",
                filter=entry.name, error=failure.value,
                messageId=self.message.messageId)
            return CONTROL_FAILURE
        self.chain.log.failure(
            "filter {filter} failed on message {messageId}", failure,
            filter=entry.name, messageId=self.message.messageId)
        return Reply("451", "4.3.0 " + FILTER_FAILED.format(entry.name))

    def _decided(self, entry, outcome, began):
        """
        Act on a filter's answer; C{True} when the chain is over.
        """
        if isinstance(outcome, str):
            outcome = Reply.fromString(outcome) if outcome else None
        elif outcome is not None and not isinstance(outcome, Reply):
            return self._conclude(entry, self._failure(entry, Failure(
                TypeError(f"filter answered {type(outcome).__name__}, not a "
                          f"Reply")), began))
        self._observe(entry, outcome, self._now() - began)
        if outcome is None:
            return False
        if entry.bypass and outcome.digit == "2" and not entry.testing:
            self.bypass.update(entry.bypass)
            return False
        return self._conclude(entry, outcome)

    def _conclude(self, entry, reply):
        """
        Act on C{reply}, C{entry}'s answer other than no opinion: the end of
        the chain, unless the entry is in testing mode (then the answer is
        only logged).  C{True} when the chain is over.
        """
        if entry.testing:
            self.chain.log.info(
                "filter {filter} (testing) would have answered {reply} for "
                "message {messageId}", filter=entry.name, reply=str(reply),
                messageId=self.message.messageId)
            return False
        self._finish(entry, reply)
        return True

    def _observe(self, entry, outcome, seconds):
        if self.observe is not None:
            self.observe(entry, outcome, seconds)

    def _finish(self, entry, reply):
        if self.result.called:
            return
        if not reply.accepts:
            self._logRejection(entry, reply)
        self.result.callback(reply)

    def _cancelled(self, result):
        if self.pending is not None:
            pending = self.pending
            self._stopTimer()
            pending.cancel()

    def _logRejection(self, entry, reply):
        name = entry.name if entry is not None else "pyfilter"
        try:
            sender = self.message.sender or ""
            recipients = self.message.recipients
        except ControlFileError:
            self.chain.log.info("pyfilter {filter} reject: {reply}",
                                filter=name, reply=str(reply))
            return
        for recipient in recipients:
            self.chain.log.info(
                "pyfilter {filter} reject,from=<{sender}>,addr=<{recipient}>: "
                "{reply}", filter=name, sender=sender,
                recipient=recipient.address, reply=str(reply))
