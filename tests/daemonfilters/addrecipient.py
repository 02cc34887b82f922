"""
A test filter that adds the recipient named by its option C{address} to
every message: the end-to-end tests check that Courier delivers to a
recipient added to the control file by a filter.
"""

from pyfilter.courier import controledit
from pyfilter.engine.filter import Filter
from pyfilter.engine.options import Option, string


class AddRecipient(Filter):
    options = {"address": Option("", string, "the recipient to add")}

    def match(self, message):
        controledit.addRecipient(message.controlPaths, self.config["address"])
        message.reloadControl()
        return None


FILTER = AddRecipient
