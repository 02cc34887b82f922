"""
Tests for pyfilter.courier.rewrite: byte-exact, streaming, atomic data file
rewriting.

Test dependency: dkimpy (the DKIM test signs and verifies with it).
"""

import email
import email.policy
import os
import signal
import subprocess
import sys
import time
import tracemalloc

import dkim
from twisted.internet import defer
from twisted.trial import unittest

from pyfilter.courier import rewrite
from tests.daemon import ROOT
from tests.helpers import samplePaths

DKIM_KEY = b"""-----BEGIN PRIVATE KEY-----
MIICdgIBADANBgkqhkiG9w0BAQEFAASCAmAwggJcAgEAAoGBAPDwMzj4Lg7HV3E8
oZpPmgVbuqm0+OZ/ElFBJRgVizP60QcEg7zUEqYaiA1mcFrkoUE6jj5fftCMtJqo
kFvi2Iox7sq99cCq7lnZ7ALx+sdPe41mmRg8TM7feIR6An6M+ohjGjum5Tizxo7p
OKuL5DW4eq8Iz7+tWiibv+qcKft/AgMBAAECgYBsLGvS+Bo1qGop/P7ROUv9e+Gi
sA3P7t1afdUZqxKEk+elLvG2pcB5sw/CdGudY2jC0HdsqZNWLtYnWeb2WjK9egBS
5nvU9y4v4sHlJZtsapRNlZljNG/jtuQdqZGoVipT4GSkAKahYnb2bIFU+TKovo3n
zgYf3iPcHYEjMEGLgQJBAP04ePLNs84NxaeMwGKQjgHnaqQVd8ZHC90li1TGojdo
RywKiBKZMBn7WYzghKrpbyvQjHhKVem9s0JZ4d1iuwUCQQDzlTclX35tw2xgJ8mG
XJBk0d9MRH1mZ41+tMulK46W1fXzVUQrGpkEfgLMehr0Zuv8QAEww+9dZsZa9ChV
OAuzAkBp4RIZnE9hijqqS10qGX13aFcb0uopGw3n40n2IbQ0bMLNtH2fITSOuJ2C
HWL7v+2/KU2DAroXqT1qMgESO7UtAkEAjlfShBqL7WTYPlDB6azKDMDAdvdHOMKm
4zaQExOjHe4m7m4TigTfCssAo7Fvcwd6PEzC5VZ62OAoZhpsP3CjFQJAPj49tgLz
fYA/XBCL58cufT4DQ+du1C36TpN2ocAivwy1HPyZI1dgi64sZpOn1ZXvIfobrWgp
lW7Un8pm/Es0DA==
-----END PRIVATE KEY-----
"""
DKIM_RECORD = (
    b"v=DKIM1; k=rsa; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDw8DM4+C4Ox1dx"
    b"PKGaT5oFW7qptPjmfxJRQSUYFYsz+tEHBIO81BKmGogNZnBa5KFBOo4+X37QjLSaqJBb4ti"
    b"KMe7KvfXAqu5Z2ewC8frHT3uNZpkYPEzO33iEegJ+jPqIYxo7puU4s8aO6Tiri+Q1uHqvCM"
    b"+/rVoom7/qnCn7fwIDAQAB")


def readBytes(path):
    with open(path, "rb") as f:
        return f.read()


def writeData(testCase, content, name="D1"):
    directory = os.path.abspath(testCase.mktemp())
    os.makedirs(directory)
    path = os.path.join(directory, name)
    with open(path, "wb") as f:
        f.write(content)
    return path


def sampleData(testCase, sample):
    with open(samplePaths(sample)[0], "rb") as f:
        return writeData(testCase, f.read())


def strayFiles(path):
    return [name for name in os.listdir(os.path.dirname(path))
            if name.startswith(".pyfilter-")]


class HeaderEditTests(unittest.TestCase):
    def test_prependAndRemoveKeepOtherBytes(self):
        """Adding one header and removing another changes only those lines,
        8-bit headers included."""
        path = sampleData(self, "e-8bit-smtputf8")
        original = readBytes(path)
        edit = rewrite.Rewrite(path)
        edit.prependHeader("X-Checked", "yes")
        self.assertEqual(edit.removeHeader("x-latin2"), 1)
        self.assertTrue(edit.commit())
        latin2 = [line for line in original.split(b"\n")
                  if line.startswith(b"X-Latin2:")][0] + b"\n"
        self.assertEqual(readBytes(path),
                         b"X-Checked: yes\n" + original.replace(latin2, b""))
        self.assertEqual(strayFiles(path), [])

    def test_removeFoldedReceived(self):
        """Removing Received removes its continuation lines too."""
        path = sampleData(self, "f-attachment")
        original = readBytes(path)
        edit = rewrite.Rewrite(path)
        self.assertEqual(edit.removeHeader("Received"), 1)
        edit.commit()
        self.assertEqual(readBytes(path),
                         original[original.index(b"From: "):])

    def test_replaceKeepsPosition(self):
        """replaceHeader puts the new field where the first one was and drops
        the others; CRLF line ends are kept."""
        path = writeData(self, b"A: 1\r\nX-Spam: old\r\nB: 2\r\n"
                               b"X-Spam: older\r\n\r\nbody\r\n")
        edit = rewrite.Rewrite(path)
        edit.replaceHeader("X-Spam", "new")
        edit.commit()
        self.assertEqual(readBytes(path), b"A: 1\r\nX-Spam: new\r\nB: 2\r\n"
                                          b"\r\nbody\r\n")

    def test_invalidHeaderRefused(self):
        """Header names and values that would break the header block are
        refused."""
        path = writeData(self, b"A: 1\n\nbody\n")
        edit = rewrite.Rewrite(path)
        self.assertRaises(rewrite.RewriteError, edit.prependHeader,
                          "X-Bad", "a\nB: injected")
        self.assertRaises(rewrite.RewriteError, edit.prependHeader,
                          "X Bad:", "value")

    def test_foldedValueWithFileLineEnds(self):
        """A folded value is written with the file's own line ends."""
        path = writeData(self, b"A: 1\r\n\r\nbody\r\n")
        edit = rewrite.Rewrite(path)
        edit.prependHeader("X-Spam-Status", "No, score=0.1\n\ttests=A,B")
        self.assertRaises(rewrite.RewriteError, edit.prependHeader,
                          "X-Bad", "a\r\n\r\nbody")
        edit.commit()
        self.assertEqual(readBytes(path), b"X-Spam-Status: No, score=0.1\r\n"
                                          b"\ttests=A,B\r\nA: 1\r\n\r\n"
                                          b"body\r\n")

    def test_unchangedNotRewritten(self):
        """Without a change the data file is left alone."""
        path = writeData(self, b"A: 1\n\nbody\n")
        inode = os.stat(path).st_ino
        edit = rewrite.Rewrite(path)
        edit.removeHeader("Received")
        self.assertFalse(edit.commit())
        self.assertEqual(os.stat(path).st_ino, inode)

    def test_modeKeptAndReplaced(self):
        """The new file replaces the old one by rename, with its mode."""
        path = writeData(self, b"A: 1\n\nbody\n")
        os.chmod(path, 0o660)
        inode = os.stat(path).st_ino
        edit = rewrite.Rewrite(path)
        edit.appendHeader("B", "2")
        edit.commit()
        self.assertEqual(readBytes(path), b"A: 1\nB: 2\n\nbody\n")
        self.assertEqual(os.stat(path).st_mode & 0o7777, 0o660)
        self.assertNotEqual(os.stat(path).st_ino, inode)

    def test_abandonedBeforeRename(self):
        """A rewrite abandoned before the rename leaves the original and no
        temporary file."""
        path = writeData(self, b"A: 1\n\nbody\n")
        edit = rewrite.Rewrite(path)
        edit.appendHeader("B", "2")
        self.assertRaises(rewrite.Abandoned, edit.commit, lambda: False)
        self.assertEqual(readBytes(path), b"A: 1\n\nbody\n")
        self.assertEqual(strayFiles(path), [])


class DKIMTests(unittest.TestCase):
    def sign(self, path):
        message = readBytes(path).replace(b"\n", b"\r\n")
        signature = dkim.sign(message, b"test", b"example.org", DKIM_KEY,
                              include_headers=[b"from", b"to", b"subject",
                                               b"date", b"message-id"])
        with open(path, "wb") as f:
            f.write((signature + message).replace(b"\r\n", b"\n"))

    def verify(self, path):
        def dnsfunc(name, timeout=5):
            self.assertEqual(name, b"test._domainkey.example.org.")
            return DKIM_RECORD
        return dkim.verify(readBytes(path).replace(b"\n", b"\r\n"),
                           dnsfunc=dnsfunc)

    def test_headerEditKeepsSignature(self):
        """A DKIM signature made before a header-only edit still verifies
        after it."""
        path = sampleData(self, "e-8bit-smtputf8")
        self.sign(path)
        self.assertTrue(self.verify(path))
        edit = rewrite.Rewrite(path)
        edit.prependHeader("X-Spam-Status", "No, score=0.1")
        edit.removeHeader("Received")
        edit.replaceHeader("X-Encoded", "replaced")
        edit.commit()
        self.assertTrue(self.verify(path))

    def test_bodyChangeDetected(self):
        """The check is meaningful: appending a signature part to the body
        invalidates the DKIM signature."""
        path = sampleData(self, "a-plain")
        self.sign(path)
        edit = rewrite.Rewrite(path)
        edit.appendSignature("-- \nsig")
        edit.commit()
        self.assertFalse(self.verify(path))


class SignatureTests(unittest.TestCase):
    def test_insertedIntoMultipartMixed(self):
        """In a multipart/mixed message the signature becomes a new last
        part; every original byte before the closing boundary is kept."""
        path = sampleData(self, "f-attachment")
        original = readBytes(path)
        edit = rewrite.Rewrite(path)
        edit.appendSignature("-- \nAlice")
        edit.commit()
        closing = b"--=_vm-30754-1795593915-0001-2--\n"
        head = original[:original.index(closing)]
        self.assertEqual(readBytes(path), head
                         + b"--=_vm-30754-1795593915-0001-2\n"
                           b'Content-Type: text/plain; charset="us-ascii"\n'
                           b"Content-Transfer-Encoding: 7bit\n\n"
                           b"-- \nAlice\n\n" + closing)
        parsed = email.message_from_bytes(readBytes(path),
                                          policy=email.policy.default)
        parts = list(parsed.iter_parts())
        self.assertEqual(len(parts), 3)
        self.assertEqual(parts[-1].get_content(), "-- \nAlice\n")

    def test_plainMessageWrapped(self):
        """A single-part message is wrapped: its body and content headers
        become the first part unchanged, the signature the second, other
        headers stay on top."""
        path = sampleData(self, "e-8bit-smtputf8")
        original = readBytes(path)
        body = original[original.index(b"\n\n") + 2:]
        edit = rewrite.Rewrite(path)
        edit.appendSignature("-- \nJürgen")
        edit.commit()
        result = readBytes(path)
        self.assertIn(b"Content-Type: text/plain; charset=utf-8\n"
                      b"Content-Transfer-Encoding: 8bit\n\n" + body, result)
        parsed = email.message_from_bytes(result, policy=email.policy.default)
        self.assertEqual(parsed.get_content_type(), "multipart/mixed")
        self.assertEqual(parsed["Message-ID"], "<sample-e@send.example>")
        first, second = parsed.iter_parts()
        self.assertEqual(first.get_payload(decode=True), body)
        self.assertEqual(second["Content-Transfer-Encoding"],
                         "quoted-printable")
        self.assertEqual(second.get_content(), "-- \nJürgen\n")


class StreamingTests(unittest.TestCase):
    def test_largeMessageStreamed(self):
        """A 50 MB message is rewritten with bounded memory and its body
        kept byte for byte."""
        path = writeData(self, b"")
        line = b"x" * 75 + b"\n"
        with open(path, "wb") as f:
            f.write(b"Received: by test\nSubject: big\n\n")
            f.write(line * (50 * 1024 * 1024 // len(line)))
        size = os.stat(path).st_size
        tracemalloc.start()
        try:
            started = time.monotonic()
            edit = rewrite.Rewrite(path)
            edit.removeHeader("Received")
            edit.commit()
            elapsed = time.monotonic() - started
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        self.assertEqual(os.stat(path).st_size, size - len(b"Received: by "
                                                           b"test\n"))
        self.assertLess(peak, 8 * 1024 * 1024)
        self.assertLess(elapsed, 30)
        with open(path, "rb") as f:
            self.assertEqual(f.read(33), b"Subject: big\n\n" + line[:19])


KILLED_REWRITE = r"""
import sys, time
from pyfilter.courier import rewrite
path, marker = sys.argv[1:3]
realCopy = rewrite._copy
def slowCopy(source, target, length):
    target.write(source.read(4096))
    target.flush()
    open(marker, "w").close()
    time.sleep(60)
rewrite._copy = slowCopy
edit = rewrite.Rewrite(path)
edit.prependHeader("X-New", "1")
edit.commit()
"""


class CrashTests(unittest.TestCase):
    def test_killedMidRewrite(self):
        """A rewrite killed with SIGKILL in the middle leaves the original
        data file intact."""
        path = writeData(self, b"A: 1\n\n" + b"body line\n" * 100000)
        original = readBytes(path)
        marker = path + ".marker"
        child = subprocess.Popen(
            [sys.executable, "-c", KILLED_REWRITE, path, marker], cwd=ROOT)
        self.addCleanup(child.wait, 10)
        deadline = time.monotonic() + 20
        while not os.path.exists(marker) and child.poll() is None:
            self.assertLess(time.monotonic(), deadline, "child never began")
            time.sleep(0.01)
        self.assertTrue(os.path.exists(marker), "child ended early")
        child.send_signal(signal.SIGKILL)
        child.wait(10)
        self.assertEqual(readBytes(path), original)
        self.assertEqual(len(strayFiles(path)), 1)


class FakeThreads:
    """
    Runs the call at once; enough to check rewriteMessage's plumbing.
    """

    def __init__(self):
        self.pending = []

    def run(self, function):
        d = defer.Deferred()
        self.pending.append((function, d))
        return d

    def finish(self):
        for function, d in self.pending:
            try:
                d.callback(function())
            except Exception as e:
                d.errback(e)


class RewriteMessageTests(unittest.TestCase):
    def test_rewritesInThread(self):
        """rewriteMessage applies the change through the thread pool."""
        path = writeData(self, b"A: 1\n\nbody\n")
        threads = FakeThreads()
        d = rewrite.rewriteMessage(threads, path,
                                   lambda edit: edit.appendHeader("B", "2"))
        threads.finish()
        self.assertTrue(self.successResultOf(d))
        self.assertEqual(readBytes(path), b"A: 1\nB: 2\n\nbody\n")

    def test_cancelStopsRename(self):
        """Cancelling before the thread ran keeps the original."""
        path = writeData(self, b"A: 1\n\nbody\n")
        threads = FakeThreads()
        d = rewrite.rewriteMessage(threads, path,
                                   lambda edit: edit.appendHeader("B", "2"))
        d.cancel()
        self.failureResultOf(d, defer.CancelledError)
        threads.finish()
        self.assertEqual(readBytes(path), b"A: 1\n\nbody\n")
        self.assertEqual(strayFiles(path), [])
