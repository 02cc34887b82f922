"""
What C{pyfilter reload} and C{pyfilter status} share: finding the daemon's
control socket (L{pyfilter.daemon.control}) and asking it one command,
without a reactor.
"""

import json
import os
import socket

from twisted.python import usage

from pyfilter.config.locations import controlSocketFor
from pyfilter.courier.paths import discover

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 64
EXIT_UNREACHABLE = 69

#: The longest answer read.
MAX_ANSWER = 1 << 20


class Unreachable(Exception):
    """
    No daemon answers on the control socket.
    """


class ControlOptions(usage.Options):
    optParameters = [
        ["control", None, None, "the daemon's control socket [default: "
         "pyfilter.control in Courier's localstatedir]"],
        ["timeout", None, 120.0, "seconds to wait for the answer", float],
    ]

    def postOptions(self):
        if self["control"] is None:
            self["control"] = controlSocketFor(
                os.path.join(discover().allfiltersDir, "pyfilter"))


def ask(path, command, timeout):
    """
    Send C{command} to the control socket at C{path}.

    @return: the daemon's answer (a dict).
    @raise Unreachable: nobody listens there, or the answer is not one.
    """
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        try:
            s.connect(path)
            s.sendall(command.encode("ascii") + b"\n")
            answer = s.makefile("rb").readline(MAX_ANSWER)
        except OSError as e:
            raise Unreachable(f"{path}: {e.strerror or e}") from e
    try:
        decoded = json.loads(answer)
    except ValueError as e:
        raise Unreachable(f"{path}: not a pyfilter control socket "
                          f"(answer {answer[:80]!r})") from e
    if not isinstance(decoded, dict):
        raise Unreachable(f"{path}: unexpected answer {decoded!r}")
    return decoded


def _unreachable(program, error, stderr):
    stderr.write(f"pyfilter {program}: no daemon answers: {error}\n")
    return EXIT_UNREACHABLE


def askFromCommandLine(program, options, argv, stderr, unreachable=None):
    """
    Parse C{argv} into C{options} and ask the daemon C{program} (the
    command's name: C{reload}, C{status}).

    @param unreachable: called with the L{Unreachable} error and returning
        the exit status when no daemon answers; by default the error is
        printed, and the status is L{EXIT_UNREACHABLE}.
    @return: C{(answer, None)}, or C{(None, exit status)} when there is no
        answer (a usage error, no daemon).
    """
    try:
        options.parseOptions(argv)
    except usage.UsageError as e:
        stderr.write(f"{e}\n{options}")
        return None, EXIT_USAGE
    try:
        return ask(options["control"], program, options["timeout"]), None
    except Unreachable as e:
        if unreachable is not None:
            return None, unreachable(e)
        return None, _unreachable(program, e, stderr)
