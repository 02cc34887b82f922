"""
C{pyfilter reload}: make the running daemon read its configuration again.

    pyfilter reload [--control PATH] [--pid-file PATH]

The daemon builds the new chain beside the running one and swaps it in;
mail in flight finishes on the old chain.  When the new configuration
fails to load, the running chain stays in service and the error (file,
section, option) is printed.  Without a control socket, C{--pid-file}
names the daemon to send SIGHUP to (the outcome is then only in the log).

Exit status: 0 reloaded, 1 the new configuration failed (the old one still
runs), 64 usage error, 69 no daemon answers.
"""

import os
import signal
import sys

from pyfilter.cli.controlclient import (
    EXIT_FAILED, EXIT_OK, EXIT_UNREACHABLE, ControlOptions, Unreachable,
    askFromCommandLine)


class Options(ControlOptions):
    synopsis = "Usage: pyfilter reload [options]"
    optParameters = [
        ["pid-file", None, None, "when no control socket answers, send "
         "SIGHUP to the process this file names"],
    ]


def hangUp(pidFile):
    """
    Send SIGHUP to the process C{pidFile} names.

    @return: its pid.
    @raise Unreachable: no such file or process.
    """
    try:
        with open(pidFile, encoding="ascii") as f:
            pid = int(f.read().split()[0])
        os.kill(pid, signal.SIGHUP)
    except (OSError, ValueError, IndexError) as e:
        raise Unreachable(f"{pidFile}: {e}") from e
    return pid


def main(argv, stdout=None, stderr=None):
    stdout = stdout or sys.stdout
    stderr = stderr or sys.stderr
    options = Options()

    def signalInstead(error):
        if options["pid-file"] is None:
            stderr.write(f"pyfilter reload: no daemon answers: {error}\n")
            return EXIT_UNREACHABLE
        try:
            pid = hangUp(options["pid-file"])
        except Unreachable as e:
            stderr.write(f"pyfilter reload: no daemon answers: {error}; "
                         f"{e}\n")
            return EXIT_UNREACHABLE
        stdout.write(f"sent SIGHUP to process {pid} (no control socket: "
                     f"the outcome is in the daemon's log)\n")
        return EXIT_OK

    answer, status = askFromCommandLine("reload", options, argv, stderr,
                                        signalInstead)
    if answer is None:
        return status
    if not answer.get("ok"):
        stderr.write(f"pyfilter reload failed, the running chain stays in "
                     f"service: {answer.get('error')}\n")
        return EXIT_FAILED
    stdout.write(f"reloaded: generation {answer['generation']}, chain: "
                 f"{' '.join(answer['chain']) or '(empty)'}\n")
    return EXIT_OK
