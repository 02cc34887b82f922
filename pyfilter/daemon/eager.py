"""
Doing a connection's reading and writing now, in the current reactor turn,
rather than in the next turns, as the reactor would.

A courierfilter request costs three reactor turns when left to the
reactor: one accepts the connection, the next reads the request (the
client writes it right after connecting), the third writes the reply and
closes.  With the request read as soon as the connection is accepted, and
a reply decided at once written and the connection closed as soon as it
is decided, a message costs one turn: at concurrency 1 that is a third of
the daemon's time per message.

Both steps do what the reactor does with a ready descriptor, and treat
what it returns the same way; a transport that is not a file descriptor
(the tests' string transports) is left to the reactor.
"""

from twisted.internet.error import ConnectionDone, ConnectionLost
from twisted.internet.interfaces import (
    IHalfCloseableDescriptor, IReadWriteDescriptor)
from twisted.python.failure import Failure

#: The failures for the usual ends, made once (as the reactor does: making
#: a failure costs more than the rest of closing a connection).
_FAILURES = {ConnectionDone: Failure(ConnectionDone()),
             ConnectionLost: Failure(ConnectionLost())}


def readNow(transport):
    """
    Read what the peer has already sent, as if the reactor had found the
    descriptor readable (a peer that has sent nothing yet costs one
    failed read; the reactor reads it later as usual).
    """
    if IReadWriteDescriptor.providedBy(transport):
        _ended(transport, transport.doRead(), reading=True)


def writeNow(transport):
    """
    Write the transport's buffered data, and finish a close asked for, as
    if the reactor had found the descriptor writable; whatever the socket
    does not take now is written by the reactor later as usual.
    """
    if IReadWriteDescriptor.providedBy(transport) and not getattr(
            transport, "disconnected", False):
        _ended(transport, transport.doWrite(), reading=False)


def _ended(transport, why, reading):
    """
    What the reactor does when a read or write reports the end of the
    connection: a half-closeable descriptor hears that its input ended;
    otherwise the connection is lost with that reason.
    """
    if not isinstance(why, Exception):
        return
    failure = _FAILURES.get(type(why)) or Failure(why)
    if (reading and isinstance(why, ConnectionDone)
            and IHalfCloseableDescriptor.providedBy(transport)):
        transport.stopReading()
        transport.readConnectionLost(failure)
    else:
        transport.connectionLost(failure)
