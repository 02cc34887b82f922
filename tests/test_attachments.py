"""
Tests for filters/attachments.py.
"""

import os

from twisted.internet import defer
from twisted.logger import capturedLogs, formatEvent
from twisted.trial import unittest

from pyfilter.courier import emailscan
from pyfilter.courier import mime
from pyfilter.engine.loader import makeFilter
from pyfilter.config.modulesfile import ModulesConfig
from tests.helpers import sampleMessage, writeMessage

from filters.attachments import BLACKLISTED, TOO_COMPLEX

RECORDS = ["ssender@example.org", "ralice@example.test", "R", "N"]


class RecordingThreads:
    """
    Runs each call at once in the test's thread, and remembers it.
    """

    def __init__(self):
        self.calls = []

    def run(self, function, *args):
        self.calls.append(function)
        return defer.maybeDeferred(function, *args)


class ThreadsContext:
    def __init__(self):
        self.threads = RecordingThreads()


def attachmentsFilter(modulesText=""):
    modules = ModulesConfig()
    modules.parser.read_string(modulesText)
    instance = makeFilter("attachments", modules, None)
    instance.context = ThreadsContext()
    return instance


def multipart(*parts, boundary="b1", preamble=b""):
    """
    A multipart/mixed entity (headers and body) holding C{parts}.
    """
    body = b"".join(b"--" + boundary.encode() + b"\n" + part + b"\n"
                    for part in parts)
    return (b"Content-Type: multipart/mixed; boundary=\"" + boundary.encode()
            + b"\"\n\n" + preamble + body + b"--" + boundary.encode()
            + b"--\n")


def attachment(headerLine, body=b"AAAA\n"):
    return (b"Content-Type: application/octet-stream\n" + headerLine
            + b"\nContent-Transfer-Encoding: base64\n\n" + body)


TEXT = b"Content-Type: text/plain\n\nhello\n"


class AttachmentsTests(unittest.TestCase):
    def check(self, data, modulesText=""):
        message = writeMessage(
            self, RECORDS, b"Subject: t\nMIME-Version: 1.0\n" + data)
        return attachmentsFilter(modulesText).consider(message)

    def limitParts(self, maxParts):
        scan = mime.scanStructure
        self.patch(mime, "scanStructure",
                   lambda path: scan(path, maxParts=maxParts))

    def test_fixtureExecutableRejected(self):
        """The captured message carrying evil.exe is refused with 554."""
        reply = attachmentsFilter().consider(sampleMessage("f-attachment"))
        self.assertEqual(reply, BLACKLISTED)
        self.assertEqual(
            reply.toBytes(),
            b"554 The extension of the attached file is blacklisted\n")

    def test_cleanFixturesPass(self):
        """Captured messages without attachments get no opinion."""
        for name in ("a-plain", "c-auth", "d-dsn", "e-8bit-plain",
                     "e-8bit-smtputf8", "g-local-sendmail"):
            self.assertIsNone(attachmentsFilter().consider(
                sampleMessage(name)), name)

    def test_cleanAttachmentPasses(self):
        """An attachment with an allowed extension gets no opinion."""
        self.assertIsNone(self.check(multipart(
            TEXT, attachment(b'Content-Disposition: attachment; '
                             b'filename="report.pdf"'))))

    def test_uppercaseExtension(self):
        """The default pattern matches regardless of case."""
        self.assertEqual(self.check(multipart(attachment(
            b'Content-Disposition: attachment; filename="EVIL.EXE"'))),
            BLACKLISTED)

    def test_rfc2231Encoded(self):
        """An RFC 2231 encoded file name is decoded before matching."""
        self.assertEqual(self.check(multipart(attachment(
            b"Content-Disposition: attachment; filename*=UTF-8''evil%2Eexe"))),
            BLACKLISTED)

    def test_rfc2231Continuations(self):
        """An RFC 2231 file name split into continuations is reassembled."""
        self.assertEqual(self.check(multipart(attachment(
            b"Content-Disposition: attachment;\n"
            b"  filename*0*=UTF-8''%C3%A9vil;\n"
            b"  filename*1=\".sc\";\n"
            b"  filename*2=\"r\""))), BLACKLISTED)

    def test_rfc2047Encoded(self):
        """An RFC 2047 encoded-word file name is decoded before matching."""
        self.assertEqual(self.check(multipart(attachment(
            b'Content-Disposition: attachment; '
            b'filename="=?UTF-8?B?ZXZpbC52YnM=?="'))), BLACKLISTED)

    def test_contentTypeNameOnly(self):
        """A name given only as Content-Type's name parameter is checked."""
        self.assertEqual(self.check(multipart(
            b'Content-Type: application/x-msdownload; name="setup.bat"\n\n'
            b"AAAA\n")), BLACKLISTED)

    def test_nestedMultipart(self):
        """Attachments inside nested multiparts are checked."""
        inner = multipart(TEXT, attachment(
            b'Content-Disposition: attachment; filename="x.js"'),
            boundary="inner")
        self.assertEqual(self.check(multipart(TEXT, inner)), BLACKLISTED)

    def test_attachedMessage(self):
        """An attachment inside an attached message/rfc822 is checked."""
        forwarded = (b"Content-Type: message/rfc822\n\n"
                     b"Subject: forwarded\nMIME-Version: 1.0\n"
                     + multipart(TEXT, attachment(
                         b'Content-Disposition: attachment; '
                         b'filename="run.cmd"'), boundary="fwd"))
        self.assertEqual(self.check(multipart(TEXT, forwarded)), BLACKLISTED)

    def test_singlePartMessage(self):
        """A message whose only part is a named attachment is checked."""
        message = writeMessage(self, RECORDS, b"Subject: t\n"
                               b"Content-Type: application/octet-stream\n"
                               b"Content-Disposition: attachment; "
                               b"filename=payload.exe\n\nAAAA\n")
        self.assertEqual(attachmentsFilter().consider(message), BLACKLISTED)

    def test_matchFromStart(self):
        """The pattern is matched from the start of the name, not searched."""
        modulesText = "[attachments.py]\nblocked_pattern = r'exe'\n"
        self.assertIsNone(self.check(multipart(attachment(
            b'Content-Disposition: attachment; filename="evil.exe"')),
            modulesText))
        self.assertEqual(self.check(multipart(attachment(
            b'Content-Disposition: attachment; filename="exe.txt"')),
            modulesText), BLACKLISTED)

    def test_configuredPatternCaseInsensitive(self):
        """A configured pattern is compiled case-insensitively."""
        modulesText = "[attachments.py]\nblocked_pattern = r'.*\\.zip$'\n"
        self.assertEqual(self.check(multipart(attachment(
            b'Content-Disposition: attachment; filename="a.ZIP"')),
            modulesText), BLACKLISTED)

    def test_multipartContainerNameChecked(self):
        """A name on a multipart container itself is checked too (beyond
        the reference, which skips containers): a client that cannot read
        the container's parts may offer it as the named file."""
        data = (b'Content-Type: multipart/mixed; boundary="b"; '
                b'name="x.exe"\n\n--b\n' + TEXT + b"\n--b--\n")
        self.assertEqual(self.check(data), BLACKLISTED)

    def test_truncatedScanChecksPartsSeen(self):
        """Past the part bound, the parts found are still checked."""
        self.limitParts(3)
        parts = [TEXT, attachment(
            b'Content-Disposition: attachment; filename="a.exe"')]
        parts += [TEXT] * 5
        self.assertEqual(self.check(multipart(*parts)), BLACKLISTED)

    def test_namedPartBeyondBoundChecked(self):
        """Beyond the part bound, parts with a file name are still found."""
        self.limitParts(3)
        parts = [TEXT] * 5 + [attachment(
            b'Content-Disposition: attachment; filename="late.exe"')]
        self.assertEqual(self.check(multipart(*parts)), BLACKLISTED)

    def test_truncatedScanRefused(self):
        """A scan cut short by its bounds refuses the message and logs it."""
        self.limitParts(2)
        parts = [attachment(
            b'Content-Disposition: attachment; filename="n%d.txt"' % i)
            for i in range(6)]
        with capturedLogs() as events:
            self.assertEqual(self.check(multipart(*parts)), TOO_COMPLEX)
        self.assertTrue(any("bounds" in formatEvent(event)
                            for event in events))

    def test_malformedStructure(self):
        """A message with broken MIME (unterminated multipart, header lines
        without colon, bogus parameters) is checked without error."""
        data = (b'Content-Type: multipart/mixed; boundary="open"\n\n'
                b"--open\nthis is not a header\nContent-Type: ;;;=\n\n"
                b"--open\nContent-Disposition: attachment; filename*=bad'\n"
                b"\n--open\nContent-Disposition: attachment; "
                b'filename="tail.hta"\n\nAAAA')
        self.assertEqual(self.check(data), BLACKLISTED)

    def test_largeMessageScanned(self):
        """A name after a 5 MB attachment is found by the scan itself (the
        email package is not needed: benchmarks/ measures the speed)."""
        line = b"QUFB" * 19 + b"\n"
        body = line * (5 * 1024 * 1024 // len(line))
        data = multipart(TEXT, attachment(
            b'Content-Disposition: attachment; filename="big.pdf"', body),
            attachment(b'Content-Disposition: attachment; filename="x.pif"'))
        message = writeMessage(self, RECORDS, b"Subject: t\n" + data)
        self.assertGreater(os.path.getsize(message.dataPath), 5 * 1000 * 1000)
        instance = attachmentsFilter()
        self.assertEqual(instance.consider(message), BLACKLISTED)
        self.assertEqual(instance.context.threads.calls, [])

    def reply(self, instance, message):
        result = []
        defer.maybeDeferred(instance.consider, message).addBoth(
            result.append)
        return result[0]

    def test_anomalyReadByEmailPackage(self):
        """A message the scan cannot be sure of is read by the email package
        in the thread pool, and the log says why."""
        message = writeMessage(self, RECORDS, (
            b"Content-Type: multipart/mixed; boundary=\"\"\n\n--\n"
            + attachment(b'Content-Disposition: attachment; '
                         b'filename="x.exe"') + b"----\n"))
        instance = attachmentsFilter()
        with capturedLogs() as events:
            self.assertEqual(self.reply(instance, message), BLACKLISTED)
        self.assertEqual(instance.context.threads.calls,
                         [emailscan.emailNames])
        self.assertTrue(any("empty boundary" in formatEvent(event)
                            and "email package" in formatEvent(event)
                            for event in events))

    def test_anomalyWithoutBlockedName(self):
        """Read by the email package, a message without blocked name gets
        no opinion."""
        message = writeMessage(self, RECORDS, (
            b"Content-Type: multipart/mixed; boundary=b (comment)\n\n--b\n"
            + TEXT + b"--b--\n"))
        self.assertIsNone(self.reply(attachmentsFilter(), message))

    def test_anomalousMessageTooLargeRefused(self):
        """A message for the email package over its size bound is refused
        as too complex."""
        self.patch(emailscan, "MAX_BYTES", 100)
        message = writeMessage(self, RECORDS, (
            b"Content-Type: multipart/mixed; boundary=\"\"\n\n--\n"
            + TEXT + b"----\n" + b"x" * 200))
        with capturedLogs() as events:
            self.assertEqual(self.reply(attachmentsFilter(), message),
                             TOO_COMPLEX)
        self.assertTrue(any("may parse" in formatEvent(event)
                            for event in events))

    def test_invalidPatternIsConfigError(self):
        """An invalid regular expression is a configuration error naming the
        option."""
        from pyfilter.config.errors import ConfigError
        error = self.assertRaises(
            ConfigError, attachmentsFilter,
            "[attachments.py]\nblocked_pattern = r'('\n")
        self.assertIn("blocked_pattern", str(error))
