"""
The long fuzz run: the properties of tests/test_fuzz.py (request framing,
control files, MIME scanner) with many more examples and a random seed,
reporting inputs, time and the daemon-side peak memory of this process.

    python -m reliability.fuzz [--examples 200000] [--seed N]

Prints one JSON object per property; exits 1 on the first broken property
(hypothesis prints the shrunk failing input).
"""

import argparse
import json
import os
import resource
import sys
import tempfile
import time

from hypothesis import HealthCheck, given, seed, settings

from tests import fuzzing
from tests.helpers import samplePaths


def runProperty(name, examples, seedValue):
    """
    Run one property for C{examples} generated examples; return its
    figures.
    """
    counter = {"inputs": 0}
    config = settings(max_examples=examples, deadline=None, database=None,
                      suppress_health_check=list(HealthCheck))
    if name == "framing":
        dataPath, _ = samplePaths("a-plain")
        rig = fuzzing.FramingRig(os.path.dirname(os.path.dirname(dataPath)))
        rig.quiet(setattr)

        @given(data=fuzzing.requestBytes, cuts=fuzzing.chunkCuts)
        def check(data, cuts):
            for variant in fuzzing.framingVariants(data, cuts):
                counter["inputs"] += 1
                rig.run(*variant)
    elif name == "control":
        @given(files=fuzzing.controlFileSets)
        def check(files):
            for variant in fuzzing.controlVariants(files):
                counter["inputs"] += 1
                fuzzing.checkControl(variant)
    else:
        fd, path = tempfile.mkstemp(prefix="pyfilter-fuzz-")
        os.close(fd)

        @given(data=fuzzing.mimeMessage)
        def check(data):
            for variant in fuzzing.mimeVariants(data):
                counter["inputs"] += 1
                fuzzing.checkMime(path, variant)
    started = time.monotonic()
    try:
        seed(seedValue)(config(check))()
    finally:
        if name == "mime":
            os.unlink(path)
    return {"property": name, "examples": examples, "seed": seedValue,
            "inputs": counter["inputs"],
            "seconds": round(time.monotonic() - started, 1),
            "maxRssMiB": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            // 1024}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=int, default=200000)
    parser.add_argument("--seed", type=int, default=int(time.time()))
    parser.add_argument("--property", action="append",
                        choices=["framing", "control", "mime"])
    args = parser.parse_args(argv)
    for name in args.property or ["framing", "control", "mime"]:
        print(json.dumps(runProperty(name, args.examples, args.seed)),
              flush=True)


if __name__ == "__main__":
    sys.exit(main())
