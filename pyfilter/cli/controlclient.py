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


def parse(options, argv, stderr):
    """
    Parse C{argv} into C{options}.

    @return: C{None}, or the exit status of a usage error.
    """
    try:
        options.parseOptions(argv)
    except usage.UsageError as e:
        stderr.write(f"{e}\n{options}")
        return EXIT_USAGE
    return None
