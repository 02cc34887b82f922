"""
Tests for the auto_whitelist filter.
"""

from twisted.trial import unittest

from pyfilter.engine.reply import OK
from tests.statefilters import breakStore, decide, message, startFilter


class AutoWhitelistTests(unittest.TestCase):
    def setUp(self):
        self.filter, self.clock = startFilter(self, "auto_whitelist")

    def learn(self, sender="alice@example.test",
              recipients=("friend@example.org",)):
        self.assertIsNone(decide(self, self.filter, message(
            self, sender=sender, recipients=recipients, auth="alice")))

    def test_replyWhitelisted(self):
        """A reply from a correspondent of an authenticated user gets 200 Ok."""
        self.learn()
        self.assertEqual(decide(self, self.filter, message(
            self, sender="Friend@Example.org",
            recipients=["alice@example.test"])), OK)

    def test_strangerNoOpinion(self):
        """Mail from someone never written to gets no opinion."""
        self.learn()
        self.assertIsNone(decide(self, self.filter, message(
            self, sender="other@example.org",
            recipients=["alice@example.test"])))

    def test_everyRecipientMustKnowSender(self):
        """All recipients must have written to the sender."""
        self.learn()
        self.assertIsNone(decide(self, self.filter, message(
            self, sender="friend@example.org",
            recipients=["alice@example.test", "bob@example.test"])))

    def test_expiry(self):
        """A pair expires whitelist_ttl after it was learnt."""
        self.learn()
        self.clock.advance(60 * 60 * 24 * 30)
        self.assertIsNone(decide(self, self.filter, message(
            self, sender="friend@example.org",
            recipients=["alice@example.test"])))

    def test_missingOrNullSender(self):
        """Mail without sender or with the null sender is never whitelisted."""
        self.assertIsNone(decide(self, self.filter, message(
            self, sender=None, recipients=[])))
        self.assertIsNone(decide(self, self.filter, message(
            self, sender="", recipients=[])))

    def test_storeDownContinues(self):
        """With the store down the default is no opinion."""
        breakStore(self.filter)
        self.assertIsNone(decide(self, self.filter, message(self)))
