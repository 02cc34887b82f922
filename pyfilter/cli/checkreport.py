"""
What C{pyfilter check} prints for each message it checks (as text, or as a
JSON object per line), and the summary of a run over several messages.
"""

import json

EXIT_ACCEPTED = 0
EXIT_ERROR = 1
EXIT_TEMPORARY = 4
EXIT_PERMANENT = 5

# From the best exit status to the worst: an error means a message was
# not checked at all, which an admin's script must notice first.
_SEVERITY = (EXIT_ACCEPTED, EXIT_TEMPORARY, EXIT_PERMANENT, EXIT_ERROR)


def verdict(outcome):
    """
    How a filter's outcome is shown: its reply, or a word.
    """
    if outcome is None:
        return "no opinion"
    return str(outcome)


def exitStatus(reply):
    if reply.accepts:
        return EXIT_ACCEPTED
    return EXIT_PERMANENT if reply.digit == "5" else EXIT_TEMPORARY


def worst(statuses):
    """
    The worst of exit statuses (an error, then a permanent refusal, then
    a temporary one); C{EXIT_ACCEPTED} for none.
    """
    return max(statuses, key=_SEVERITY.index, default=EXIT_ACCEPTED)


class Tally:
    """
    The count of messages per reply class and of messages not checked.
    """

    def __init__(self):
        self.statuses = []

    def add(self, status):
        self.statuses.append(status)

    def counts(self):
        return {"messages": len(self.statuses),
                "2xx": self.statuses.count(EXIT_ACCEPTED),
                "4xx": self.statuses.count(EXIT_TEMPORARY),
                "5xx": self.statuses.count(EXIT_PERMANENT),
                "errors": self.statuses.count(EXIT_ERROR)}

    def status(self):
        return worst(self.statuses)


class TextReport:
    """
    One line per filter as the chain reaches it (name, verdict, time), then
    the final reply; with several messages, each under a C{==> FILE <==}
    heading (with C{not checked: REASON} under it for a file that could not
    be read) and a summary line at the end.
    """

    def __init__(self, stdout, stderr, several):
        self.stdout = stdout
        self.stderr = stderr
        self.several = several

    def begin(self, path):
        if self.several:
            self.stdout.write(f"==> {path} <==\n")

    def observe(self, entry, outcome, seconds):
        testing = " (testing)" if entry.testing else ""
        self.stdout.write(f"{entry.name:20} {verdict(outcome)}{testing} "
                          f"({seconds * 1000:.1f} ms)\n")

    def final(self, reply):
        self.stdout.write(f"{reply}\n")

    def failed(self, path, reason):
        self.stderr.write(f"pyfilter check: {path}: {reason}\n")
        if self.several:
            self.stdout.write(f"not checked: {reason}\n")

    def summary(self, tally):
        if self.several:
            c = tally.counts()
            self.stdout.write(
                f"{c['messages']} messages: {c['2xx']} accepted (2xx), "
                f"{c['4xx']} temporary (4xx), {c['5xx']} refused (5xx), "
                f"{c['errors']} unreadable\n")


class JsonReport:
    """
    One JSON object per line and message: C{file}, C{code}, C{text} (the
    reply's lines joined by newlines), C{filters} (C{name}, C{verdict},
    C{testing}, C{ms} of each filter in order); for a message that could
    not be checked, C{file} and C{error}.  With several messages, a last
    line C{{"summary": {"messages": N, "2xx": N, "4xx": N, "5xx": N,
    "errors": N}}}.
    """

    def __init__(self, stdout, stderr, several):
        self.stdout = stdout
        self.stderr = stderr
        self.several = several

    def _write(self, record):
        self.stdout.write(json.dumps(record, ensure_ascii=False) + "\n")

    def begin(self, path):
        self.path = path
        self.filters = []

    def observe(self, entry, outcome, seconds):
        self.filters.append({"name": entry.name, "verdict": verdict(outcome),
                             "testing": entry.testing,
                             "ms": round(seconds * 1000, 1)})

    def final(self, reply):
        self._write({"file": self.path, "code": reply.code,
                     "text": "\n".join(reply.lines),
                     "filters": self.filters})

    def failed(self, path, reason):
        self.stderr.write(f"pyfilter check: {path}: {reason}\n")
        self._write({"file": path, "error": reason})

    def summary(self, tally):
        if self.several:
            self._write({"summary": tally.counts()})
