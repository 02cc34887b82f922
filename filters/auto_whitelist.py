"""
auto_whitelist: learn whom authenticated users write to, and accept those
correspondents' replies.

For a message submitted with SMTP AUTH, every (sender, recipient) pair is
remembered and the filter has no opinion.  For other mail, when every
recipient has written to the sender before, the answer is C{200 Ok}
(accept; on a chain line C{auto_whitelist for A B}, skip A and B).
Addresses are compared without regard to case.  Mail without sender or with
the null sender is never whitelisted.  List it before whitelist_auth, or it
never sees authenticated mail.  The envelope sender can be forged: prefer a
C{for} list that keeps malware scanning.

Its options and their defaults:
C{pyfilter check --help-filter auto_whitelist}.  While the state store is
unavailable the filter gives no opinion (C{on_error}; the reference's name
C{on_store_error} is read too).

Pairs imported from the reference with C{pyfilter import-state} are
honoured.
"""

from pyfilter.engine.filter import Filter, gather
from pyfilter.engine.options import Option, nonNegativeInteger
from pyfilter.engine.reply import CONTINUE, OK
from pyfilter.store import Table, storeFor


class AutoWhitelist(Filter):
    options = {
        "whitelist_ttl": Option(
            60 * 60 * 24 * 30, nonNegativeInteger,
            "seconds a pair is remembered since an authenticated sender "
            "last used it (30 days)"),
        "whitelist_purge_interval": Option(
            60 * 60 * 12, nonNegativeInteger,
            "accepted for compatibility; expired pairs are removed by the "
            "store's background purge"),
    }
    onError = CONTINUE

    def start(self):
        self.pairs = Table(storeFor(self.context), "auto_whitelist",
                           reference=True)
        return self.pairs.start()

    def match(self, message):
        sender = (message.sender or "").lower()
        if not sender:
            return None
        recipients = {r.address.lower() for r in message.recipients}
        if message.authUser:
            now = self.pairs.store.now()
            d = gather(self.pairs.set((sender, r), now,
                                      self.config["whitelist_ttl"])
                       for r in recipients if r != sender)
            d.addCallback(lambda _: None)
        else:
            d = gather(self.pairs.get((r, sender)) for r in recipients)
            d.addCallback(lambda found: OK if all(
                value is not None for value in found) else None)
        return d


FILTER = AutoWhitelist
