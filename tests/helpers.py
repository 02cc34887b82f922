"""
Shared test helpers: real Courier captures as fixtures, control files built
from records, and a test Context.
"""

import os
import shutil
import socket
import tempfile

from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport

from pyfilter.engine.context import Context
from pyfilter.courier.paths import DEBIAN, CourierPaths
from pyfilter.engine.message import Message
from pyfilter.config.modulesfile import ModulesConfig
from pyfilter.engine.threads import BoundedThreads

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures")


def samplePaths(name):
    """
    The data path and control paths of a real capture in tests/fixtures,
    in the order Courier sent them (from its request.txt).
    """
    directory = os.path.join(FIXTURES, name)
    with open(os.path.join(directory, "request.txt"), "rb") as f:
        lines = [line for line in f.read().decode().split("\n") if line]
    paths = [os.path.join(directory, os.path.basename(line)) for line in lines]
    return paths[0], paths[1:]


def sampleMessage(name):
    dataPath, controlPaths = samplePaths(name)
    return Message(dataPath, controlPaths)


def writeMessage(testCase, records, data=b"Subject: test\n\nbody\n",
                 directory=None):
    """
    Write a data file and one control file (C{records}: a list of record
    lines as text, such as C{"ssender@example.org"}) into a fresh directory.

    @return: the L{Message}.
    """
    directory = directory or testCase.mktemp()
    os.makedirs(directory, exist_ok=True)
    dataPath = os.path.join(directory, "D1")
    controlPath = os.path.join(directory, "C1")
    with open(dataPath, "wb") as f:
        f.write(data)
    with open(controlPath, "wb") as f:
        f.write(b"".join(line.encode("utf-8", "surrogateescape") + b"\n"
                         for line in records))
    return Message(dataPath, [controlPath])


def courierSysconf(testCase, files=None):
    """
    A temporary Courier sysconfdir holding C{files} (name to text).
    """
    directory = testCase.mktemp()
    os.makedirs(directory)
    for name, text in (files or {}).items():
        path = os.path.join(directory, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(text)
    return directory


def makeContext(testCase, reactor=None, sysconfdir=None, modulesText="",
                stateDir=None, resources=None):
    """
    A L{Context} on a L{Clock} (unless C{reactor} is given), with a modules
    configuration parsed from C{modulesText}, sharing C{resources} (a
    L{pyfilter.engine.resources.Resources}) when given, as the daemon's
    generations do.
    """
    from pyfilter.courier.sysconf import CourierConfig
    reactor = reactor or Clock()
    sysconfdir = sysconfdir or courierSysconf(testCase)
    paths = CourierPaths(**dict(DEBIAN, sysconfdir=sysconfdir))
    modules = ModulesConfig()
    modules.parser.read_string(modulesText)
    stateDir = stateDir or testCase.mktemp()
    os.makedirs(stateDir, exist_ok=True)
    threads = BoundedThreads(reactor)
    testCase.addCleanup(threads.stop)
    return Context(reactor, paths, CourierConfig(sysconfdir), modules,
                   stateDir, threads, resources=resources)


def copyTree(testCase, source):
    target = tempfile.mkdtemp()
    shutil.copytree(source, target, dirs_exist_ok=True)
    testCase.addCleanup(shutil.rmtree, target, True)
    return target


def askSocket(address, request, timeout=5.0):
    """
    Send C{request} to C{address} (a UNIX path or a (host, port) pair) and
    read the reply until the server closes.
    """
    family = socket.AF_UNIX if isinstance(address, str) else socket.AF_INET
    with socket.socket(family) as s:
        s.settimeout(timeout)
        s.connect(address)
        s.sendall(request)
        chunks = []
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)


class HalfCloseTransport(StringTransport):
    """
    A L{StringTransport} that can also close its write half, as the UNIX
    and TCP socket transports can.

    @ivar writeDisconnected: C{loseWriteConnection} was called.
    """

    writeDisconnected = False

    def loseWriteConnection(self):
        self.writeDisconnected = True
