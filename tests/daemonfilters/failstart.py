"""
A test filter whose C{start} fails, as one does whose service is
misconfigured: the chain it is in cannot be put in service.
"""

from pyfilter import Filter


class FailStart(Filter):
    onError = None

    def start(self):
        raise OSError("cannot reach the test service")

    def match(self, message):
        return None


FILTER = FailStart
