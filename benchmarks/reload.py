"""
What a reload costs: the real daemon (from this checkout, on the test
virtualenv's Python) under the closed-loop load generator at c=1 and c=16,
once steady and once while C{reload} is sent on its control socket every
100 ms, the same duration each.  Reports the requests' msg/s and latency
both ways and the reload's round trip (read both files and Courier's,
build and start the new chain, swap it in).  Writes
C{benchmarks/reload.json} and the section of C{RESULTS.md} made from it
(C{report.reloadLines}; C{run.py} keeps the section when it rewrites the
file).

    /opt/pyfilter-test/bin/python -m benchmarks.reload
"""

import argparse
import json
import os
import sys
import threading
import time

from benchmarks import loadgen, report
from pyfilter.cli.controlclient import ask
from tests.daemon import Daemon

HERE = os.path.dirname(os.path.abspath(__file__))
CHAIN = ("whitelist_auth\ndeliveredto\nprivateaddr\nnoduplicates\n"
         "attachments\nratelimit\n")
MODULES = ("[ttldb]\ntype = 'dbm'\n"
           "[ratelimit.py]\nmax_connections = 1000000000\n")
SECONDS = 8.0
PAUSE = 0.1


def _percentiles(seconds):
    ordered = sorted(1000 * s for s in seconds)
    return {"reloads": len(ordered),
            "p50ms": loadgen.percentile(ordered, 0.50),
            "p99ms": loadgen.percentile(ordered, 0.99),
            "maxms": ordered[-1] if ordered else None}


class Reloader(threading.Thread):
    """
    Sends C{reload} every L{PAUSE} seconds until stopped, timing each.
    """

    def __init__(self, control):
        threading.Thread.__init__(self)
        self.control = control
        self.seconds = []
        self.failures = []
        self.stopping = threading.Event()

    def run(self):
        while not self.stopping.is_set():
            began = time.monotonic()
            answer = ask(self.control, "reload", 30)
            self.seconds.append(time.monotonic() - began)
            if not answer.get("ok"):
                self.failures.append(answer)
            self.stopping.wait(PAUSE)


def measure():
    daemon = Daemon(CHAIN, MODULES)
    daemon.start()
    try:
        control = os.path.join(daemon.spool, "pyfilter.control")
        requests = [loadgen.encodeRequest(*daemon.copyMessage("a-plain"))]
        cells = {}
        for concurrency in (1, 16):
            steady = loadgen.runLoad(daemon.socketPath, requests,
                                     concurrency, duration=SECONDS)
            reloader = Reloader(control)
            reloader.start()
            try:
                reloading = loadgen.runLoad(daemon.socketPath, requests,
                                            concurrency, duration=SECONDS)
            finally:
                reloader.stopping.set()
                reloader.join()
            cells[str(concurrency)] = {
                "steady": steady, "reloading": reloading,
                "reload": _percentiles(reloader.seconds),
                "failedReloads": len(reloader.failures)}
        generation = ask(control, "status", 10)["generation"]
    finally:
        daemon.stop()
    return {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "interpreter": sys.version.split()[0],
            "chain": CHAIN.split(), "seconds": SECONDS, "pause": PAUSE,
            "finalGeneration": generation, "cells": cells}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", default=os.path.join(HERE, "RESULTS.md"))
    args = parser.parse_args(argv)
    figures = measure()
    report.saveFigures(figures, report.RELOAD, args.output,
                       report.RELOAD_HEADING, report.reloadSection)
    print(json.dumps(figures, indent=1))


if __name__ == "__main__":
    sys.exit(main())
