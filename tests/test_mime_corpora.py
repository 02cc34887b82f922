"""
The attachments filter against the email package on real messages that
nobody here wrote: CPython's own email test messages (Debian's
libpython3.11-testsuite) and the message fixtures shipped in the PyPI
sdists of L{SDISTS}.  The property is the differential test's
(L{tests.test_mime_differential.checkMessage}): every name the email
package finds is tested, and where the scanner says it sees the message as
the email package does, it sees the same parts with the same headers.
None of these messages may be refused as too complex.

The sdists are not in the repository: tools/test.sh downloads them into a
cache directory and names it in C{PYFILTER_MAIL_CORPORA}:

    python -m tests.test_mime_corpora DIRECTORY

(C{pip download} of each missing one).  Without the variable or the
files, the sdist part of the test is skipped, saying so.
"""

import email
import glob
import os
import re
import subprocess
import sys
import tarfile

from twisted.trial.unittest import SkipTest, SynchronousTestCase

from tests.test_mime_differential import Counts, FilterRig, checkMessage

#: The environment variable naming the sdist cache directory.
CORPORA_VARIABLE = "PYFILTER_MAIL_CORPORA"

#: (PyPI name, version, the message files in the sdist).
SDISTS = [
    ("mail-parser", "4.8.0", r"/tests/mails/[^/]+$"),
    ("flufl.bounce", "6.0.0", r"/tests/data/[^/]+\.txt$"),
    ("django-mailbox", "4.10.1", r"/tests/messages/[^/]+\.eml$"),
    ("mailman", "3.3.10", r"\.eml$"),
    ("hyperkitty", "1.3.12", r"/tests/testdata/[^/]+\.txt$"),
    ("talon", "1.4.4", r"\.eml$"),
    ("salmon-mail", "3.3.0",
     r"/tests/data/(?:[^/]+\.msg|spam|templates/confirmation\.msg)$"),
]


def cpythonMessages():
    """
    C{(name, bytes)} of CPython's email test messages, or C{None} when the
    interpreter's test package is not installed.
    """
    directory = os.path.join(os.path.dirname(os.path.dirname(
        email.__file__)), "test", "test_email", "data")
    paths = sorted(glob.glob(os.path.join(directory, "msg_*.txt")))
    if not paths:
        return None
    found = []
    for path in paths:
        with open(path, "rb") as f:
            found.append((f"cpython/{os.path.basename(path)}", f.read()))
    return found


def _sdistDirectory(root, name, version):
    return os.path.join(root, f"{name}-{version}")


def fetch(root):
    """
    Download every sdist of L{SDISTS} that is not in C{root} yet.
    """
    for name, version, _ in SDISTS:
        directory = _sdistDirectory(root, name, version)
        if glob.glob(os.path.join(directory, "*.tar.gz")):
            continue
        os.makedirs(directory, exist_ok=True)
        subprocess.run([sys.executable, "-m", "pip", "download", "-q",
                        "--no-deps", "--no-binary", ":all:",
                        f"{name}=={version}", "-d", directory],
                       check=True, timeout=600)


def sdistMessages(root):
    """
    C{(corpus, [(name, bytes), ...])} for each sdist of L{SDISTS} in
    C{root}, or C{None} when one is missing.
    """
    corpora = []
    for name, version, pattern in SDISTS:
        archives = glob.glob(os.path.join(_sdistDirectory(root, name,
                                                          version),
                                          "*.tar.gz"))
        if not archives:
            return None
        found = []
        with tarfile.open(archives[0]) as archive:
            for member in archive.getmembers():
                if member.isfile() and re.search(pattern, member.name):
                    found.append((member.name,
                                  archive.extractfile(member).read()))
        corpora.append((f"{name}-{version}", sorted(found)))
    return corpora


def allCorpora():
    """
    Every corpus available here: C{[(corpus, [(name, bytes), ...])]}, and
    why some are missing (C{None} if none is).
    """
    corpora, missing = [], []
    cpython = cpythonMessages()
    if cpython is None:
        missing.append("CPython's email test messages are not installed "
                       "(Debian: libpython3.11-testsuite)")
    else:
        corpora.append(("cpython-3.11", cpython))
    root = os.environ.get(CORPORA_VARIABLE)
    sdists = sdistMessages(root) if root else None
    if sdists is None:
        missing.append(f"the sdist messages are not downloaded (set "
                       f"{CORPORA_VARIABLE} to a directory filled by "
                       f"'python -m tests.test_mime_corpora DIR', as "
                       f"tools/test.sh does)")
    else:
        corpora.extend(sdists)
    return corpora, "; ".join(missing) or None


class CorporaTests(SynchronousTestCase):
    def setUp(self):
        self.rig = FilterRig.forTest(self)

    def check(self, messages):
        counts = Counts()
        for name, data in messages:
            try:
                checkMessage(self.rig, data, counts)
            except AssertionError as e:
                self.fail(f"{name}: {e}")
            self.assertEqual(counts.refused, 0, f"{name} refused")
        return counts

    def test_cpythonMessages(self):
        """CPython's own email test messages: every name the email package
        finds is tested, none is refused."""
        messages = cpythonMessages()
        if messages is None:
            raise SkipTest("CPython's email test messages are not installed "
                           "(Debian package libpython3.11-testsuite)")
        counts = self.check(messages)
        self.assertEqual(counts.messages, len(messages))
        self.assertGreater(counts.names, 0)

    def test_sdistMessages(self):
        """The message fixtures of PyPI sdists: every name the email package
        finds is tested, none is refused."""
        root = os.environ.get(CORPORA_VARIABLE)
        corpora = sdistMessages(root) if root else None
        if corpora is None:
            raise SkipTest(allCorpora()[1])
        for corpus, messages in corpora:
            self.assertTrue(messages, f"no messages in {corpus}")
            self.check(messages)


def main(argv=None):
    if len(argv or sys.argv[1:]) != 1:
        raise SystemExit(f"usage: python -m tests.test_mime_corpora "
                         f"DIRECTORY")
    fetch((argv or sys.argv[1:])[0])


if __name__ == "__main__":
    main()
