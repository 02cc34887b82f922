"""
C{pyfilter status}: what the running daemon is doing.

    pyfilter status [--control PATH] [--json]

Prints the daemon's process id and start time, the chain in service and
its generation (1 at start-up, one more per reload), the messages in
flight, the last reload's outcome and, when the daemon keeps metrics, its
figures.  C{--json} prints the daemon's answer as it came.

Exit status: 0 answered, 64 usage error, 69 no daemon answers.
"""

import json
import sys

from pyfilter.cli.controlclient import (
    EXIT_FAILED, EXIT_OK, ControlOptions, askFromCommandLine)


class Options(ControlOptions):
    synopsis = "Usage: pyfilter status [options]"
    optFlags = [["json", None, "print the daemon's answer as JSON"]]


def describe(status):
    """
    C{status} (the daemon's answer) as lines for an admin.
    """
    lines = [f"pid {status.get('pid')}, running since {status.get('started')}",
             f"generation {status.get('generation')}: "
             f"{' '.join(status.get('chain') or []) or '(empty chain)'}",
             f"messages in flight: {status.get('in_flight')}"]
    if status.get("retiring"):
        lines.append(f"older generations finishing: {status['retiring']}")
    last = status.get("last_reload")
    if last is None:
        lines.append("not reloaded since start-up")
    elif last.get("ok"):
        lines.append(f"last reload {last.get('at')}: ok")
    else:
        lines.append(f"last reload {last.get('at')}: FAILED: "
                     f"{last.get('error')}")
    if status.get("metrics"):
        lines += describeMetrics(status["metrics"])
    return lines


def _counts(counts):
    return ", ".join(f"{key} {value}" for key, value
                     in sorted(counts.items())) or "none"


def _mean(ms):
    return "" if ms is None else f", mean {ms:g} ms"


def describeMetrics(metrics):
    """
    The daemon's figures (L{pyfilter.daemon.metrics.Metrics.snapshot}) as
    lines for an admin.
    """
    lines = [f"messages: {_counts(metrics.get('messages', {}))}"
             f"{_mean(metrics.get('messages_ms'))}"]
    for name, entry in sorted(metrics.get("filters", {}).items()):
        line = (f"  {name}: {entry.get('count', 0)} checked"
                f"{_mean(entry.get('ms'))}; "
                f"{_counts(entry.get('verdicts', {}))}")
        if entry.get("errors"):
            line += f"; errors: {_counts(entry['errors'])}"
        lines.append(line)
    lines.append(f"outages: {_counts(metrics.get('outages', {}))}")
    for operation, entry in sorted(metrics.get("store", {}).items()):
        lines.append(f"  store {operation}: {entry.get('count', 0)}, "
                     f"{entry.get('failed', 0)} failed"
                     f"{_mean(entry.get('ms'))}")
    lines.append(f"reloads: {_counts(metrics.get('reloads', {}))}")
    lines.append(f"in flight {metrics.get('in_flight')}, connections "
                 f"{metrics.get('connections')}, threads busy "
                 f"{metrics.get('threads_busy')}")
    return lines


def main(argv, stdout=None, stderr=None):
    stdout = stdout or sys.stdout
    stderr = stderr or sys.stderr
    options = Options()
    status, exitStatus = askFromCommandLine("status", options, argv, stderr)
    if status is None:
        return exitStatus
    if not status.get("ok"):
        stderr.write(f"pyfilter status: {status.get('error')}\n")
        return EXIT_FAILED
    if options["json"]:
        stdout.write(json.dumps(status, indent=2, sort_keys=True) + "\n")
    else:
        stdout.write("".join(line + "\n" for line in describe(status)))
    return EXIT_OK
