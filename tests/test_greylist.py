"""
Tests for the greylist filter.
"""

from twisted.trial import unittest

from pyfilter.engine.reply import Reply
from pyfilter.store import REFERENCE_SUFFIX, referenceKey
from tests.statefilters import breakStore, decide, message, startFilter
from pyfilter.store import storeFor


def greylisted(wait):
    return Reply("451", f"4.7.1 Greylisting in action, please come back in {wait}")


class GreylistTests(unittest.TestCase):
    def setUp(self):
        self.filter, self.clock = startFilter(self, "greylist")

    def test_firstAttemptDeferred(self):
        """A new triplet gets the reference's 451 with the whole delay to wait."""
        self.assertEqual(decide(self, self.filter, message(self)),
                         greylisted("00:05:00"))

    def test_earlyRetryToldRemainingTime(self):
        """A retry before the delay is told the time still to wait."""
        decide(self, self.filter, message(self))
        self.clock.advance(100.7)
        self.assertEqual(decide(self, self.filter, message(self)),
                         greylisted("00:03:19"))

    def test_retryAfterDelayPasses(self):
        """A retry after greylist_time passes, and so does later mail."""
        decide(self, self.filter, message(self))
        self.clock.advance(300)
        self.assertIsNone(decide(self, self.filter, message(self)))
        self.clock.advance(60 * 60 * 24 * 30)
        self.assertIsNone(decide(self, self.filter, message(self)))

    def test_passedTripletExpires(self):
        """A passed triplet unused for senders_passed_ttl is greylisted again."""
        decide(self, self.filter, message(self))
        self.clock.advance(300)
        decide(self, self.filter, message(self))
        self.clock.advance(60 * 60 * 24 * 36)
        self.assertEqual(decide(self, self.filter, message(self)),
                         greylisted("00:05:00"))

    def test_pendingTripletExpires(self):
        """A first attempt is forgotten after senders_not_passed_ttl."""
        decide(self, self.filter, message(self))
        self.clock.advance(60 * 60 * 24)
        self.assertEqual(decide(self, self.filter, message(self)),
                         greylisted("00:05:00"))

    def test_sameNetworkShares(self):
        """Another address of the same /24 continues the same triplet."""
        decide(self, self.filter, message(self, ip="192.0.2.10"))
        self.clock.advance(300)
        self.assertIsNone(decide(self, self.filter,
                                 message(self, ip="192.0.2.99")))
        self.assertIsNotNone(decide(self, self.filter,
                                    message(self, ip="198.51.100.1")))

    def test_caseInsensitive(self):
        """Sender and recipient are compared without regard to case."""
        decide(self, self.filter, message(self))
        self.clock.advance(300)
        self.assertIsNone(decide(self, self.filter, message(
            self, sender="SENDER@example.org", recipients=["Rcpt@Example.test"])))

    def test_longestWaitOfRecipients(self):
        """With several recipients the reply gives the longest wait."""
        decide(self, self.filter, message(self, recipients=["a@example.test"]))
        self.clock.advance(200)
        self.assertEqual(decide(self, self.filter, message(
            self, recipients=["a@example.test", "b@example.test"])),
            greylisted("00:05:00"))

    def test_localMailSkipped(self):
        """Mail without a client address is not greylisted (the reference crashed)."""
        self.assertIsNone(decide(self, self.filter, message(self, ip=None)))

    def test_nullSenderSkipped(self):
        """Mail with the null sender is not greylisted."""
        self.assertIsNone(decide(self, self.filter, message(self, sender="")))

    def test_ipv6Network(self):
        """IPv6 clients are grouped by /48."""
        decide(self, self.filter, message(self, ip="2001:db8:1:2::1"))
        self.clock.advance(300)
        self.assertIsNone(decide(self, self.filter,
                                 message(self, ip="2001:db8:1:ffff::9")))

    def test_storeDown(self):
        """With the store down the answer is the on_store_error reply."""
        breakStore(self.filter)
        answer = decide(self, self.filter, message(self))
        self.assertEqual(answer.code, "451")
        self.assertIn("state store", answer.lines[0])


class GreylistOptionTests(unittest.TestCase):
    def test_greylistTime(self):
        """greylist_time sets the delay."""
        instance, clock = startFilter(self, "greylist", "greylist_time = 2\n")
        self.assertEqual(decide(self, instance, message(self)),
                         greylisted("00:00:02"))
        clock.advance(2)
        self.assertIsNone(decide(self, instance, message(self)))

    def test_zeroDelayStillDefersFirstAttempt(self):
        """With greylist_time 0 a first attempt is still deferred, as by the reference."""
        instance, _ = startFilter(self, "greylist", "greylist_time = 0\n")
        self.assertEqual(decide(self, instance, message(self)),
                         greylisted("00:00:00"))
        self.assertIsNone(decide(self, instance, message(self)))

    def test_storeErrorContinue(self):
        """on_store_error = 'continue' gives no opinion while the store is down."""
        instance, _ = startFilter(self, "greylist",
                                  "on_store_error = 'continue'\n")
        breakStore(instance)
        self.assertIsNone(decide(self, instance, message(self)))

    def test_importedTripletHonoured(self):
        """A passed triplet imported from the reference (MD5 of the concatenation) passes."""
        instance, clock = startFilter(self, "greylist")
        key = referenceKey("sender@example.org", "rcpt@example.test",
                           "192.0.2")
        self.successResultOf(storeFor(instance.context).set(
            "greylist_Passed" + REFERENCE_SUFFIX, key, clock.seconds() - 10,
            3600))
        self.successResultOf(instance.start())  # finds the imported entries
        self.assertIsNone(decide(self, instance, message(self)))
