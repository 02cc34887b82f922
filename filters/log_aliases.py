"""
log_aliases: log the original address of recipients reached through an
alias.

For each undelivered recipient whose original recipient (the C{R} record,
the DSN ORCPT) is not empty, logs
C{Message delivered to <recipient> was originally addressed to <original>.}
with a leading C{rfc822;} removed from the original.  Never decides (no
opinion).  No options.
"""

from pyfilter.engine.filter import Filter

_ORCPT_PREFIX = "rfc822;"


class LogAliases(Filter):
    onError = None

    def match(self, message):
        for recipient in message.recipients:
            original = recipient.original
            if not original:
                continue
            if original.startswith(_ORCPT_PREFIX):
                original = original[len(_ORCPT_PREFIX):]
            self.log.info("Message delivered to {recipient} was originally "
                          "addressed to {original}.",
                          recipient=recipient.address, original=original)
        return None


FILTER = LogAliases
