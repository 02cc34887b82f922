"""
Faults around the real daemon process: a legacy module that never returns,
spool files vanishing under a request, a low descriptor limit with idle
connections, a client trickling its request, SIGKILL and restart, a full or
read-only state directory under greylisting, stdin EOF with messages in
flight.  The bar: every request answered, never 200 where a filter could
not decide.
"""

import os
import resource
import shutil
import socket
import subprocess
import threading
import time

from twisted.trial.unittest import SkipTest, SynchronousTestCase

from pyfilter.daemon.requests import BAD_REQUEST
from pyfilter.engine.reply import CONTROL_FAILURE
from tests.daemon import Daemon

HERE = os.path.dirname(os.path.abspath(__file__))
TEST_FILTERS = os.path.join(HERE, "daemonfilters")
BLOCKED = b"554 The extension of the attached file is blacklisted\n"


def inParallel(function, arguments, timeout=30):
    """
    Call C{function(*a)} for each C{a} of C{arguments} in its own thread;
    return the results in order, each with the seconds it took.
    """
    results = [None] * len(arguments)

    def call(index, args):
        started = time.monotonic()
        try:
            value = function(*args)
        except Exception as e:
            value = e
        results[index] = (value, time.monotonic() - started)

    threads = [threading.Thread(target=call, args=(i, a), daemon=True)
               for i, a in enumerate(arguments)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
    return results


def withSender(daemon, sample, sender):
    """Copy C{sample} into the spool with the envelope sender changed."""
    dataPath, controlPaths = daemon.copyMessage(sample)
    with open(controlPaths[0], "rb") as f:
        records = f.read().split(b"\n")
    records = [b"s" + sender.encode() if r.startswith(b"s") else r
               for r in records]
    with open(controlPaths[0], "wb") as f:
        f.write(b"\n".join(records))
    return dataPath, controlPaths


class FaultCase(SynchronousTestCase):
    def daemon(self, chain, modules=None, start=True):
        daemon = Daemon(chain, modules, pythonPath=[TEST_FILTERS])
        self.addCleanup(daemon.cleanup)
        if start:
            daemon.start()
        return daemon


class HungFilterTests(FaultCase):
    def test_legacyModuleSleepingForever(self):
        """A legacy module that never returns: its messages get 451 at the
        filter timeout, then at once when its threads are all stuck; other
        messages are still answered quickly."""
        daemon = self.daemon(
            "attachments\nlegacysleeper\n",
            "[pyfilter]\nfilter_timeout = 3\nthreads = 2\n"
            "thread_queue = 2\n")
        first = inParallel(daemon.request, [daemon.copyMessage("a-plain")
                                            for _ in range(6)])
        for reply, seconds in first:
            self.assertTrue(reply.startswith(b"451 "), reply)
            self.assertLess(seconds, 8)
        # Every thread and queue place is now held by a stuck call.
        for _ in range(5):
            started = time.monotonic()
            reply = daemon.request(*daemon.copyMessage("a-plain"))
            self.assertTrue(reply.startswith(b"451 "), reply)
            self.assertLess(time.monotonic() - started, 1.5)
            started = time.monotonic()
            self.assertEqual(
                daemon.request(*daemon.copyMessage("f-attachment")), BLOCKED)
            self.assertLess(time.monotonic() - started, 1.5)

    def test_stopWithStuckThreads(self):
        """Closing stdin while legacy calls are stuck in their threads
        still ends the daemon within the message deadline."""
        daemon = self.daemon(
            "legacysleeper\n",
            "[pyfilter]\nfilter_timeout = 1\nmessage_deadline = 2\n"
            "threads = 2\nthread_queue = 0\n")
        for reply, _ in inParallel(daemon.request, [
                daemon.copyMessage("a-plain") for _ in range(2)]):
            self.assertTrue(reply.startswith(b"451 "), reply)
        daemon.stop(timeout=15)


class VanishingFileTests(FaultCase):
    def setUp(self):
        self.filter = self.daemon(
            "pausefilter\nattachments\nechosender\n",
            "[pausefilter.py]\ndelay = 0.5\n")

    def requestAfter(self, change, sample="a-plain"):
        """Request a message and C{change(dataPath, controlPaths)} it while
        the slow filter holds it."""
        dataPath, controlPaths = self.filter.copyMessage(sample)
        result = []
        thread = threading.Thread(target=lambda: result.append(
            self.filter.request(dataPath, controlPaths)))
        thread.start()
        time.sleep(0.2)
        change(dataPath, controlPaths)
        thread.join(10)
        return result[0]

    def test_dataFileVanished(self):
        """A data file removed after the request is answered 451."""
        reply = self.requestAfter(lambda data, control: os.unlink(data),
                                  "f-attachment")
        self.assertTrue(reply.startswith(b"451 "), reply)

    def test_dataFileUnreadable(self):
        """A data file replaced by something unreadable (a directory) is
        answered 451."""
        def replace(data, control):
            os.unlink(data)
            os.mkdir(data)
        reply = self.requestAfter(replace, "f-attachment")
        self.assertTrue(reply.startswith(b"451 "), reply)

    def test_controlFileVanished(self):
        """A control file removed after the request is answered with the
        control-file 451."""
        reply = self.requestAfter(lambda data, control: os.unlink(control[0]))
        self.assertEqual(reply, CONTROL_FAILURE.toBytes())


class ConnectionFaultTests(FaultCase):
    def test_lowDescriptorLimit(self):
        """With 48 descriptors and 100 idle connections, a request is never
        accepted unfiltered: at worst its connection is closed without a
        reply (Courier: 432, a temporary failure), and retried it is
        answered once the idle ones time out."""
        daemon = self.daemon(
            "attachments\n", "[pyfilter]\nrequest_timeout = 1\n")
        resource.prlimit(daemon.process.pid, resource.RLIMIT_NOFILE,
                         (48, 48))
        idle = []
        self.addCleanup(lambda: [s.close() for s in idle])
        for _ in range(100):
            s = socket.socket(socket.AF_UNIX)
            s.setblocking(False)
            try:
                s.connect(daemon.socketPath)
            except BlockingIOError:
                pass
            idle.append(s)
        request = daemon.copyMessage("f-attachment")
        deadline = time.monotonic() + 20
        while True:
            try:
                reply = daemon.request(*request, timeout=20)
            except ConnectionError:
                reply = b""
            self.assertIn(reply, (b"", BLOCKED))
            if reply:
                break
            self.assertLess(time.monotonic(), deadline)
            time.sleep(0.5)

    def test_tricklingClient(self):
        """A client sending one byte a second gets 451 at the request
        timeout."""
        daemon = self.daemon("", "[pyfilter]\nrequest_timeout = 2\n")
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(10)
            s.connect(daemon.socketPath)
            started = time.monotonic()
            reply = b""
            for byte in b"/var/spool/courier/tmp/x\n":
                try:
                    s.send(bytes([byte]))
                except OSError:
                    break
                s.settimeout(1)
                try:
                    reply += s.recv(1024)
                except socket.timeout:
                    continue
                if reply:
                    break
            s.settimeout(10)
            while not reply.endswith(b"\n"):
                reply += s.recv(1024)
        self.assertEqual(reply, BAD_REQUEST.toBytes())
        self.assertLess(time.monotonic() - started, 5)

    def test_killedAndRestarted(self):
        """After SIGKILL (its socket left behind) the daemon restarts on the
        same path and answers."""
        daemon = self.daemon("attachments\n")
        daemon.kill()
        self.assertTrue(os.path.exists(daemon.socketPath))
        daemon.start()
        self.assertEqual(daemon.request(*daemon.copyMessage("f-attachment")),
                         BLOCKED)
        self.assertEqual(daemon.stop(), 0)

    def test_socketRefusesAfterStop(self):
        """After a stop the socket path is left refusing connections, so
        that Courier answers 432 (a socket path that is gone makes Courier
        accept mail unfiltered), while the filter is still enabled."""
        daemon = self.daemon("attachments\n", start=False)
        active = os.path.join(daemon.directory, "filters", "active")
        os.makedirs(active)
        os.symlink("/usr/lib/courier/filters/pyfilter",
                   os.path.join(active, "pyfilter"))
        daemon.start()
        self.assertEqual(daemon.stop(), 0)
        with socket.socket(socket.AF_UNIX) as s:
            self.assertRaises(ConnectionRefusedError, s.connect,
                              daemon.socketPath)


    def test_eofWithManyInFlight(self):
        """Closing stdin with 40 messages in flight: each is answered."""
        daemon = self.daemon("slowfilter\n", "[slowfilter.py]\ndelay = 1\n")
        requests = [daemon.copyMessage("a-plain") for _ in range(40)]
        results = []
        thread = threading.Thread(target=lambda: results.extend(
            inParallel(daemon.request, requests)))
        thread.start()
        deadline = time.monotonic() + 10
        while daemon.log().count("slowfilter: holding") < 40:
            self.assertLess(time.monotonic(), deadline)
            time.sleep(0.02)
        self.assertEqual(daemon.stop(), 0)
        thread.join(15)
        self.assertEqual([reply for reply, _ in results],
                         [b"250 slow but fine\n"] * 40)


class StateDirectoryTests(FaultCase):
    """Greylisting on a state directory that fills up or turns
    read-only."""

    def setUp(self):
        if os.geteuid() != 0 or shutil.which("mount") is None:
            raise SkipTest("mounting a small tmpfs needs root")
        self.filter = self.daemon(
            "greylist\n", "[greylist.py]\ngreylist_time = 0\n", start=False)
        self.mount("size=2m")
        self.addCleanup(subprocess.run, ["umount", "-l",
                                         self.filter.stateDir])
        self.senders = 0

    def mount(self, options, remount=False):
        command = ["mount", "-t", "tmpfs", "-o", options, "tmpfs",
                   self.filter.stateDir]
        if remount:
            command = ["mount", "-o", "remount," + options,
                       self.filter.stateDir]
        subprocess.run(command, check=True, timeout=10)

    def newTriplet(self):
        self.senders += 1
        return withSender(self.filter, "a-plain",
                          f"s{self.senders}@example.org")

    def assertNeverAccepted(self):
        for _ in range(10):
            request = self.newTriplet()
            for _ in range(2):
                reply = self.filter.request(*request, timeout=20)
                self.assertTrue(reply.startswith(b"451 "), reply)

    def assertRecovered(self):
        deadline = time.monotonic() + 15
        while True:
            request = self.newTriplet()
            first = self.filter.request(*request)
            second = self.filter.request(*request)
            if second == b"200 Ok\n":
                self.assertIn(b"Greylisting in action", first)
                return
            self.assertLess(time.monotonic(), deadline, second)
            time.sleep(0.5)

    def test_full(self):
        """With the state directory full no new triplet is accepted; once
        there is room again greylisting works without a restart."""
        self.filter.start()
        self.assertRecovered()
        filler = os.path.join(self.filter.stateDir, "filler")
        with open(filler, "wb") as f:
            try:
                while True:
                    f.write(b"\0" * 65536)
                    f.flush()
            except OSError:
                pass
        self.assertNeverAccepted()
        os.unlink(filler)
        self.assertRecovered()

    def test_readOnly(self):
        """With the state directory read-only from the start no triplet is
        accepted; once writable greylisting works without a restart."""
        self.mount("ro", remount=True)
        self.filter.start()
        self.assertNeverAccepted()
        self.mount("rw", remount=True)
        self.assertRecovered()


class UndecodablePathTests(FaultCase):
    def test_reasonLogged(self):
        """A control file path that is not UTF-8 is answered 451 and the
        reason reaches the log."""
        daemon = self.daemon("echosender\n")
        dataPath, _ = daemon.copyMessage("a-plain")
        gone = os.path.join(daemon.spool, "tmp").encode() + b"/gone\xff"
        reply = daemon.send(dataPath.encode() + b"\n" + gone + b"\n\n")
        self.assertEqual(reply, CONTROL_FAILURE.toBytes())
        daemon.stop()
        self.assertIn("cannot read control file", daemon.log())

