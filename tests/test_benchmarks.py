"""
Smoke tests of the benchmark's fixtures and load generator.
"""

import email
import os
import shutil
import socket
import tempfile
import threading

from twisted.trial import unittest

from benchmarks import fixtures, loadgen

SERVER_TIMEOUT_SECONDS = 10


class AcceptingServer:
    """
    A blocking UNIX-socket server on a thread that answers every request
    with C{reply} once its empty line arrives, recording the requests.
    """

    def __init__(self, path, reply=b"200 Ok"):
        self.reply = reply
        self.requests = []
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(path)
        self.listener.listen(64)
        self.listener.settimeout(SERVER_TIMEOUT_SECONDS)
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            with connection:
                connection.settimeout(SERVER_TIMEOUT_SECONDS)
                request = b""
                while not request.endswith(b"\n\n"):
                    data = connection.recv(4096)
                    if not data:
                        break
                    request += data
                self.requests.append(request)
                connection.sendall(self.reply)

    def close(self):
        self.listener.shutdown(socket.SHUT_RDWR)
        self.listener.close()
        self.thread.join(SERVER_TIMEOUT_SECONDS)


class FixturesTests(unittest.TestCase):

    def setUp(self):
        self.work = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, self.work)
        self.built = fixtures.buildFixtures(self.work, kinds=("small", "100k"))

    def test_copies(self):
        """Each kind has eight distinct data and control files."""
        for kind in ("small", "100k"):
            pairs = self.built[kind]
            self.assertEqual(len(pairs), fixtures.COPIES)
            contents = set()
            for dataPath, controlPath in pairs:
                with open(dataPath, "rb") as data, open(controlPath, "rb") as c:
                    contents.add((data.read(), c.read()))
            self.assertEqual(len(contents), fixtures.COPIES)

    def test_smallShape(self):
        """The small data file is ~2 KB of LF-only plain text, Received first."""
        with open(self.built["small"][0][0], "rb") as f:
            data = f.read()
        self.assertTrue(1900 <= len(data) <= 2200, len(data))
        self.assertNotIn(b"\r", data)
        self.assertTrue(data.startswith(b"Received: from mail.sender.example"))
        self.assertEqual(email.message_from_bytes(data).get_content_type(),
                         "text/plain")

    def test_attachmentShape(self):
        """The 100 KB data file carries report.pdf in a multipart/mixed."""
        with open(self.built["100k"][0][0], "rb") as f:
            data = f.read()
        self.assertTrue(98000 <= len(data) <= 99500, len(data))
        message = email.message_from_bytes(data)
        self.assertEqual(message.get_content_type(), "multipart/mixed")
        self.assertEqual([part.get_filename() for part in message.walk()],
                         [None, None, "report.pdf"])

    def test_controlRecords(self):
        """The control file has a sender, a remote IP and two recipients."""
        with open(self.built["small"][3][1], "rb") as f:
            lines = f.read().decode("ascii").splitlines()
        self.assertIn("ssender3@sender.example", lines)
        self.assertIn(f"OTCPREMOTEIP={fixtures.REMOTE_IP}", lines)
        self.assertEqual([line[1:] for line in lines if line[0] == "r"],
                         list(fixtures.RECIPIENTS))
        self.assertEqual(sum(line == "N" for line in lines), 2)
        self.assertEqual(sum(line[0] == "M" for line in lines), 1)

    def test_rewrittenFilesRestored(self):
        """
        Building again keeps files as generated and writes again one a
        filter rewrote.
        """
        (dataPath, _), (otherPath, _) = self.built["small"][:2]
        with open(dataPath, "rb") as f:
            generated = f.read()
        with open(dataPath, "wb") as f:
            f.write(b"X-Spam-Status: No, score=0.00\n\n")
        kept = os.stat(otherPath).st_ino
        fixtures.buildFixtures(self.work, kinds=("small",))
        with open(dataPath, "rb") as f:
            self.assertEqual(f.read(), generated)
        self.assertEqual(os.stat(otherPath).st_ino, kept)


class LoadGeneratorTests(unittest.TestCase):

    def setUp(self):
        self.work = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, self.work)
        self.socketPath = os.path.join(self.work, "filter")

    def test_encodeRequest(self):
        """A request is the data path, the control paths and an empty line."""
        self.assertEqual(loadgen.encodeRequest("/d", ["/c1", "/c2"]),
                         b"/d\n/c1\n/c2\n\n")

    def test_percentile(self):
        """Percentiles are nearest-rank; an empty list has none."""
        values = list(range(1, 101))
        self.assertEqual(loadgen.percentile(values, 0.5), 50)
        self.assertEqual(loadgen.percentile(values, 0.99), 99)
        self.assertIsNone(loadgen.percentile([], 0.5))

    def test_countedRun(self):
        """A counted run sends exactly that many requests, rotating them."""
        server = AcceptingServer(self.socketPath)
        self.addCleanup(server.close)
        requests = [loadgen.encodeRequest(f"/d{n}", [f"/c{n}"])
                    for n in range(3)]
        result = loadgen.runLoad(self.socketPath, requests, concurrency=4,
                                 count=30)
        self.assertEqual(result["messages"], 30)
        self.assertEqual(result["replies"], {"200": 30})
        self.assertEqual(result["errors"], 0)
        self.assertEqual(set(server.requests), set(requests))
        self.assertLessEqual(result["p50ms"], result["p99ms"])

    def test_replyCodes(self):
        """Reply codes are counted by their first three bytes."""
        server = AcceptingServer(self.socketPath,
                                 reply=b"554-first\n554 second")
        self.addCleanup(server.close)
        result = loadgen.runLoad(self.socketPath, [b"/d\n/c\n\n"],
                                 concurrency=2, count=5)
        self.assertEqual(result["replies"], {"554": 5})

    def test_noServer(self):
        """Messages to a socket nobody listens on count as errors."""
        result = loadgen.runLoad(self.socketPath, [b"/d\n/c\n\n"],
                                 concurrency=2, count=5)
        self.assertEqual(result["messages"], 0)
        self.assertEqual(result["errorKinds"], {"ENOENT": 5})

    def test_processFigures(self):
        """CPU time and memory of a process are read from /proc."""
        pid = os.getpid()
        self.assertGreater(loadgen.processCpuSeconds(pid), 0)
        memory = loadgen.processMemory(pid)
        self.assertGreater(memory["rssMiB"], 1)
        self.assertGreaterEqual(memory["hwmMiB"], memory["rssMiB"])
