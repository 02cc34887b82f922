"""
Shadow mode through the real daemon: a filter in testing mode runs and
has its would-be answer logged, but the message goes through.
"""

from twisted.trial.unittest import SynchronousTestCase

from tests.daemon import Daemon


class ShadowModeTests(SynchronousTestCase):
    def daemon(self, chain, modules=None):
        daemon = Daemon(chain, modules)
        self.addCleanup(daemon.cleanup)
        daemon.start()
        return daemon

    def assertShadowed(self, daemon):
        self.assertEqual(daemon.request(*daemon.copyMessage("f-attachment")),
                         b"200 Ok\n")
        self.assertEqual(daemon.stop(), 0)
        self.assertIn("attachments=testing-554", daemon.log())

    def test_chainFileMarker(self):
        """C{attachments testing} in the chain file: logged, not refused."""
        self.assertShadowed(self.daemon("attachments testing\n"))

    def test_sectionOption(self):
        """C{testing = True} in the filter's section does the same."""
        self.assertShadowed(self.daemon(
            "attachments\n", "[attachments.py]\ntesting = True\n"))
