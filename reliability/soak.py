"""
The soak: a million messages through the daemon's socket at concurrency 64,
the way Courier sends them (a new connection per message), with the
attachments, whitelist_relayclients and greylist filters (greylist on the
embedded store).  The daemon's RSS is sampled every 10,000 messages and its
open file descriptors counted; it passes when every sample after the
warm-up stays within 10 % of the RSS at the end of the warm-up, the
descriptor count does not grow (beyond a few connections still closing), and every message got an answer.

    python -m reliability.soak [--messages 1000000] [--sample 10000]
        [--warmup 100000] [--concurrency 64]

Prints one JSON line per sample, then a JSON summary; exits 1 on failure.
The load generator is benchmarks/loadgen.py.
"""

import argparse
import json
import os
import sys
import time

from benchmarks import loadgen
from tests.daemon import Daemon

CHAIN = "attachments\nwhitelist_relayclients\ngreylist\n"
MODULES = "[greylist.py]\ngreylist_time = 0\n"
#: Distinct greylisting triplets in the rotation (state the store keeps).
TRIPLETS = 500
TOLERANCE = 0.10
#: Descriptors a sample may find beyond the warm-up count: connections
#: whose close the daemon has not yet processed when the sample is taken.
FD_SLACK = 4


def nonRelayCopy(daemon, sender):
    """a-plain without its RELAYCLIENT record and with its own sender: a
    message the greylist filter decides about."""
    dataPath, controlPaths = daemon.copyMessage("a-plain")
    with open(controlPaths[0], "rb") as f:
        records = f.read().split(b"\n")
    records = [b"s" + sender.encode() if r.startswith(b"s") else r
               for r in records if r != b"ORELAYCLIENT="]
    with open(controlPaths[0], "wb") as f:
        f.write(b"\n".join(records))
    return dataPath, controlPaths


def requests(daemon):
    """The rotation: relay clients (whitelisted), blocked attachments and
    greylisted triplets."""
    paths = []
    for index in range(TRIPLETS):
        paths.append(nonRelayCopy(daemon, f"soak{index}@example.org"))
        if index % 5 == 0:
            paths.append(daemon.copyMessage("a-plain"))
            paths.append(daemon.copyMessage("f-attachment"))
    return [loadgen.encodeRequest(data, control) for data, control in paths]


def openFiles(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def soak(messages, sample, warmup, concurrency):
    daemon = Daemon(CHAIN, MODULES)
    try:
        daemon.start()
        pid = daemon.process.pid
        rotation = requests(daemon)
        samples = []
        replies = {}
        errors = 0
        started = time.monotonic()
        for done in range(sample, messages + 1, sample):
            result = loadgen.runLoad(daemon.socketPath, rotation, concurrency,
                                     count=sample)
            errors += result["errors"]
            for code, count in result["replies"].items():
                replies[code] = replies.get(code, 0) + count
            point = dict(loadgen.processMemory(pid), messages=done,
                         fds=openFiles(pid), rate=round(result["rate"]),
                         p99ms=round(result["p99ms"], 1),
                         elapsed=round(time.monotonic() - started, 1))
            samples.append(point)
            print(json.dumps(point), flush=True)
        summary = judge(samples, warmup, errors, replies, messages)
        summary["exit"] = daemon.stop()
        return summary
    finally:
        daemon.cleanup()


def judge(samples, warmup, errors, replies, messages):
    after = [s for s in samples if s["messages"] > warmup]
    reference = max((s for s in samples if s["messages"] <= warmup),
                    key=lambda s: s["messages"], default=samples[0])
    low = min(s["rssMiB"] for s in after) if after else reference["rssMiB"]
    high = max(s["rssMiB"] for s in after) if after else reference["rssMiB"]
    drift = max(abs(low - reference["rssMiB"]),
                abs(high - reference["rssMiB"])) / reference["rssMiB"]
    fds = [s["fds"] for s in after] or [reference["fds"]]
    answered = sum(replies.values())
    passed = (drift <= TOLERANCE
              and max(fds) <= reference["fds"] + FD_SLACK
              and errors == 0 and answered == messages)
    return {"messages": messages, "answered": answered, "errors": errors,
            "replies": replies, "warmupRssMiB": reference["rssMiB"],
            "minRssMiB": low, "maxRssMiB": high,
            "driftPercent": round(drift * 100, 1),
            "fdsAtWarmup": reference["fds"], "maxFds": max(fds),
            "peakHwmMiB": max(s["hwmMiB"] for s in samples),
            "seconds": samples[-1]["elapsed"], "passed": passed}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=1000000)
    parser.add_argument("--sample", type=int, default=10000)
    parser.add_argument("--warmup", type=int, default=100000)
    parser.add_argument("--concurrency", type=int, default=64)
    args = parser.parse_args(argv)
    summary = soak(args.messages, args.sample, args.warmup, args.concurrency)
    print(json.dumps(summary), flush=True)
    return 0 if summary["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
