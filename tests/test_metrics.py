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
        self.assertEqual(figures[
            "pyfilter_store_seconds_count{operation=get,result=ok}"], 1)
        self.assertEqual(figures[
            "pyfilter_filter_verdicts_total{filter=spam,verdict=testing-5xx}"
        ], 1)
        self.assertEqual(figures[
            "pyfilter_filter_errors_total{filter=clam,kind=timeout}"], 1)
        self.assertEqual(
            figures["pyfilter_messages_total{verdict=4xx}"], 1)
        self.assertEqual(
            figures["pyfilter_outages_total{service=clamd}"], 1)
        self.assertEqual(
            figures["pyfilter_reloads_total{result=failed}"], 1)
