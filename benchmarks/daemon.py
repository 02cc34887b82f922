"""
Starting and stopping a filter daemon the way courierfilter does.

The daemon gets a pipe on stdin and a pipe on fd 3; it is ready when fd 3
reaches EOF (start-up time = exec to fd 3 closed) and is stopped by closing
its stdin.  Its stdout and stderr go to a log file, as courierfilter would
pipe them to the logger.
"""

import fcntl
import os
import select
import signal
import time

READY_TIMEOUT_SECONDS = 60.0
STOP_TIMEOUT_SECONDS = 20.0
_HIGH_FD = 10


class DaemonError(Exception):
    """
    The daemon did not start (it exited or never closed fd 3).
    """


def _highFd(fd):
    """
    Move C{fd} above the standard descriptors and fd 3 (close-on-exec).
    """
    moved = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, _HIGH_FD)
    os.close(fd)
    return moved


class Daemon:
    """
    A running daemon: C{pid}, C{startupMs}, C{logPath}.
    """

    def __init__(self, argv, env, logPath):
        self.logPath = logPath
        stdinRead, self._stdinWrite = map(_highFd, os.pipe())
        readyRead, readyWrite = map(_highFd, os.pipe())
        log = _highFd(os.open(logPath, os.O_WRONLY | os.O_CREAT | os.O_TRUNC,
                              0o644))
        began = time.perf_counter()
        try:
            self.pid = os.posix_spawn(argv[0], argv, env, file_actions=[
                (os.POSIX_SPAWN_DUP2, stdinRead, 0),
                (os.POSIX_SPAWN_DUP2, log, 1),
                (os.POSIX_SPAWN_DUP2, log, 2),
                (os.POSIX_SPAWN_DUP2, readyWrite, 3),
            ])
        finally:
            for fd in (stdinRead, readyWrite, log):
                os.close(fd)
        try:
            self._awaitReady(readyRead)
        except DaemonError:
            self.stop()
            raise
        finally:
            os.close(readyRead)
        self.startupMs = (time.perf_counter() - began) * 1000

    def _awaitReady(self, readyRead):
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise DaemonError(f"fd 3 not closed after "
                                  f"{READY_TIMEOUT_SECONDS:.0f} s; see "
                                  f"{self.logPath}")
            readable, _, _ = select.select([readyRead], [], [], min(left, 0.5))
            if readable and not os.read(readyRead, 4096):
                break
        if os.waitpid(self.pid, os.WNOHANG) != (0, 0):
            self.pid = None
            raise DaemonError(f"exited during start-up; see {self.logPath}")

    def stop(self):
        """
        Close stdin and wait for the exit; kill it if it does not go.

        @return: C{True} if it exited on its own.
        """
        if self._stdinWrite is not None:
            os.close(self._stdinWrite)
            self._stdinWrite = None
        if self.pid is None:
            return True
        deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if os.waitpid(self.pid, os.WNOHANG) != (0, 0):
                self.pid = None
                return True
            time.sleep(0.02)
        os.kill(self.pid, signal.SIGKILL)
        os.waitpid(self.pid, 0)
        self.pid = None
        return False
