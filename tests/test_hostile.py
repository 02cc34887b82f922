"""
Hostile messages through the real daemon (chain: attachments, deliveredto):
each is answered within the deadline and the daemon's memory stays bounded
(anonymous RSS measured from /proc).  The 1 GB message runs in
reliability/ only; here the large message is 64 MB.
"""

import os
import time

from twisted.trial.unittest import SynchronousTestCase

from tests.daemon import Daemon

#: Seconds a hostile message may take to be answered.
ANSWER_SECONDS = 30
#: Growth of the daemon's anonymous memory allowed over all hostile input.
MEMORY_GROWTH_MIB = 150

BLOCKED = b"554 The extension of the attached file is blacklisted\n"
OK = b"200 Ok\n"
TOO_COMPLEX = b"554 5.3.4 Message too complex to check its attachments\n"


def processStatus(pid):
    """VmRSS, VmHWM and RssAnon of C{pid} in MiB, from /proc."""
    values = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            name, _, rest = line.partition(":")
            if name in ("VmRSS", "VmHWM", "RssAnon"):
                values[name] = int(rest.split()[0]) / 1024
    return values


def evilPart(boundary=b"b"):
    return (b"--" + boundary + b"\nContent-Type: application/octet-stream\n"
            b"Content-Disposition: attachment; filename=evil.exe\n\nMZ\n")


def manyParts(count, tail=b""):
    head = b"Subject: many\nContent-Type: multipart/mixed; boundary=b\n\n"
    return head + b"--b\n\nx\n" * count + tail + b"--b--\n"


def deeplyNested(depth):
    parts = [b"Subject: deep\nContent-Type: multipart/mixed; boundary=b0\n\n"]
    for level in range(1, depth):
        parts.append(b"--b%d\nContent-Type: multipart/mixed; boundary=b%d\n\n"
                     % (level - 1, level))
    return b"".join(parts)


class HostileMessageTests(SynchronousTestCase):
    def setUp(self):
        self.daemon = Daemon("attachments\ndeliveredto\n",
                             "[pyfilter]\nmessage_deadline = 60\n")
        self.addCleanup(self.daemon.cleanup)
        self.daemon.start()
        self.baseline = processStatus(self.daemon.process.pid)

    def answer(self, data=None, writer=None):
        """
        Put a message into the spool (C{data}, or written by C{writer(f)}),
        request it; return the reply, checked to come within the deadline
        and with the daemon's anonymous memory bounded.
        """
        dataPath, controlPaths = self.daemon.copyMessage("a-plain")
        with open(dataPath, "wb") as f:
            if writer is None:
                f.write(data)
            else:
                writer(f)
        started = time.monotonic()
        reply = self.daemon.request(dataPath, controlPaths,
                                    timeout=ANSWER_SECONDS)
        self.assertLess(time.monotonic() - started, ANSWER_SECONDS)
        os.unlink(dataPath)
        status = processStatus(self.daemon.process.pid)
        self.assertLess(status["RssAnon"] - self.baseline["RssAnon"],
                        MEMORY_GROWTH_MIB, status)
        return reply

    def test_hundredThousandParts(self):
        """A message of 100,000 sibling MIME parts is answered."""
        self.assertEqual(self.answer(manyParts(100000)), OK)

    def test_blockedAttachmentAfterManyParts(self):
        """A blocked attachment placed after 100,000 harmless parts is still
        refused (the scanner's part bound must not let it through)."""
        self.assertEqual(
            self.answer(manyParts(100000, evilPart())), BLOCKED)

    def test_hundredThousandLevels(self):
        """100,000 nested multiparts are refused as too complex to check."""
        self.assertEqual(self.answer(deeplyNested(100000)), TOO_COMPLEX)

    def test_nestedMessages(self):
        """100,000 nested message/rfc822 entities are refused as too
        complex to check."""
        self.assertEqual(self.answer(
            b"Content-Type: message/rfc822\n\n" * 100000 + b"body\n"),
            TOO_COMPLEX)

    def test_largeMessage(self):
        """A 64 MB message is scanned to its end: the attachment after the
        large part is found."""
        line = b"QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQU"\
            b"FB\n"
        chunk = line * (1024 * 1024 // len(line))

        def write(f):
            f.write(b"Subject: big\nContent-Type: multipart/mixed; "
                    b"boundary=b\n\n--b\nContent-Transfer-Encoding: "
                    b"base64\n\n")
            for _ in range(64):
                f.write(chunk)
            f.write(evilPart() + b"--b--\n")
        self.assertEqual(self.answer(writer=write), BLOCKED)

    def test_tenMegabyteHeaders(self):
        """10 MB of headers (one long line, and many folded lines) are
        answered."""
        long = b"X-Long: " + b"a" * (10 * 1024 * 1024) + b"\n\nbody\n"
        self.assertEqual(self.answer(long), OK)
        folded = b"X-Folded: a\n" + b" b\n" * (5 * 1024 * 1024) + b"\nbody\n"
        self.assertEqual(self.answer(folded), OK)

    def test_nulBytes(self):
        """NUL bytes in headers, boundaries and file names are answered;
        a blocked name after a NUL-laden part is found."""
        data = (b"Subject: \x00\x00\nContent-Type: multipart/mixed; "
                b"boundary=\"b\x00\"\n\n--b\x00\nContent-Disposition: "
                b"attachment; filename=\"a\x00.txt\"\n\n\x00" * 3
                + b"\n--b\x00\nContent-Disposition: attachment; "
                b"filename=evil.exe\n\nMZ\n--b\x00--\n")
        self.assertEqual(self.answer(data), BLOCKED)

    def test_invalidEncodings(self):
        """Undecodable RFC 2047 words and 8-bit bytes in headers are
        answered; an encoded blocked name is decoded and refused."""
        data = (b"Subject: =?utf-8?B?####?= \xff\xfe\nContent-Type: "
                b"multipart/mixed; boundary=b\n\n--b\nContent-Disposition: "
                b"attachment; filename=\"=?bogus?Q?=ZZ?=\xe4\"\n\nx\n--b\n"
                b"Content-Disposition: attachment; filename=\"=?utf-8?B?"
                b"ZXZpbC5leGU=?=\"\n\nMZ\n--b--\n")
        self.assertEqual(self.answer(data), BLOCKED)

    def test_rfc2231Abuse(self):
        """Thousands of RFC 2231 continuations, bad charsets and percent
        escapes are answered; a name split over continuations is
        refused."""
        many = b"; ".join(b"filename*%d*=%%61" % i for i in range(5000))
        data = (b"Content-Type: multipart/mixed; boundary=b\n\n--b\n"
                b"Content-Disposition: attachment; " + many + b"\n\nx\n--b\n"
                b"Content-Disposition: attachment; filename*=nope'xx'%ZZ%\n"
                b"\nx\n--b\nContent-Disposition: attachment; "
                b"filename*0*=UTF-8''ev; filename*1=il; filename*2*=%2Eexe"
                b"\n\nMZ\n--b--\n")
        self.assertEqual(self.answer(data), BLOCKED)

    def test_brokenBoundaries(self):
        """Unclosed, empty, enormous and ubiquitous boundaries are
        answered."""
        for data in [
                b"Content-Type: multipart/mixed; boundary=b\n\n--b\n\nx\n",
                b"Content-Type: multipart/mixed; boundary=\"\"\n\n--\n\n--\n",
                b"Content-Type: multipart/mixed; boundary=" + b"z" * 2000000
                + b"\n\n--" + b"z" * 2000000 + b"\n\nx\n",
                b"Content-Type: multipart/mixed; boundary=b\n\n"
                + b"--b\n" * 2000000,
                b"Content-Type: multipart/mixed; boundary=b\n\n"
                + b"--bb\n-\n--b-\n" * 500000 + b"--b--\n"]:
            self.assertIn(self.answer(data)[:4], (b"200 ", b"554 "))
