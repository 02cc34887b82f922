"""
The upper bound: a bare Twisted courierfilter server that does no work.

It listens on a UNIX socket, reads each request up to the empty line and
answers C{200 Ok} at once, opening no file.  It follows courierfilter's
contract: fd 3 is closed once the socket listens, and the process exits
when its stdin reaches EOF.

    python bare_twisted.py SOCKET_PATH
"""

import os
import sys

from twisted.internet import epollreactor

epollreactor.install()

from twisted.internet import reactor, stdio  # noqa: E402
from twisted.internet.protocol import Factory, Protocol  # noqa: E402


class AcceptEverything(Protocol):
    """
    Answers C{200 Ok} as soon as the request's empty line arrives.
    """

    def connectionMade(self):
        self.received = b""

    def dataReceived(self, data):
        self.received += data
        if self.received == b"\n" or b"\n\n" in self.received:
            self.transport.write(b"200 Ok")
            self.transport.loseConnection()


class StopOnEOF(Protocol):
    """
    Stops the reactor when stdin closes, as courierfilter asks.
    """

    def connectionLost(self, reason):
        reactor.stop()


def main(socketPath):
    if os.path.exists(socketPath):
        os.unlink(socketPath)
    reactor.listenUNIX(socketPath, Factory.forProtocol(AcceptEverything),
                       backlog=64)
    stdio.StandardIO(StopOnEOF())
    try:
        os.close(3)
    except OSError:
        pass
    reactor.run()


if __name__ == "__main__":
    main(sys.argv[1])
