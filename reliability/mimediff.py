"""
The long run of the attachments filter's differential property
(tests/test_mime_differential.py): generated hostile messages, each either
refused as too complex or accepted with every name the email package finds
tested by the filter, and, where the scanner trusts its own reading, the
same parts and headers as the email package's; many more examples than CI,
a random seed.

    python -m reliability.mimediff [--examples 100000] [--seed N]

Prints one JSON object with the figures; exits 1 when the property breaks
(hypothesis prints the shrunk failing message).
"""

import argparse
import json
import os
import sys
import tempfile
import time

from hypothesis import given, seed

from pyfilter.courier import mime
from tests import test_mime_differential as differential


def run(examples, seedValue):
    """
    Check C{examples} generated messages; return the figures.
    """
    fd, path = tempfile.mkstemp(prefix="pyfilter-mimediff-")
    os.close(fd)
    rig = differential.FilterRig(path)
    counts = differential.Counts()
    bound = mime.MAX_HEADER_BYTES
    mime.MAX_HEADER_BYTES = differential.SMALL_HEADER_BOUND

    @differential.differentialSettings(examples, derandomize=False)
    @given(data=differential.messages())
    def check(data):
        differential.checkMessage(rig, data, counts)

    started = time.monotonic()
    try:
        seed(seedValue)(check)()
    finally:
        mime.MAX_HEADER_BYTES = bound
        os.unlink(path)
    return dict(examples=examples, seed=seedValue,
                seconds=round(time.monotonic() - started, 1),
                **counts.asDict())


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=int, default=100000)
    parser.add_argument("--seed", type=int, default=int(time.time()))
    args = parser.parse_args(argv)
    print(json.dumps(run(args.examples, args.seed)), flush=True)


if __name__ == "__main__":
    sys.exit(main())
