"""
Tests for L{pyfilter.clients.base.endpointFor}: where a service address
is connected to.
"""

from twisted.internet.protocol import Factory, Protocol
from twisted.internet.testing import MemoryReactorClock, SynchronousResolver
from twisted.trial import unittest

from pyfilter.clients.base import endpointFor


class _RecordingResolver(SynchronousResolver):
    """
    Resolves as the memory reactor does, remembering the names asked.
    """

    def __init__(self):
        self.names = []

    def resolveHostName(self, receiver, hostName, *args, **kwargs):
        self.names.append(hostName)
        return SynchronousResolver.resolveHostName(
            self, receiver, hostName, *args, **kwargs)


class EndpointForTests(unittest.SynchronousTestCase):
    def connect(self, where):
        """
        Connect through the endpoint of C{where} on a memory reactor; the
        reactor (its C{nameResolver} records the names resolved).
        """
        reactor = MemoryReactorClock()
        reactor.installNameResolver(_RecordingResolver())
        endpointFor(reactor, where, 7.0).connect(
            Factory.forProtocol(Protocol))
        return reactor

    def test_socketPath(self):
        """An absolute path is a UNIX socket."""
        reactor = self.connect("/run/spamd.sock")
        path, _, timeout, _ = reactor.unixClients[0]
        self.assertEqual((path, timeout), ("/run/spamd.sock", 7.0))

    def test_ipv4(self):
        """
        An IPv4 address is connected to as it is, with the timeout: it is
        not resolved (a thread's work for every connection).
        """
        reactor = self.connect("127.0.0.1:783")
        host, port, _, timeout, _ = reactor.tcpClients[0]
        self.assertEqual((host, port, timeout), ("127.0.0.1", 783, 7.0))
        self.assertEqual(reactor.nameResolver.names, [])

    def test_ipv6(self):
        """A bracketed IPv6 address too."""
        reactor = self.connect("[::1]:783")
        host, port, _, timeout, _ = reactor.tcpClients[0]
        self.assertEqual((host, port, timeout), ("::1", 783, 7.0))
        self.assertEqual(reactor.nameResolver.names, [])

    def test_hostName(self):
        """A name is resolved."""
        reactor = self.connect("spamd.example:783")
        self.assertEqual(reactor.nameResolver.names, ["spamd.example"])
