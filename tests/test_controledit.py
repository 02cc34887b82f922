"""
Tests for pyfilter.courier.controledit: control file edits in Courier's record
format.
"""

import os

from twisted.trial import unittest

from pyfilter.courier import controledit
from pyfilter.courier.control import ControlFileError, ControlFiles
from pyfilter.engine.message import Message
from tests.helpers import copyTree, samplePaths, writeMessage, FIXTURES


def fixedClock():
    return 1700000000


def contentOf(path):
    with open(path, "rb") as f:
        return f.read()


def sampleCopy(testCase, name):
    directory = copyTree(testCase, os.path.join(FIXTURES, name))
    dataPath, controlPaths = samplePaths(name)
    return Message(os.path.join(directory, os.path.basename(dataPath)),
                   [os.path.join(directory, os.path.basename(p))
                    for p in controlPaths])


class MarkDoneTests(unittest.TestCase):
    def test_marksInOwnFile(self):
        """A recipient of the second control file is marked there, with its
        number in that file, as Courier marks recipients done."""
        message = sampleCopy(self, "h-two-control-files")
        carol = message.recipients[-1]
        self.assertEqual((carol.fileIndex, carol.number), (1, 0))
        before = [contentOf(p) for p in message.controlPaths]
        edits = controledit.ControlEdits(message.controlPaths, fixedClock)
        edits.markDone(carol, "duplicate")
        edits.commit()
        after = [contentOf(p) for p in message.controlPaths]
        self.assertEqual(after[0], before[0])
        self.assertEqual(after[1], before[1] + b"I0 R 250 Ok - duplicate\n"
                                               b"S0 1700000000\n")
        self.assertNotIn(carol.address, [r.address for r in
                                         ControlFiles.read(
                                             message.controlPaths).recipients])

    def test_functionForm(self):
        """markDone(controlPaths, recipient) removes the recipient from the
        undelivered list."""
        message = writeMessage(self, ["ssender@example.org",
                                      "ra@example.test", "R", "N",
                                      "rb@example.test", "R", "N"])
        controledit.markDone(message.controlPaths, message.recipients[0])
        message._controlChanged()
        self.assertEqual([r.address for r in message.recipients],
                         ["b@example.test"])

    def test_reasonWithNewlineRefused(self):
        """A reason containing a newline is refused and nothing is
        written."""
        message = writeMessage(self, ["ra@example.test", "R", "N"])
        before = contentOf(message.controlPaths[0])
        self.assertRaises(controledit.InvalidValue, controledit.markDone,
                          message.controlPaths, message.recipients[0],
                          "x\nra@evil.example")
        self.assertEqual(contentOf(message.controlPaths[0]), before)


class AddRecipientTests(unittest.TestCase):
    def test_appendsToLastFile(self):
        """A new recipient is appended as r, R, N records to the last
        control file."""
        message = sampleCopy(self, "h-two-control-files")
        before = contentOf(message.controlPaths[1])
        controledit.addRecipient(message.controlPaths, "dave@example.test",
                                 "rfc822;team@example.test", "F")
        self.assertEqual(contentOf(message.controlPaths[1]),
                         before + b"rdave@example.test\n"
                                  b"Rrfc822;team@example.test\nNF\n")
        message._controlChanged()
        self.assertEqual(message.recipients[-1].triple,
                         ("dave@example.test", "rfc822;team@example.test",
                          "F"))

    def test_rawBytesKept(self):
        """An address that is not UTF-8 is written back byte for byte."""
        message = writeMessage(self, ["rt\udcebst@example.test", "R", "N"])
        raw = message.recipients[0].rawAddress
        self.assertEqual(raw, b"t\xebst@example.test")
        controledit.addRecipient(message.controlPaths, raw)
        self.assertTrue(contentOf(message.controlPaths[0]).endswith(
            b"rt\xebst@example.test\nR\nN\n"))

    def test_injectionRefused(self):
        """Addresses with control characters and invalid NOTIFY flags are
        refused."""
        message = writeMessage(self, ["ra@example.test", "R", "N"])
        for args in [("b@example.test\nrc@example.test",),
                     ("b@example.test\r",), ("b@example.test", "x\x00"),
                     ("b@example.test", "", "SX"),
                     ("b@example.test", "", "NS"), ("",)]:
            self.assertRaises(controledit.InvalidValue,
                              controledit.addRecipient, message.controlPaths,
                              *args)

    def test_missingNewlineAtEnd(self):
        """Records are never glued to an unterminated last line."""
        message = writeMessage(self, ["ra@example.test", "R", "N"])
        with open(message.controlPaths[0], "ab") as f:
            f.write(b"ulocal")
        controledit.addRecipient(message.controlPaths, "b@example.test")
        self.assertTrue(contentOf(message.controlPaths[0]).endswith(
            b"ulocal\nrb@example.test\nR\nN\n"))


class SetNotifyTests(unittest.TestCase):
    def test_removeLetterInPlace(self):
        """Removing S rewrites the N record in place with the same length
        and the same inode."""
        message = sampleCopy(self, "d-dsn")
        path = message.controlPaths[0]
        before = contentOf(path)
        inode = os.stat(path).st_ino
        controledit.setNotify(message.controlPaths, message.recipients[0],
                              "F")
        self.assertEqual(contentOf(path), before.replace(b"\nNSF\n",
                                                         b"\nNFF\n"))
        self.assertEqual(os.stat(path).st_ino, inode)
        message._controlChanged()
        self.assertNotIn("S", message.recipients[0].notify)

    def test_onlySuccessBecomesNever(self):
        """NOTIFY=SUCCESS without success is NOTIFY=NEVER, in place."""
        message = writeMessage(self, ["ra@example.test", "R", "NS"])
        controledit.setNotify(message.controlPaths, message.recipients[0],
                              "N")
        self.assertEqual(contentOf(message.controlPaths[0]),
                         b"ra@example.test\nR\nNN\n")

    def test_longerFlagsReAdd(self):
        """Flags that do not fit mark the recipient done and add it again
        with its raw address and original and the new flags."""
        message = writeMessage(self, ["ra@example.test", "Rorig@x", "N"])
        edits = controledit.ControlEdits(message.controlPaths, fixedClock)
        edits.setNotify(message.recipients[0], "SF")
        edits.commit()
        self.assertEqual(contentOf(message.controlPaths[0]),
                         b"ra@example.test\nRorig@x\nN\n"
                         b"I0 R 250 Ok - Re-added with NOTIFY changed by "
                         b"pyfilter\nS0 1700000000\n"
                         b"ra@example.test\nRorig@x\nNSF\n")

    def test_staleRecipientRefused(self):
        """An edit for a recipient that is no longer where it was fails with
        ControlFileError and changes nothing."""
        message = writeMessage(self, ["ra@example.test", "R", "NSF"])
        recipient = message.recipients[0]
        with open(message.controlPaths[0], "wb") as f:
            f.write(b"rb@example.test\nR\nNSF\n")
        self.assertRaises(ControlFileError, controledit.setNotify,
                          message.controlPaths, recipient, "F")
        self.assertEqual(contentOf(message.controlPaths[0]),
                         b"rb@example.test\nR\nNSF\n")


class MergeNotifyTests(unittest.TestCase):
    def test_merge(self):
        """Merged flags ask for every notification either recipient
        asked for."""
        cases = [("", "N", ""), ("N", "N", "N"), ("", "F", ""),
                 ("S", "", "SFD"), ("F", "DS", "SFD"), ("N", "F", "F"),
                 ("SF", "F", "SF")]
        for first, second, merged in cases:
            self.assertEqual(controledit.mergeNotify(first, second), merged,
                             (first, second))
