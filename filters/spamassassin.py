"""
spamassassin: have SpamAssassin's daemon (spamd) check each message and
refuse spam.

pyfilter speaks spamd's protocol itself (no spamc process per message),
streaming the message from its file.

Its options and their defaults: C{pyfilter check --help-filter
spamassassin}.  When spamd fails, cannot be reached or does not answer in
time the filter answers its C{on_error}, C{{reason}} replaced by the
reason (the reference's name C{unavailable_reply} is read too, C{''}
letting mail pass unchecked).

Reply: C{554 Mail rejected - spam detected: <X-Spam-Status>} (the header
SpamAssassin computed, unfolded).

A message that is checked and not refused gets SpamAssassin's result
headers, those spamd returns whose names begin with C{X-Spam-}
(C{X-Spam-Checker-Version}, C{X-Spam-Flag}, C{X-Spam-Level},
C{X-Spam-Status}, ...): any C{X-Spam-*} header the message already carried
is removed and SpamAssassin's are added on top, where SpamAssassin puts
them, folded as SpamAssassin folds them.  Only those header lines change;
every other byte of the message stays as it was, and the data file is
replaced atomically.
Unlike the reference, which replaces the whole message by spamc's output,
other changes SpamAssassin may make (a rewritten C{Subject}, the
C{report_safe} wrapping of spam) are not applied, and the message is never
touched when spamd failed or returned no C{X-Spam-} headers.  Messages over
C{max_msg_size} are neither checked nor changed.
"""

import re

from pyfilter.clients import spamd
from pyfilter.engine.filter import Filter
from pyfilter.engine.options import (
    Option,
    address,
    nonNegativeInteger,
    number,
    optional,
    positiveInteger,
    positiveNumber,
    string)
from pyfilter.engine.reply import Reply

_SCORE = re.compile(r"(?:^|\s)score=(-?\d+(?:\.\d+)?)(?:\s|$)")


def userName(value):
    if not isinstance(value, str) or not value or any(
            c.isspace() or ord(c) < 32 for c in value):
        raise ValueError("expected a user name without spaces")
    return value


def shouldReject(result, status, rejectScore):
    """
    The reference's decision from spamd's verdict and the unfolded
    X-Spam-Status value C{status}.
    """
    if rejectScore is None or not status:
        return result.isSpam
    if not status.startswith("Yes,"):
        return False
    score = _SCORE.search(status)
    return score is not None and float(score.group(1)) >= rejectScore


class SpamAssassin(Filter):
    options = {
        "spamc_path": Option("/usr/bin/spamc", string,
                             "accepted for compatibility and unused "
                             "(logged once)"),
        "max_msg_size": Option(512000, nonNegativeInteger,
                               "messages larger than this many bytes are "
                               "not checked (logged)"),
        "username": Option(None, optional(userName),
                           "the user whose SpamAssassin preferences apply; "
                           "None: spamd's default user"),
        "reject_score": Option(None, optional(number),
                               "None refuses every message spamd judges "
                               "spam; a number refuses only spam whose "
                               "score reaches it"),
        "spamd_address": Option("127.0.0.1:783", address,
                                "spamd's 'host:port' or UNIX socket path"),
        "spamd_timeout": Option(45.0, positiveNumber,
                                "seconds for a check, waiting included (the "
                                "filter's timeout should be longer)"),
        "max_connections": Option(8, positiveInteger,
                                  "concurrent connections to spamd; at most "
                                  "eight times as many checks wait for one"),
    }
    onError = "451 Spam scanner error: {reason}"

    def start(self):
        if "spamc_path" in self.context.modules.section("spamassassin.py"):
            self.log.info("spamassassin: spamc_path is not used, pyfilter "
                          "talks to spamd directly")
        self.spamd = spamd.SpamdClient(
            self.context.reactor, self.config["spamd_address"],
            self.config["spamd_timeout"], self.config["max_connections"])

    def match(self, message):
        if message.size > self.config["max_msg_size"]:
            self.log.info("spamassassin: message {messageId} not checked, "
                          "{size} bytes is over max_msg_size",
                          messageId=message.messageId, size=message.size)
            return None
        d = self.spamd.check(message.dataPath, self.config["username"])
        return d.addCallback(self._checked, message)

    def _checked(self, result, message):
        status = (result.headers.get("X-Spam-Status") or "")
        status = status.replace("\r", "").replace("\n", "")
        if shouldReject(result, status, self.config["reject_score"]):
            self.log.info("spamassassin: message {messageId} refused: "
                          "{status}", messageId=message.messageId,
                          status=status)
            return Reply("554", f"Mail rejected - spam detected: {status}")
        return self.tagMessage(message, result)

    def tagMessage(self, message, result):
        """
        Put SpamAssassin's C{X-Spam-*} headers into a message that passes,
        as spamc's output would have them: every C{X-Spam-*} field already
        in the message is removed and spamd's are added on top, in spamd's
        order.  Nothing else in the data file changes.
        """
        added = result.spamHeaders()
        if not added:
            self.log.warn("spamassassin: spamd returned no X-Spam headers "
                          "for message {messageId}, left unchanged",
                          messageId=message.messageId)
            return None
        present = {name.lower() for name in message.headers.keys()
                   if name.lower().startswith("x-spam-")}

        def change(edit):
            for name in present:
                edit.removeHeader(name)
            for name, value in reversed(added):
                edit.prependHeader(name, value)

        return message.rewrite(change)


FILTER = SpamAssassin
