"""
The attachments filter's two paths, measured in-process: what its own scan
costs (L{pyfilter.courier.mime}, the path of well-formed mail) and what reading a
message with the email package costs (L{pyfilter.courier.emailscan}, the path of
messages whose structure the scan cannot be sure of), on the benchmark
fixtures; and how often real messages take the second path, over the
corpora of tests/test_mime_corpora.py.  Writes C{benchmarks/scanpaths.json}
and the section of C{RESULTS.md} made from it (C{report.scanPathLines};
C{run.py} keeps the section when it rewrites the file).

Run with a Python that has pyfilter's dependencies, the corpora downloaded
(tools/test.sh does both):

    PYFILTER_MAIL_CORPORA=/var/cache/pyfilter-test/mail-corpora \\
        /opt/pyfilter-test/bin/python -m benchmarks.scanpaths
"""

import argparse
import collections
import json
import os
import platform
import statistics
import sys
import tempfile
import time

from benchmarks import fixtures, report
from pyfilter.courier import emailscan
from pyfilter.courier import mime
from pyfilter.courier.control import ControlFile, ControlFiles
from pyfilter.engine.message import Message
from tests.test_mime_corpora import allCorpora
from tests.test_mime_differential import attachmentsFilter

HERE = os.path.dirname(os.path.abspath(__file__))
#: Timed repetitions per fixture and path (the 5 MB email path: a tenth).
REPETITIONS = 200


def _median(function, repetitions):
    times = []
    for _ in range(repetitions):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return round(statistics.median(times) * 1000, 3)


def timePaths(workDir, repetitions=REPETITIONS):
    """
    Median milliseconds of each path on copy 0 of each fixture kind.
    """
    filter = attachmentsFilter()
    pattern = filter.config["blocked_pattern"]
    control = ControlFiles([ControlFile.parse("c", b"MX\n")])
    found = {}
    for kind, pairs in fixtures.buildFixtures(workDir).items():
        path = pairs[0][0]

        def scan():
            reply = filter.consider(Message(path, [], control=control))
            assert reply is None, reply

        def read():
            names = emailscan.emailNames(path)
            assert names.refused is None and not any(
                pattern.match(name) for name in names.names)

        assert mime.scanStructure(path).anomaly is None
        count = repetitions // 10 if kind == "5m" else repetitions
        found[kind] = {"bytes": os.path.getsize(path),
                       "scanMs": _median(scan, count),
                       "emailPackageMs": _median(read, count)}
    return found


def corpusPaths():
    """
    Per corpus: its messages, how many the scan leaves to the email
    package (and why), how many are refused.
    """
    corpora, missing = allCorpora()
    fd, path = tempfile.mkstemp(prefix="pyfilter-scanpaths-")
    os.close(fd)
    rows = []
    try:
        for corpus, messages in corpora:
            reasons = collections.Counter()
            refused = 0
            for _, data in messages:
                with open(path, "wb") as f:
                    f.write(data)
                structure = mime.scanStructure(path)
                if structure.anomaly is not None:
                    reasons[structure.anomaly.split(" (at byte")[0]] += 1
                    refused += emailscan.emailNames(path).refused is not None
                else:
                    refused += structure.truncated
            rows.append({"corpus": corpus, "messages": len(messages),
                         "emailPackage": sum(reasons.values()),
                         "refused": refused, "reasons": dict(reasons)})
    finally:
        os.unlink(path)
    return rows, missing


def measure(workDir):
    rows, missing = corpusPaths()
    return {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "interpreter": f"{platform.python_implementation()} "
                           f"{platform.python_version()}",
            "loadAverageBefore": list(os.getloadavg()),
            "fixtures": timePaths(workDir), "corpora": rows,
            "emailPackageMaxBytes": emailscan.MAX_BYTES,
            "missingCorpora": missing,
            "loadAverageAfter": list(os.getloadavg())}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", default=os.path.join(HERE, "work"))
    parser.add_argument("--output", default=os.path.join(HERE, "RESULTS.md"))
    args = parser.parse_args(argv)
    figures = measure(args.work)
    report.saveFigures(figures, report.SCAN_PATHS, args.output,
                       report.SCAN_PATHS_HEADING, report.scanPathSection)
    print(json.dumps(figures, indent=1))


if __name__ == "__main__":
    sys.exit(main())
