"""
courierfilter's two pipes: fd 3, which the filter closes once it is ready
to take mail, and stdin, which courierfilter closes to tell the filter to
stop.
"""

import os
import stat

from twisted.internet.protocol import Protocol


def isStartupPipe(fd=3):
    """
    C{True} if C{fd} is open and a pipe, as courierfilter's start-up pipe
    is.  Checked before the reactor exists, since the reactor's own epoll
    descriptor may otherwise take number 3.
    """
    try:
        return stat.S_ISFIFO(os.fstat(fd).st_mode)
    except OSError:
        return False


class StdinWatcher(Protocol):
    """
    Calls C{onEOF} when courierfilter closes our stdin.
    """

    def __init__(self, onEOF):
        self.onEOF = onEOF

    def dataReceived(self, data):
        pass

    def connectionLost(self, reason):
        self.onEOF()
