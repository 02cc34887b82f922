"""
Tests for the ratelimit and ratelimitauth filters.
"""

from twisted.trial import unittest

from pyfilter.engine.reply import Reply
from tests.statefilters import breakStore, decide, message, startFilter


class RateLimitTests(unittest.TestCase):
    def test_limitPerAddress(self):
        """The message after max_connections within the minute gets the reference's 421."""
        instance, _ = startFilter(self, "ratelimit", "max_connections = 3\n")
        answers = [decide(self, instance, message(self)) for _ in range(4)]
        self.assertEqual(answers[:3], [None] * 3)
        self.assertEqual(answers[3], Reply(
            "421", "Too many messages from 192.0.2.10, slow down."))
        self.assertIsNone(decide(self, instance, message(self, ip="192.0.2.11")))

    def test_windowSlides(self):
        """Messages older than interval minutes no longer count."""
        instance, clock = startFilter(
            self, "ratelimit", "max_connections = 2\ninterval = 2\n")
        decide(self, instance, message(self))
        clock.advance(60)
        decide(self, instance, message(self))
        self.assertIsNotNone(decide(self, instance, message(self)))
        clock.advance(120)
        self.assertIsNone(decide(self, instance, message(self)))

    def test_limitNetwork(self):
        """With limit_network, a /24 shares one counter and the reply names the address."""
        instance, _ = startFilter(
            self, "ratelimit", "max_connections = 1\nlimit_network = True\n")
        decide(self, instance, message(self, ip="192.0.2.1"))
        self.assertEqual(decide(self, instance, message(self, ip="192.0.2.2")),
                         Reply("421", "Too many messages from 192.0.2.2, "
                               "slow down."))

    def test_localMailNotCounted(self):
        """Mail without a client address is not counted."""
        instance, _ = startFilter(self, "ratelimit", "max_connections = 0\n")
        self.assertIsNone(decide(self, instance, message(self, ip=None)))

    def test_storeDown(self):
        """With the store down the answer is the on_store_error reply."""
        instance, _ = startFilter(self, "ratelimit")
        breakStore(instance)
        self.assertEqual(decide(self, instance, message(self)).code, "451")


class RateLimitAuthTests(unittest.TestCase):
    def test_limitPerUser(self):
        """An authenticated user over the limit gets the reference's 421."""
        instance, _ = startFilter(self, "ratelimitauth",
                                  "max_connections = 1\n")
        self.assertIsNone(decide(self, instance, message(self, auth="alice")))
        self.assertEqual(decide(self, instance, message(self, auth="alice")),
                         Reply("421", "User alice has exceeded sending limits;"
                               " wait awhile and try again."))
        self.assertIsNone(decide(self, instance, message(self, auth="bob")))

    def test_defaults(self):
        """The defaults are 50 messages in 120 minutes."""
        instance, clock = startFilter(self, "ratelimitauth")
        for _ in range(50):
            self.assertIsNone(decide(self, instance, message(self, auth="a")))
            clock.advance(60)
        self.assertIsNotNone(decide(self, instance, message(self, auth="a")))
        clock.advance(60 * 71)
        self.assertIsNone(decide(self, instance, message(self, auth="a")))

    def test_unauthenticatedNotCounted(self):
        """Unauthenticated mail is not counted."""
        instance, _ = startFilter(self, "ratelimitauth",
                                  "max_connections = 0\n")
        self.assertIsNone(decide(self, instance, message(self)))

    def test_separateFromRatelimit(self):
        """ratelimitauth's counters are apart from ratelimit's."""
        auth, _ = startFilter(self, "ratelimitauth", "max_connections = 1\n")
        self.assertEqual(auth.counters.name, "ratelimitauth")
