import ipaddress
import os

from twisted.trial.unittest import SynchronousTestCase

from pyfilter.courier import mime
from pyfilter.courier.control import ControlFileError, ControlFile, ControlFiles, decodeValue
from pyfilter.engine.message import Message
from tests.helpers import sampleMessage, writeMessage


class ControlTests(SynchronousTestCase):
    def test_plainSample(self):
        """A real capture gives sender, recipient, client IP and queue id."""
        message = sampleMessage("a-plain")
        self.assertEqual(message.sender, "sender@example.org")
        self.assertEqual([r.triple for r in message.recipients],
                         [("alice@example.test", "", "")])
        self.assertEqual(message.remoteIP, ipaddress.ip_address("127.0.0.1"))
        self.assertEqual(message.messageId,
                         "00000000001601D5.000000006B0696B3.000075E5")
        self.assertIsNone(message.authUser)
        self.assertEqual(message.helo, "client.example")

    def test_aliasSample(self):
        """Recipients marked done by an S record are not listed."""
        message = sampleMessage("b-three-rcpts-alias")
        self.assertEqual([(r.address, r.notify, r.number)
                          for r in message.recipients], [
            ("alice@example.test", "", 0), ("carol@example.test", "", 1),
            ("alice@example.test", "N", 2), ("bob@example.test", "N", 3)])

    def test_authAndDsn(self):
        """The AUTH name and DSN records are read."""
        self.assertEqual(sampleMessage("c-auth").authUser, "alice")
        message = sampleMessage("d-dsn")
        self.assertEqual(message.recipients[0].notify, "SF")
        self.assertEqual(message.recipients[0].original, "alice@example.test")
        self.assertEqual(message.control.scalar("e"), "sample-d-envid-1")

    def test_twoControlFiles(self):
        """Recipients come from every control file, numbered per file."""
        message = sampleMessage("h-two-control-files")
        self.assertEqual([(r.address, r.fileIndex, r.number)
                          for r in message.recipients], [
            ("alice@example.test", 0, 0), ("bob@example.test", 0, 1),
            ("carol@example.test", 1, 0)])
        self.assertEqual(message.messageId,
                         "0000000000160258.000000006B06971B.00007F51")

    def test_referenceExample(self):
        """CONTROL-FORMAT's worked example with a completed recipient."""
        control = ControlFile.parse("c", (
            "ssender@host.example\nra@host.example\nR\nNN\nrb@host.example\n"
            "R\nNN\nrc@host.example\nR\nN\nOTCPREMOTEIP=127.0.0.1\n"
            "I2 R 250 Ok - delivered to alias.\nS2 1186420633 r\n").encode())
        files = ControlFiles([control])
        self.assertEqual([r.address for r in files.recipients],
                         ["a@host.example", "b@host.example"])

    def test_emptyAddressNotCounted(self):
        """A triple without an address is numbered but never listed."""
        files = ControlFiles([ControlFile.parse(
            "c", b"r\nR\nN\nrx@y\nR\nN\nS0 1\n")])
        self.assertEqual([(r.address, r.number) for r in files.recipients],
                         [("x@y", 1)])

    def test_malformedUtf8(self):
        """Undecodable values are described as the reference does."""
        self.assertEqual(decodeValue(b"t\xebst-is\xf6-8859@host.example"),
                         "(malformed utf8):t%EBst-is%F6-8859@host.example")

    def test_ipv6AndMalformedIP(self):
        """IPv6 stays IPv6; a malformed address raises ControlFileError."""
        message = writeMessage(self, ["sa@b", "OTCPREMOTEIP=2001:db8::1"])
        self.assertEqual(message.remoteIP, ipaddress.ip_address("2001:db8::1"))
        message = writeMessage(self, ["sa@b", "OTCPREMOTEIP=not-an-ip"])
        self.assertRaises(ControlFileError, lambda: message.remoteIP)

    def test_environmentFirstMatch(self):
        """environment() gives the first O record for the name, across the
        files, past a malformed one; a mapped IPv4 address is IPv4."""
        files = ControlFiles([
            ControlFile.parse("c", b"OTCPREMOTEIP=192.0.2.1\xff\nOX=1\n"),
            ControlFile.parse("d", b"O TCPREMOTEIP=::ffff:192.0.2.7\n"
                                   b"OTCPREMOTEIP=192.0.2.8\n")])
        self.assertEqual(files.environment("TCPREMOTEIP"), "::ffff:192.0.2.7")
        self.assertIsNone(files.environment("TCPREMOTE"))
        for _ in range(2):
            self.assertEqual(files.remoteIP(),
                             ipaddress.ip_address("192.0.2.7"))

    def test_localMail(self):
        """Without TCPREMOTEIP there is no client address."""
        message = writeMessage(self, ["sa@b", "rc@d", "R", "N"])
        self.assertIsNone(message.remoteIP)

    def test_missingControlFile(self):
        """A missing control file is a ControlFileError when first used."""
        message = Message("/nonexistent/D", ["/nonexistent/C"])
        self.assertRaises(ControlFileError, lambda: message.sender)
        self.assertEqual(message.messageId, "")

    def test_outOfRangeDeliveryRecord(self):
        """A delivery record for an unknown recipient number is tolerated."""
        files = ControlFiles([ControlFile.parse("c", b"rx@y\nR\nN\nS7 1\n")])
        self.assertEqual(len(files.recipients), 1)


class MimeTests(SynchronousTestCase):
    def data(self, content):
        path = self.mktemp()
        with open(path, "wb") as f:
            f.write(content)
        return path

    def test_attachmentSample(self):
        """The real capture's parts and attachment name are found."""
        message = sampleMessage("f-attachment")
        names = [p.filename for p in message.structure.parts]
        self.assertIn("evil.exe", names)
        self.assertEqual(message.structure.parts[0].contentType,
                         "multipart/mixed")

    def test_headersOnce(self):
        """Headers are parsed once and shared."""
        message = sampleMessage("a-plain")
        self.assertIs(message.headers, message.headers)
        self.assertEqual(message.header("Subject"), ["sample a plain"])

    def test_nested(self):
        """Nested multiparts and message/rfc822 parts are entered."""
        path = self.data(
            b"Content-Type: multipart/mixed; boundary=outer\n\npreamble\n"
            b"--outer\nContent-Type: text/plain\n\nhello\n--not-a-boundary\n"
            b"--outer\nContent-Type: multipart/alternative; boundary=\"in\"\n\n"
            b"--in\nContent-Type: text/plain\n\n-- \nsig\n--in\n"
            b"Content-Type: application/x; name=\"a.exe\"\n\nxx\n--in--\n"
            b"--outer\nContent-Type: message/rfc822\n\n"
            b"Subject: inner\nContent-Type: multipart/mixed; boundary=b2\n\n"
            b"--b2\nContent-Disposition: attachment; filename=inner.bat\n\n"
            b"x\n--b2--\n--outer--\nepilogue\n")
        structure = mime.scanStructure(path)
        self.assertEqual([p.filename for p in structure.parts
                          if p.filename], ["a.exe", "inner.bat"])
        self.assertEqual([p.depth for p in structure.parts],
                         [0, 1, 1, 2, 2, 1, 2, 3])
        self.assertFalse(structure.truncated)

    def test_rfc2231And2047(self):
        """File names are RFC 2231 and RFC 2047 decoded."""
        path = self.data(
            b"Content-Type: multipart/mixed; boundary=x\n\n--x\n"
            b"Content-Disposition: attachment; filename*0*=UTF-8''ev;"
            b" filename*1*=il%2Eexe\n\n.\n--x\n"
            b"Content-Type: application/x; name=\"=?utf-8?q?b=C3=A4d.scr?=\"\n"
            b"\n.\n--x--\n")
        names = [p.filename for p in mime.scanStructure(path).parts[1:]]
        self.assertEqual(names, ["evil.exe", "b\u00e4d.scr"])

    def test_crlf(self):
        """CRLF line ends are understood."""
        path = self.data(
            b"Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\n"
            b"Content-Disposition: attachment; filename=a.pif\r\n\r\n.\r\n"
            b"--x--\r\n")
        self.assertEqual(mime.scanStructure(path).parts[1].filename, "a.pif")

    def test_boundsTruncate(self):
        """Beyond the part bound only named parts are kept; too many of
        those, or too deep nesting, stop the scan, marked truncated."""
        body = b"".join(b"--x\nContent-Type: text/plain\n\n.\n"
                        for _ in range(50)) + b"--x\nContent-Type: a/b; " \
            b"name=late.exe\n\n.\n--x--\n"
        path = self.data(b"Content-Type: multipart/mixed; boundary=x\n\n"
                         + body)
        structure = mime.scanStructure(path, maxParts=10)
        self.assertEqual([p.filename for p in structure.parts[10:]],
                         ["late.exe"])
        self.assertFalse(structure.truncated)
        named = b"".join(b"--x\nContent-Type: a/b; name=n.txt\n\n.\n"
                         for _ in range(50)) + b"--x--\n"
        structure = mime.scanStructure(self.data(
            b"Content-Type: multipart/mixed; boundary=x\n\n" + named),
            maxParts=10)
        self.assertEqual(len(structure.parts), 20)
        self.assertTrue(structure.truncated)
        nested = b"".join(
            b"Content-Type: message/rfc822\n\n" for _ in range(200))
        structure = mime.scanStructure(self.data(nested), maxDepth=20)
        self.assertTrue(structure.truncated)

    def test_emptyAndHeaderOnly(self):
        """Empty files and messages without a body are handled."""
        self.assertEqual(len(mime.scanStructure(self.data(b"")).parts), 1)
        structure = mime.scanStructure(self.data(b"Subject: x\n"))
        self.assertEqual(structure.parts[0].headers["Subject"], "x")

    def test_hugeHeaderBounded(self):
        """A header block larger than the bound is cut, not loaded whole."""
        path = self.data(b"X-Big: " + b"a" * 3000000 + b"\n\nbody\n")
        headers = mime.readHeaders(path, maxHeaderBytes=65536)
        self.assertLessEqual(len(headers["X-Big"]), 65536)

    def test_unterminatedBoundary(self):
        """A multipart without closing delimiter still yields its parts."""
        path = self.data(b"Content-Type: multipart/mixed; boundary=x\n\n"
                         b"--x\nContent-Type: a/b; name=q.vbs\n\nbody")
        self.assertEqual(mime.scanStructure(path).parts[1].filename, "q.vbs")

    def test_sizeAndMissingData(self):
        """Size is the data file's; a missing data file raises OSError."""
        message = writeMessage(self, ["sa@b"], data=b"12345")
        self.assertEqual(message.size, 5)
        os.unlink(message.dataPath)
        self.assertRaises(OSError, lambda: message.headers)
