"""
The decision line: one info-level log line per message, accepted or not,
with the envelope, each filter's verdict and milliseconds, the outages
met, the filters' notes, the final reply and the total time.

Fields (stable names): qid, client, helo, from, rcpts (count), to (the
list when there are at most five), auth, filters (C{name=verdict:ms,...};
a filter in testing mode shows C{testing-} before its would-be answer),
outages (C{filter:service,...}), notes (C{filter.key=value,...}), reply
(code), text, ms.  Lines are logfmt (C{key=value}, values with spaces,
quotes or C{=} quoted) or, in JSON mode, one JSON object per line.
"""

import json
import re
import time

from twisted.logger import Logger

from pyfilter.engine.reply import Reply

#: At most this many recipients are listed in C{to}.
MAX_LISTED = 5
#: A value that needs no quotes.
_BARE = re.compile(r'[^ ="\\\t\n\r]+\Z')


def quote(value):
    """
    Render C{value} as a logfmt value: bare when it is a plain word,
    otherwise in double quotes with C{\\} and C{"} escaped.
    """
    text = "" if value is None else str(value)
    if _BARE.match(text):
        return text
    text = text.replace("\\", "\\\\").replace('"', '\\"')
    text = text.replace("\n", "\\n").replace("\r", "\\r")
    return '"' + text.replace("\t", "\\t") + '"'


def logfmt(fields):
    """
    Render a list of (key, value) pairs as one logfmt line.
    """
    return " ".join(f"{key}={quote(value)}" for key, value in fields)


def verdict(entry, outcome):
    """
    The verdict word for what the chain observed of C{entry}.
    """
    if isinstance(outcome, Reply):
        word = outcome.code
    elif outcome is None:
        word = "continue"
    else:
        word = str(outcome)
    return "testing-" + word if entry.testing else word


class Decision:
    """
    The record of one message going through the chain; L{observe} is the
    observer given to L{pyfilter.engine.chain.Chain.decide}.
    """

    def __init__(self, message, clock=time.monotonic, metrics=None):
        self.message = message
        self.metrics = metrics
        self.clock = clock
        self.began = clock()
        self.seconds = None
        self.observed = []

    def observe(self, entry, outcome, seconds):
        if self.metrics is not None:
            self.metrics.filtered(entry, outcome, seconds)
        self.observed.append((entry, outcome, seconds))

    def fields(self, reply):
        """
        The line's fields as an ordered list of (key, value) pairs.
        """
        m = self.message
        try:
            rcpts = [r.address for r in m.recipients]
            envelope = [("client", m.remoteIP), ("helo", m.helo),
                        ("from", m.sender)]
            auth = m.authUser
        except Exception:
            rcpts, envelope, auth = [], [], None
        fields = [("qid", m.messageId)] + envelope
        fields.append(("rcpts", len(rcpts)))
        if rcpts and len(rcpts) <= MAX_LISTED:
            fields.append(("to", ",".join(rcpts)))
        if auth:
            fields.append(("auth", auth))
        fields.append(("filters", ",".join(
            f"{entry.name}={verdict(entry, outcome)}:{seconds * 1000:.1f}"
            for entry, outcome, seconds in self.observed)))
        if m.outages:
            fields.append(("outages", ",".join(
                f"{name}:{service}" for name, service, _ in m.outages)))
        if m.notes:
            fields.append(("notes", ",".join(
                f"{name}.{key}={value}"
                for name, details in m.notes.items()
                for key, value in details.items())))
        if self.seconds is None:
            self.seconds = self.clock() - self.began
        fields += [("reply", reply.code), ("text", " ".join(reply.lines)),
                   ("ms", f"{self.seconds * 1000:.1f}")]
        return fields


class DecisionLog:
    """
    Writes the decision line of each message and counts it in C{metrics}
    (a L{pyfilter.daemon.metrics.Metrics}) when given.

    The line is written once the reply has gone out (C{later}): the
    message's control files are read before the reply (Courier moves them
    once it has its answer), the rest of the line's work is then done
    while Courier goes on, and lines waiting meanwhile are written
    together.

    @ivar format: the C{[pyfilter]} C{decision_log} setting: C{"logfmt"},
        C{"json"} (JSON lines) or C{"off"} (no line).
    @ivar output: the L{pyfilter.daemon.logoutput.LogOutput} the lines are
        written to directly, or C{None}: they are then logged as events.
    @ivar later: called with a function to run after the replies being
        written have gone (the daemon's: in the reactor's next turn), or
        C{None} to write each line at once.
    """

    log = Logger()

    def __init__(self, format="logfmt", clock=time.monotonic, metrics=None,
                 output=None, later=None):
        self.format = format
        self.clock = clock
        self.metrics = metrics
        self.output = output
        self.later = later
        self.system = self.log.namespace + "#info"
        self._waiting = []

    @property
    def waiting(self):
        """
        Whether lines are waiting to be written.
        """
        return bool(self._waiting)

    def start(self, message):
        return Decision(message, self.clock, self.metrics)

    def finish(self, decision, reply):
        """
        Count C{decision} ended by C{reply} and have its line written;
        return C{reply} (a failure to write the line never changes the
        answer).
        """
        try:
            decision.seconds = self.clock() - decision.began
            if self.metrics is not None:
                self.metrics.decided(reply, decision.message.outages,
                                     decision.seconds)
            if self.format == "off":
                return reply
            if self.later is None:
                self._write(decision, reply)
                return reply
            decision.message.readControl()
            self._waiting.append((decision, reply))
            if len(self._waiting) == 1:
                self.later(self.flush)
        except Exception:
            self.log.failure("decision line not written")
        return reply

    def flush(self):
        """
        Write the lines waiting.
        """
        waiting, self._waiting = self._waiting, []
        for decision, reply in waiting:
            try:
                self._write(decision, reply)
            except Exception:
                self.log.failure("decision line not written")

    def _write(self, decision, reply):
        fields = decision.fields(reply)
        if self.format == "json":
            line = json.dumps(dict(fields))
        else:
            line = logfmt(fields)
        if self.output is None:
            self.log.info("decision {line}", line=line)
        else:
            self.output.writeLine(self.system, "decision " + line)
