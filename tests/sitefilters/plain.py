"""
A filter that needs no service: no on_error option.
"""

from pyfilter import Filter


class Plain(Filter):
    onError = None

    def match(self, message):
        return None


FILTER = Plain
