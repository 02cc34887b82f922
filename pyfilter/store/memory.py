"""
A state store in the daemon's memory (C{[ttldb] type = 'memory'}): for
tests and single-server setups that accept losing state on restart.  Its
size is bounded by the background purge, which removes expired entries.
"""

from pyfilter.store.base import Store


class MemoryStore(Store):
    def __init__(self, clock, timeout=5.0, purgeInterval=300.0):
        super().__init__(clock, timeout, purgeInterval)
        self.entries = {}
        self.counters = {}

    def describe(self):
        return "memory"

    def _execute(self, operation, *args):
        return getattr(self, "_" + operation)(*args)

    def _live(self, name, key, now):
        entry = self.entries.get((name, key))
        if entry is not None and entry[1] > now:
            return entry
        return None

    def _get(self, name, key, now):
        entry = self._live(name, key, now)
        return entry[0] if entry else None

    def _set(self, name, key, value, expires):
        self.entries[(name, key)] = (value, expires)

    def _add(self, name, key, value, expires, now):
        if self._live(name, key, now) is None:
            self.entries[(name, key)] = (value, expires)

    def _refresh(self, name, key, value, expires, now):
        if self._live(name, key, now) is None:
            return False
        self.entries[(name, key)] = (value, expires)
        return True

    def _delete(self, name, key):
        self.entries.pop((name, key), None)

    def _pop(self, name, key, now):
        entry = self._live(name, key, now)
        self.entries.pop((name, key), None)
        return entry

    def _hasAny(self, name, now):
        return any(entryName == name and expires > now
                   for (entryName, _), (_, expires) in self.entries.items())

    def _increment(self, name, key, current, first, expires, events):
        buckets = self.counters.setdefault((name, key), {})
        count, _ = buckets.get(current, (0, expires))
        buckets[current] = (count + events, expires)
        return sum(count for bucket, (count, _) in buckets.items()
                   if first <= bucket <= current)

    def _purge(self, now):
        self.entries = {k: v for k, v in self.entries.items() if v[1] > now}
        for key, buckets in list(self.counters.items()):
            live = {b: v for b, v in buckets.items() if v[1] > now}
            if live:
                self.counters[key] = live
            else:
                del self.counters[key]
