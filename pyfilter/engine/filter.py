"""
The base of every filter, in the spirit of Courier::Filter's modules.

A filter module in C{filters/} defines one subclass of L{Filter} and names it
C{FILTER}.  The subclass

  - lists its own options in C{options} (those of the reference's
    C{[NAME.py]} section, with the reference's defaults) as
    L{pyfilter.engine.options.Option}s: the framework reads the section,
    checks every value and hands the filter a plain dictionary,
    C{self.config};
  - implements C{match(message)}: C{None} (no opinion), a
    L{pyfilter.engine.reply.Reply}, or a Deferred firing with either;
  - may implement C{start()} (connect to its service, open its tables) and
    C{stop()}.

The framework gives every filter these options as well (L{COMMON_OPTIONS}):

  - C{testing}: the filter runs and what it would have answered is logged,
    but the chain goes on as if it had no opinion: how an admin rolls out a
    filter on live mail;
  - C{timeout}: seconds the filter may take on one message (default: the
    C{[pyfilter]} section's C{filter_timeout});
  - C{on_error}: the answer when a service the filter needs cannot answer
    (C{match} fails with L{pyfilter.outage.Unavailable}, or does not finish
    within its time): a reply (C{{reason}} and C{{filter}} are filled in)
    or C{'continue'} for no opinion.  The default is the class's
    L{Filter.onError}.  The older names C{unavailable_reply} (C{''} for no
    opinion) and C{on_store_error} are still read;
  - C{inverse}, for filters whose test is yes-or-no (C{invertible}): a
    match becomes no opinion and no match becomes the filter's
    C{matchReply}.

Exceptions other than outages, and a chain-wide timeout, are the chain's
business: the message gets a 451 and a log line naming the filter.
"""

import inspect
import sys
import textwrap

from twisted.internet import defer
from twisted.logger import Logger

from pyfilter.engine.options import Option, boolean, onError, positiveNumber
from pyfilter.engine.reply import CONTINUE, Reply
from pyfilter.outage import TimedOut, Unavailable

#: Seconds kept back from a filter's time, so that the filter answers its
#: C{on_error} before the chain gives up on it: a tenth, at most this.
MARGIN = 1.0

#: Options that older configurations use for C{on_error}, and how their
#: values translate.
RENAMED = {
    "unavailable_reply": lambda value: CONTINUE if value == "" else value,
    "on_store_error": lambda value: value,
}


def commonOptions(filterClass, settings):
    """
    The options the framework gives C{filterClass}, with their defaults.

    @param settings: the daemon's C{[pyfilter]} settings.
    """
    common = {
        "testing": Option(False, boolean, "log what the filter would answer, "
                          "answer no opinion"),
        "timeout": Option(settings["filter_timeout"], positiveNumber,
                          "seconds the filter may take on one message"),
    }
    if filterClass.onError is not None:
        common["on_error"] = Option(
            filterClass.onError, onError, "the answer when a service the "
            "filter needs cannot answer: a reply, or 'continue'")
    if filterClass.invertible:
        common["inverse"] = Option(False, boolean, "a match gives no opinion, "
                                   "no match gives the filter's reply")
    return common


def ownOptions(filterClass):
    """
    The options C{filterClass} declares, with those its bases declare
    (a base's first, so that a subclass may change one).
    """
    options = {}
    for cls in reversed(filterClass.__mro__):
        options.update(vars(cls).get("options", {}))
    return options


def describe(filterClass, name, settings):
    """
    What an admin reads about filter C{name}: its module's documentation,
    then every option it has with its default and what it does (from the
    L{Option}s themselves, so that nothing is written twice).
    """
    module = sys.modules.get(filterClass.__module__)
    text = inspect.cleandoc((module and module.__doc__) or name)
    sections = [(f"Options (section [{name}.py])", ownOptions(filterClass)),
                ("Options every filter has",
                 commonOptions(filterClass, settings))]
    for title, options in sections:
        if not options:
            continue
        text += f"\n\n{title}:\n"
        for option, spec in options.items():
            text += f"\n  {option} = {spec.default!r}\n"
            text += textwrap.fill(spec.doc or "(undocumented)", 72,
                                  initial_indent="      ",
                                  subsequent_indent="      ") + "\n"
    return text


def configure(filterClass, name, modules, settings):
    """
    Read and check filter C{name}'s section of the modules file.

    @return: C{(config, unknown)}: the checked values of the filter's own
        and the common options, and the names of options nobody knows.
    @raise ConfigError: a value is refused, or C{on_error} is given under
        two names.
    """
    specs = commonOptions(filterClass, settings)
    specs.update(ownOptions(filterClass))
    renamed = {}
    if "on_error" in specs:
        renamed["on_error"] = {old: translate for old, translate
                               in RENAMED.items() if old not in specs}
    return modules.checkedSection(f"{name}.py", specs, renamed)


def gather(deferreds):
    """
    Wait for several Deferreds at once (lookups run in parallel): a Deferred
    of their results in order, failing with the first failure itself (so
    that an outage is still an L{Unavailable}).
    """
    d = defer.gatherResults(list(deferreds), consumeErrors=True)
    return d.addErrback(lambda f: f.value.subFailure
                        if f.check(defer.FirstError) else f)


class Filter:
    """
    Base of every filter.

    @cvar name: the filter's chain name (its module name).
    @cvar options: option name to L{Option}: the filter's own options (a
        base's options are the subclass's too).
    @cvar onError: the default of C{on_error}: a reply, C{'continue'}, or
        C{None} for a filter that needs no service (it then has no
        C{on_error} option).
    @cvar invertible: whether the filter has the C{inverse} option.
    @cvar matchReply: what an inverted filter answers when C{match} finds
        nothing.
    @ivar config: the checked option values.
    @ivar context: the daemon's L{pyfilter.engine.context.Context}.
    """

    name = None
    options = {}
    onError = "451 4.3.0 Temporary failure in mail filter {filter}: {reason}"
    invertible = False
    matchReply = None
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

    def match(self, message):
        """
        Decide about C{message}: C{None}, a Reply, or a Deferred of either.
        Fail with L{Unavailable} when a service cannot answer.
        """
        raise NotImplementedError()

    def consider(self, message):
        """
        What the chain asks: L{match}, with C{on_error} applied to outages
        (and to a match that takes longer than the filter's time) and
        C{inverse} applied to the answer.  A filter without C{on_error}
        (its class's C{onError} is C{None}) has no outages: what fails in
        it, or takes too long, is the chain's business (a 451).
        """
        handlesOutages = "on_error" in self.config
        try:
            outcome = self.match(message)
        except Unavailable as e:
            if not handlesOutages:
                raise
            return self.unavailable(message, e)
        if not isinstance(outcome, defer.Deferred):
            return self._inverted(outcome)
        if not handlesOutages:
            return outcome.addCallback(self._inverted)
        if outcome.called:
            return outcome.addCallbacks(self._inverted, self._outage,
                                        errbackArgs=(message,))
        return self._bounded(outcome, message)

    def note(self, message, **details):
        """
        Record C{details} (names to short values: a score, an action) about
        C{message}, for the message's decision log line.
        """
        message.notes.setdefault(self.name, {}).update(details)

    def timeLeft(self, message):
        """
        Seconds this filter has left for C{message} before it must answer
        (its C{on_error} on an outage); C{None} outside a chain.
        """
        deadline = getattr(message, "deadline", None)
        if deadline is None:
            return None
        left = deadline - self.context.reactor.seconds()
        return max(left - min(MARGIN, left / 10), 0)

    def unavailable(self, message, error):
        """
        Log that C{error} (an L{Unavailable}) kept this filter from checking
        C{message}, and give its C{on_error} answer.
        """
        self.log.warn("{filter}: message {messageId} not checked: {reason}",
                      filter=self.name, messageId=message.messageId,
                      reason=error.reason)
        message.outages.append((self.name, error.service, error.reason))
        answer = self.config["on_error"]
        if answer == CONTINUE:
            return None
        return Reply.fromTemplate(answer, **dict(
            error.fields, reason=error.reason, filter=self.name))

    def _outage(self, failure, message):
        failure.trap(Unavailable)
        return self.unavailable(message, failure.value)

    def _bounded(self, pending, message):
        """
        Wait for C{pending} at most the filter's time left; past it, cancel
        it and answer C{on_error}.
        """
        left = self.timeLeft(message)
        if left is None:
            return pending.addCallbacks(self._inverted, self._outage,
                                        errbackArgs=(message,))
        timer = self.context.reactor.callLater(left, pending.cancel)

        def answered(outcome):
            if timer.active():
                timer.cancel()
            return self._inverted(outcome)

        def failed(failure):
            if timer.active():
                timer.cancel()
            elif failure.check(defer.CancelledError):
                return self.unavailable(message, TimedOut(
                    f"no answer within {left:.3g} seconds"))
            return self._outage(failure, message)

        return pending.addCallbacks(answered, failed)

    def _inverted(self, outcome):
        if self.config.get("inverse"):
            return None if outcome is not None else self.matchReply
        return outcome
