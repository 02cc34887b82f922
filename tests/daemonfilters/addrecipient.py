"""
A test filter that adds the recipient named by its option C{address} to
every message: the end-to-end tests check that Courier delivers to a
recipient added to the control file by a filter.
"""

from pyfilter import Filter, Option, string


class AddRecipient(Filter):
    options = {"address": Option("", string, "the recipient to add")}
    onError = None

    def match(self, message):
        edits = message.editControl()
        edits.addRecipient(self.config["address"])
        edits.commit()
        return None


FILTER = AddRecipient
