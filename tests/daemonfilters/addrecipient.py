"""
A test filter that adds the recipient named by its option C{address} to
every message: the end-to-end tests check that Courier delivers to a
recipient added to the control file by a filter.
"""

from pyfilter import controledit
from pyfilter.filter import Filter, Option, string


class AddRecipient(Filter):
    options = {"address": Option("", string, "the recipient to add")}

    def consider(self, message):
        controledit.addRecipient(message.controlPaths, self.config["address"])
        message.reloadControl()
        return None


FILTER = AddRecipient
