"""
End-to-end greylisting through a real Courier MTA (see tests/courier.py;
skipped where Courier cannot run): the first attempt gets 4xx at the SMTP
client, the retry after the delay is accepted and delivered.
"""

import time

from twisted.trial import unittest

from tests import courier

RECIPIENT = "alice@example.test"
CHAIN = "greylist\n"
MODULES = "[greylist.py]\ngreylist_time = 2\n"


class GreylistEndToEndTests(unittest.TestCase):
    timeout = 300

    def setUp(self):
        courier.requireCourier()
        courier.startCourier()
        courier.clearMailboxes()

    def test_retryAfterDelayDelivered(self):
        """The first attempt is deferred with the greylist reply, the retry after greylist_time is delivered."""
        # A sender never seen before, whatever earlier runs left in the store.
        sender = f"greylist-{time.time_ns()}@sender.example"
        message = courier.makeMessage(sender, RECIPIENT)
        courier.useFilter(CHAIN, MODULES)
        code, text = courier.send(sender, RECIPIENT, message, timeout=20)
        self.assertEqual(code // 100, 4, text)
        self.assertIn("Greylisting in action, please come back in 00:00:0",
                      text)
        time.sleep(2.2)
        code, text = courier.send(sender, RECIPIENT, message, timeout=20)
        self.assertEqual(code, 250, text)
        [delivered] = courier.waitForMail("alice", 1)
        self.assertIn(b"Subject: pyfilter e2e", delivered)
