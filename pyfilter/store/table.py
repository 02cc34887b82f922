"""
A named table of the store as a filter uses it: keys are tuples of texts,
and entries the reference wrote (imported with C{pyfilter import-state})
are found under the reference's keys.
"""

from twisted.internet import defer

from pyfilter.store.base import REFERENCE_SUFFIX, StoreError
from pyfilter.store.keys import referenceKey, tupleKey


class Table:
    """
    One named table of a store, keyed by tuples of texts; optionally falls
    back to entries imported from the reference (keyed by the reference's
    MD5) and moves each one it finds to its new key.
    """

    def __init__(self, store, name, reference=False):
        self.store = store
        self.name = name
        self.reference = reference
        self.referenceName = name + REFERENCE_SUFFIX

    @defer.inlineCallbacks
    def start(self):
        """
        Look whether imported reference entries exist (once, at start).
        """
        if self.reference:
            try:
                self.reference = yield self.store.hasAny(self.referenceName)
            except StoreError:
                pass  # keep looking them up; the store logged the outage

    @defer.inlineCallbacks
    def get(self, parts, referenceParts=None):
        """
        The value for the tuple C{parts}, or C{None}; C{referenceParts} are
        the texts the reference hashed for it, when they differ.
        """
        value = yield self.store.get(self.name, tupleKey(*parts))
        if value is None:
            value = yield self.adopt(parts, referenceParts)
        return value

    @defer.inlineCallbacks
    def adopt(self, parts, referenceParts=None):
        """
        Move the imported reference entry for C{parts} to its own key.

        @return: its value, or C{None} when there is none.
        """
        if not self.reference:
            return None
        found = yield self.store.pop(self.referenceName,
                                     referenceKey(*(referenceParts or parts)))
        if found is None:
            return None
        value, expires = found
        yield self.store.set(self.name, tupleKey(*parts), value,
                             expires - self.store.now())
        return value

    def set(self, parts, value, ttl):
        return self.store.set(self.name, tupleKey(*parts), value, ttl)

    def add(self, parts, value, ttl):
        return self.store.add(self.name, tupleKey(*parts), value, ttl)

    def refresh(self, parts, value, ttl):
        return self.store.refresh(self.name, tupleKey(*parts), value, ttl)

    def delete(self, parts):
        return self.store.delete(self.name, tupleKey(*parts))

    def increment(self, parts, window, bucket=60):
        return self.store.increment(self.name, tupleKey(*parts), window,
                                    bucket)
