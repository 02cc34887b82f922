"""
A filter whose answer the test sets: C{ANSWER} (a value or a callable of
the message), for the filter base's tests.
"""

from pyfilter import Filter, Option, Reply, boolean

ANSWER = [None]


class BaseTest(Filter):
    options = {
        "unavailable_reply": Option(False, boolean, "an own option that "
                                    "has an old outage option's name"),
    }
    onError = "451 4.3.0 basetest: {reason} ({filter})"
    invertible = True
    matchReply = Reply("550", "not matched")

    def match(self, message):
        answer = ANSWER[0]
        return answer(message) if callable(answer) else answer


FILTER = BaseTest
