"""
nosuccessdsn: suppress delivery notifications on success.

For every undelivered recipient whose DSN NOTIFY flags ask for a success
notification (C{NOTIFY=SUCCESS}), the success request is removed from its
C{N} record in place, keeping the other flags: C{SUCCESS,FAILURE} becomes
C{FAILURE}, C{SUCCESS} alone becomes C{NEVER}.  Never decides (no opinion).
No options.

Unlike the reference, the recipient is not marked delivered and added
again: its record is edited byte for byte, so addresses that are not UTF-8
stay intact and its other DSN flags are kept.
"""

from pyfilter.engine.filter import Filter


def withoutSuccess(notify):
    """
    NOTIFY flags without C{S}; C{N} (never) when nothing is left.
    """
    return notify.replace("S", "") or "N"


class NoSuccessDSN(Filter):
    onError = None

    def match(self, message):
        asking = [r for r in message.recipients if "S" in r.notify]
        if not asking:
            return None
        edits = message.editControl()
        for recipient in asking:
            edits.setNotify(recipient, withoutSuccess(recipient.notify))
        edits.commit()
        return None


FILTER = NoSuccessDSN
