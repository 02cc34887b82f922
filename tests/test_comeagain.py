"""
Tests for the comeagain filter.
"""

from twisted.trial import unittest

from pyfilter.engine.reply import Reply
from tests.statefilters import breakStore, decide, message, startFilter

SEND_AGAIN = Reply("421", "Please send the message again to prove you are "
                   "not spamware or virusware.")


class ComeAgainTests(unittest.TestCase):
    def setUp(self):
        self.filter, self.clock = startFilter(self, "comeagain")

    def test_firstThenAgain(self):
        """The first message of a pair gets the reference's 421, an immediate retry passes."""
        self.assertEqual(decide(self, self.filter, message(self)), SEND_AGAIN)
        self.assertIsNone(decide(self, self.filter, message(self)))

    def test_allRecipientsMustBeKnown(self):
        """One unknown recipient defers the message, and is remembered."""
        decide(self, self.filter, message(self, recipients=["a@example.test"]))
        both = ["a@example.test", "b@example.test"]
        self.assertEqual(decide(self, self.filter,
                                message(self, recipients=both)), SEND_AGAIN)
        self.assertIsNone(decide(self, self.filter,
                                 message(self, recipients=both)))

    def test_caseSensitive(self):
        """Pairs are case-sensitive, as the reference's."""
        decide(self, self.filter, message(self))
        self.assertEqual(decide(self, self.filter, message(
            self, sender="Sender@example.org")), SEND_AGAIN)

    def test_expiry(self):
        """A pair unseen for senders_ttl is forgotten."""
        decide(self, self.filter, message(self))
        self.clock.advance(60 * 60 * 24 * 30)
        self.assertEqual(decide(self, self.filter, message(self)), SEND_AGAIN)

    def test_nullSender(self):
        """The null sender is not checked."""
        self.assertIsNone(decide(self, self.filter, message(self, sender="")))

    def test_storeDown(self):
        """With the store down the answer is the on_store_error reply."""
        breakStore(self.filter)
        self.assertEqual(decide(self, self.filter, message(self)).code, "451")
