"""
A pyfilter-style filter on the Python path that always raises, for the
`pyfilter check` tests.
"""

from pyfilter.engine.filter import Filter


class Fails(Filter):
    def consider(self, message):
        raise RuntimeError("always fails")


FILTER = Fails
