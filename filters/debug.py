"""
debug: log diagnostics about the daemon process and each message's files.

For every message, logs C{Debugging filter invoked:} followed by the
process's PID, working directory, effective and real user and group ids and
additional groups, then the data file's path and C{os.stat} result and the
same for each control file.  A file that cannot be examined is logged as
such.  Never decides (no opinion).  No options.
"""

import os

from pyfilter.engine.filter import Filter


def _statLine(path):
    try:
        return f"    Raw stat: {os.stat(path)!r}"
    except OSError as e:
        return f"    Cannot stat: {e.strerror or e}"


def diagnostics(message):
    """
    The diagnostic lines for C{message}, in the reference's order.
    """
    lines = [
        "Debugging filter invoked:",
        f"    PID: {os.getpid()}",
        f"    CWD: {_currentDirectory()}",
        f"    EUID: {os.geteuid()}",
        f"    EGID: {os.getegid()}",
        f"    UID: {os.getuid()}",
        f"    GID: {os.getgid()}",
        f"    Additional groups: {os.getgroups()!r}",
        f"    Body: {message.dataPath}",
        _statLine(message.dataPath),
    ]
    for path in message.controlPaths:
        lines.append(f"    Control file: {path}")
        lines.append(_statLine(path))
    return lines


def _currentDirectory():
    try:
        return os.getcwd()
    except OSError as e:
        return f"unknown ({e.strerror or e})"


class Debug(Filter):
    onError = None

    def match(self, message):
        for line in diagnostics(message):
            self.log.info("{line}", line=line)
        return None


FILTER = Debug
