"""
Tests for pyfilter.files.
"""

from twisted.trial import unittest

from pyfilter.files import readAtMost, readPathAtMost


class ReadAtMostTests(unittest.TestCase):
    def readBack(self, data, limit):
        path = self.mktemp()
        with open(path, "wb") as f:
            f.write(data)
        with open(path, "rb") as f:
            return readAtMost(f, limit)

    def test_wholeFile(self):
        """A file within the bound is read whole, an empty one too."""
        self.assertEqual(self.readBack(b"abc\n", 10), b"abc\n")
        self.assertEqual(self.readBack(b"0123456789", 10), b"0123456789")
        self.assertEqual(self.readBack(b"", 10), b"")

    def test_tooLong(self):
        """A longer file gives one byte more than the bound."""
        self.assertEqual(self.readBack(b"x" * 100, 10), b"x" * 11)


class ReadPathAtMostTests(unittest.TestCase):
    def readBack(self, data, limit):
        path = self.mktemp()
        with open(path, "wb") as f:
            f.write(data)
        return readPathAtMost(path, limit)

    def test_wholeFile(self):
        """A file within the bound is read whole, an empty one too."""
        self.assertEqual(self.readBack(b"abc\n", 10), b"abc\n")
        self.assertEqual(self.readBack(b"0123456789", 10), b"0123456789")
        self.assertEqual(self.readBack(b"", 10), b"")
        self.assertEqual(self.readBack(b"y" * 300000, 10 ** 6), b"y" * 300000)

    def test_tooLong(self):
        """A longer file gives one byte more than the bound."""
        self.assertEqual(self.readBack(b"x" * 100, 10), b"x" * 11)

    def test_missing(self):
        """A missing file raises OSError."""
        self.assertRaises(OSError, readPathAtMost, self.mktemp(), 10)
