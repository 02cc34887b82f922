"""
Tests for L{pyfilter.daemon.metrics}.
"""

from twisted.trial import unittest

from pyfilter.daemon.metrics import Metrics
from pyfilter.engine.chain import Entry
from pyfilter.engine.reply import Reply


class MetricsTests(unittest.TestCase):
    def test_snapshot(self):
        """Verdicts, errors, outages and reloads reach the snapshot."""
        metrics = Metrics()
        metrics.filtered(Entry("spam", None, testing=True),
                         Reply("550", "no"), 0.01)
        metrics.filtered(Entry("clam", None), "timeout", 2.0)
        metrics.decided(Reply("451", "later"),
                        [("clam", "clamd", "timed out")], 2.1)
        metrics.reloaded(False)
        metrics.storeOperation("get", 0.002, True)
        figures = metrics.snapshot()
        self.assertEqual(figures["messages"], {"4xx": 1})
        self.assertEqual(figures["messages_ms"], 2100.0)
        self.assertEqual(figures["filters"], {
            "spam": {"verdicts": {"testing-5xx": 1}, "errors": {},
                     "count": 1, "ms": 10.0},
            "clam": {"verdicts": {"timeout": 1}, "errors": {"timeout": 1},
                     "count": 1, "ms": 2000.0}})
        self.assertEqual(figures["outages"], {"clamd": 1})
        self.assertEqual(figures["store"],
                         {"get": {"count": 1, "failed": 0, "ms": 2.0}})
        self.assertEqual(figures["reloads"], {"failed": 1})
        self.assertEqual((figures["in_flight"], figures["connections"],
                          figures["threads_busy"]), (0, 0, 0))
