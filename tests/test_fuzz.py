"""
Property-based fuzzing (hypothesis) of everything that reads input Courier
or a sender controls: the request framing, the control-file parser and the
MIME scanner.  Each generated example is checked with a few derived
variants (other chunkings, truncations, CRLF line ends); CI-sized, over
100,000 inputs in all, derandomised so that a failure reproduces.
reliability/fuzz.py runs the same properties much longer.
"""

import os
import tempfile

from hypothesis import HealthCheck, given, settings
from twisted.trial.unittest import SynchronousTestCase

from tests import fuzzing
from tests.helpers import samplePaths

#: Generated examples per property in the CI-sized run.
EXAMPLES = {"framing": 9000, "control": 7000, "mime": 8000}
#: The inputs (examples and their variants) each property must reach.
MINIMUM_INPUTS = {"framing": 36000, "control": 40000, "mime": 24000}


def ciSettings(name):
    return settings(max_examples=EXAMPLES[name], deadline=None,
                    derandomize=True, database=None,
                    suppress_health_check=list(HealthCheck))


class FuzzTests(SynchronousTestCase):
    def setUp(self):
        dataPath, _ = samplePaths("a-plain")
        self.rig = fuzzing.FramingRig(
            os.path.dirname(os.path.dirname(dataPath)))
        self.rig.quiet(self.patch)
        self.inputs = 0

    def test_framing(self):
        """Any bytes in any chunks get exactly one well-formed reply, the
        connection closed and no timer left behind."""
        @ciSettings("framing")
        @given(data=fuzzing.requestBytes, cuts=fuzzing.chunkCuts)
        def framing(data, cuts):
            for variant in fuzzing.framingVariants(data, cuts):
                self.inputs += 1
                self.rig.run(*variant)
        framing()
        self.assertGreaterEqual(self.inputs, MINIMUM_INPUTS["framing"])

    def test_controlFiles(self):
        """Any control file bytes parse; reading the message's properties
        raises nothing but ControlFileError."""
        @ciSettings("control")
        @given(files=fuzzing.controlFileSets)
        def control(files):
            for variant in fuzzing.controlVariants(files):
                self.inputs += 1
                fuzzing.checkControl(variant)
        control()
        self.assertGreaterEqual(self.inputs, MINIMUM_INPUTS["control"])

    def test_mime(self):
        """Any message, hostile MIME trees included, is scanned within the
        part and depth bounds and its file names read without error."""
        fd, path = tempfile.mkstemp(prefix="pyfilter-fuzz-")
        os.close(fd)
        self.addCleanup(os.unlink, path)

        @ciSettings("mime")
        @given(data=fuzzing.mimeMessage)
        def mime(data):
            for variant in fuzzing.mimeVariants(data):
                self.inputs += 1
                fuzzing.checkMime(path, variant)
        mime()
        self.assertGreaterEqual(self.inputs, MINIMUM_INPUTS["mime"])
