"""
Hostile messages through the real daemon (attachments, deliveredto), the
large case at full size: for each, the reply, the seconds it took and the
daemon's memory (VmRSS, VmHWM, anonymous RSS) afterwards.

    python -m reliability.hostile [--gigabytes 1]

Prints one JSON object per message.  The CI-sized checks are
tests/test_hostile.py.
"""

import argparse
import json
import os
import time

from tests.daemon import Daemon
from tests.test_hostile import (deeplyNested, evilPart, manyParts,
                                processStatus)

LINE = b"QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFB\n"


def largeMessage(gigabytes):
    """A writer of a C{gigabytes} GB message: one base64 part, then a
    blocked attachment."""
    chunk = LINE * (1024 * 1024 // len(LINE))

    def write(f):
        f.write(b"Subject: big\nContent-Type: multipart/mixed; boundary=b\n\n"
                b"--b\nContent-Transfer-Encoding: base64\n\n")
        for _ in range(int(gigabytes * 1024)):
            f.write(chunk)
        f.write(evilPart() + b"--b--\n")
    return write


def cases(gigabytes):
    yield "100k sibling parts", manyParts(100000)
    yield "100k nested multiparts", deeplyNested(100000)
    yield "100k nested message/rfc822", \
        b"Content-Type: message/rfc822\n\n" * 100000 + b"body\n"
    yield "10 MB header line", \
        b"X-Long: " + b"a" * (10 * 1024 * 1024) + b"\n\nbody\n"
    yield "5M folded header lines", \
        b"X-Folded: a\n" + b" b\n" * (5 * 1024 * 1024) + b"\nbody\n"
    yield f"{gigabytes} GB message", largeMessage(gigabytes)


def run(gigabytes):
    daemon = Daemon("attachments\ndeliveredto\n",
                    "[pyfilter]\nmessage_deadline = 120\n")
    try:
        daemon.start()
        baseline = processStatus(daemon.process.pid)
        print(json.dumps({"case": "idle daemon", **baseline}), flush=True)
        for name, content in cases(gigabytes):
            dataPath, controlPaths = daemon.copyMessage("a-plain")
            with open(dataPath, "wb") as f:
                content(f) if callable(content) else f.write(content)
            started = time.monotonic()
            reply = daemon.request(dataPath, controlPaths, timeout=120)
            seconds = time.monotonic() - started
            os.unlink(dataPath)
            print(json.dumps({"case": name, "reply": reply.decode().strip(),
                              "seconds": round(seconds, 2),
                              **processStatus(daemon.process.pid)}),
                  flush=True)
        daemon.stop()
    finally:
        daemon.cleanup()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gigabytes", type=float, default=1.0)
    run(parser.parse_args(argv).gigabytes)


if __name__ == "__main__":
    main()
