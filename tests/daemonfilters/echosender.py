"""
A test filter that refuses every message with a reply embedding its
envelope sender, as localsenders and dialback do ("Sender does not exist:
<sender>").
"""

from pyfilter.engine.filter import Filter
from pyfilter.engine.reply import Reply


class EchoSender(Filter):
    def match(self, message):
        return Reply("517", f"Sender does not exist: {message.sender}")


FILTER = EchoSender
