"""
A small cell of the fault matrix (reliability/faults.py) through real
Courier: SMTP clients sending while pyfilter is SIGKILLed and restarted.
No message may be lost or delivered against the policy.
"""

from twisted.trial.unittest import SynchronousTestCase

from reliability import faults
from tests import courier


class FaultMatrixTests(SynchronousTestCase):
    def setUp(self):
        courier.requireCourier()
        self.addCleanup(courier.useFilter, None)

    def test_killedMidRun(self):
        """pyfilter SIGKILLed while clients send: nothing lost, nothing
        delivered unfiltered, and mail flows again after the restart."""
        result = faults.runCell("sigkill", messages=60, clients=3)
        self.assertEqual(result["sent"], 60, result)
        self.assertEqual(result["lost"], 0, result)
        self.assertEqual(result["unfiltered"], 0, result)
        self.assertGreater(result["delivered"], 0, result)
        self.assertGreater(result["rejected"], 0, result)

    def test_courierfilterStopped(self):
        """courierfilter stopped and started while clients send: nothing
        lost, nothing delivered unfiltered."""
        result = faults.runCell("courierfilter-stop", messages=60, clients=3)
        self.assertEqual(result["lost"], 0, result)
        self.assertEqual(result["unfiltered"], 0, result)

