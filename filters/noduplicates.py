"""
noduplicates: deliver once to a recipient that alias expansion listed twice.

When the same address appears more than once among the undelivered
recipients (for example someone named directly and again through an alias),
every later occurrence is marked delivered in the control file and logged as
C{noduplicates filter: Removing duplicate address "<address>" from control
file.}; the first occurrence stays.  Never decides (no opinion).  No
options.

Addresses compare exactly in the local part and case-insensitively in the
domain.  Unlike the reference, the DSN NOTIFY flags of the removed copies
are merged into the kept recipient (so nobody loses a notification they
asked for; the default and NOTIFY=NEVER give the default), and all edits of
a message are written at once.
"""

from pyfilter.courier import controledit
from pyfilter.engine.filter import Filter


def canonical(rawAddress):
    """
    The comparison key of an address: its domain lower-cased.
    """
    local, at, domain = rawAddress.rpartition(b"@")
    return local + at + domain.lower() if at else rawAddress


class NoDuplicates(Filter):
    onError = None

    def match(self, message):
        recipients = message.recipients
        if len({canonical(r.rawAddress) for r in recipients}) == len(
                recipients):
            return None
        kept = {}
        merged = {}
        edits = message.editControl()
        for recipient in recipients:
            key = canonical(recipient.rawAddress)
            if key not in kept:
                kept[key] = recipient
                merged[key] = recipient.notify
                continue
            self.log.info('noduplicates filter: Removing duplicate address '
                          '"{address}" from control file.',
                          address=recipient.address)
            edits.markDone(recipient, "duplicate removed by noduplicates")
            merged[key] = controledit.mergeNotify(merged[key],
                                                  recipient.notify)
        for key, recipient in kept.items():
            if merged[key] != recipient.notify:
                edits.setNotify(recipient, merged[key])
        edits.commit()
        return None


FILTER = NoDuplicates
