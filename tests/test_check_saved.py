"""
Tests for C{pyfilter check} on saved messages (C{.eml} files, Maildirs)
with the envelope given as options: the control file it writes, the
summary and exit status over several messages, C{--json}, unreadable
files.
"""

import io
import json
import os
import tempfile

from twisted.internet.testing import MemoryReactorClock
from twisted.trial import unittest

from pyfilter.cli import check
from pyfilter.cli.checkreport import worst
from pyfilter.cli.savedmail import Envelope, TemporarySpool, returnPath
from pyfilter.courier.control import ControlFiles
from pyfilter.courier.queuefiles import copyWithLF
from pyfilter.engine.message import Message
from pyfilter.files import messageFiles
from tests.helpers import samplePaths
from tests.test_check import CheckFiles

REFUSED = "554 The extension of the attached file is blacklisted"

# A filter that refuses every message with its envelope as the reply's
# text, to show what the chain read from the control file.
ENVELOPE_ECHO = '''
from pyfilter import Filter, Reply


class EnvelopeEcho(Filter):
    onError = None

    def match(self, message):
        recipients = ",".join(r.triple[0] for r in message.recipients)
        return Reply("550", f"sender={message.sender!r} "
                     f"rcpts={recipients} ip={message.remoteIP} "
                     f"helo={message.helo} auth={message.authUser}")


FILTER = EnvelopeEcho
'''


def refusedSample():
    """
    The data file of the captured message with an C{.exe} attachment.
    """
    return samplePaths("f-attachment")[0]


class SavedMessageTests(CheckFiles, unittest.TestCase):
    def check(self, chain, *argv):
        """
        Run C{pyfilter check} with chain text C{chain}; return the exit
        status, standard output and error.
        """
        modules = os.path.join(self.directory, "modules")
        os.makedirs(modules, exist_ok=True)
        with open(os.path.join(modules, "envelopeecho.py"), "w") as f:
            f.write(ENVELOPE_ECHO)
        stdout, stderr = io.StringIO(), io.StringIO()
        status = check.main(
            ["--config", self.write("chain.conf", chain),
             "--modules-config", self.modulesPath,
             "--courier-sysconf", self.sysconfdir,
             "--state-dir", self.directory, "--module-path", modules,
             *argv], stdout, stderr, MemoryReactorClock())
        return status, stdout.getvalue(), stderr.getvalue()

    def maildir(self):
        """
        A Maildir with a refused message (in new) and an accepted one (in
        cur), and a subfolder that is not read.
        """
        maildir = os.path.join(self.directory, "Maildir")
        with open(refusedSample(), "rb") as f:
            refused = f.read()
        os.makedirs(os.path.join(maildir, "new"))
        os.makedirs(os.path.join(maildir, "tmp"))
        with open(os.path.join(maildir, "new", "1.refused"), "wb") as f:
            f.write(refused)
        self.write("Maildir/cur/2.accepted:2,S",
                   "From: a@example.org\nSubject: hi\n\nhello\n")
        self.write("Maildir/.Junk/cur/3.other", "Subject: no\n\nno\n")
        return maildir

    def test_envelopeOptions(self):
        """The sender, each recipient, the address, HELO name and AUTH
        user given as options are what the chain reads."""
        eml = self.write("m.eml", "Subject: hi\n\nhello\n")
        status, output, _ = self.check(
            "envelopeecho\n", "--from", "a@example.org",
            "--to", "b@example.test", "--to", "c@example.test",
            "--ip", "192.0.2.7", "--helo", "mx.example.org",
            "--auth", "alice", eml)
        self.assertEqual(output.splitlines()[-1],
                         "550 sender='a@example.org' "
                         "rcpts=b@example.test,c@example.test "
                         "ip=192.0.2.7 helo=mx.example.org auth=alice")
        self.assertEqual(status, 5)

    def test_returnPathDefault(self):
        """Without --from the sender is the message's Return-Path; local
        mail has no address, HELO name or AUTH user."""
        eml = self.write("m.eml", "Return-Path: <bounce@example.org>\n"
                         "Subject: hi\n\nhello\n")
        _, output, _ = self.check("envelopeecho\n", "--to", "b@example.test",
                                  eml)
        self.assertEqual(output.splitlines()[-1],
                         "550 sender='bounce@example.org' "
                         "rcpts=b@example.test ip=None helo=None auth=None")

    def test_nullSenderDefault(self):
        """Without --from nor Return-Path the sender is <>; --from '<>'
        gives it too."""
        eml = self.write("m.eml", "Subject: hi\n\nhello\n")
        for extra in ([], ["--from", "<>"]):
            _, output, _ = self.check("envelopeecho\n", "--to", "b@x.test",
                                      *extra, eml)
            self.assertIn("sender=''", output.splitlines()[-1], extra)

    def test_heloDefaultsToAddressLiteral(self):
        """With --ip and no --helo, the HELO name is the address
        literal."""
        eml = self.write("m.eml", "Subject: hi\n\nhello\n")
        _, output, _ = self.check("envelopeecho\n", "--to", "b@x.test",
                                  "--ip", "2001:db8::1", eml)
        self.assertIn("ip=2001:db8::1 helo=[2001:db8::1]", output)

    def test_controlFile(self):
        """The temporary spool holds a data file copied from the message
        and the control file Courier would write; it is removed."""
        eml = self.write("m.eml", "Return-Path: <r@example.org>\n\nx\n")
        spool = TemporarySpool()
        self.addCleanup(spool.remove)
        self.assertEqual(os.stat(spool.directory).st_mode & 0o777, 0o700)
        dataPath, controlPath = spool.queue(
            eml, Envelope(None, ["b@example.test"], "192.0.2.7", None,
                          "alice"), "Q1")
        with open(dataPath) as f:
            self.assertEqual(f.read(), "Return-Path: <r@example.org>\n\nx\n")
        message = Message(dataPath, [controlPath],
                          ControlFiles.read([controlPath]))
        self.assertEqual((message.sender, message.helo, message.authUser,
                          str(message.remoteIP)),
                         ("r@example.org", "[192.0.2.7]", "alice",
                          "192.0.2.7"))
        spool.remove()
        self.assertFalse(os.path.exists(spool.directory))

    def test_returnPath(self):
        """The Return-Path's address, '' for <>, None without one."""
        for text, expected in (("Return-Path: <a@b.example>\n\n", "a@b."
                                "example"),
                               ("return-path: <>\n\n", ""),
                               ("Subject: x\n\nReturn-Path: <c@d>\n", None)):
            path = self.write("rp.eml", text)
            self.assertEqual(returnPath(path), expected, text)

    def test_single(self):
        """One saved message is checked as a queued one: its verdicts, the
        reply, its exit status, no summary."""
        status, output, _ = self.check(
            "attachments\n", "--to", "b@example.test", refusedSample())
        self.assertEqual(output.splitlines()[1:], [REFUSED])
        self.assertEqual(status, 5)

    def test_maildir(self):
        """A Maildir's cur and new messages are checked, each under its
        heading, then the summary; the exit status is the worst."""
        maildir = self.maildir()
        status, output, _ = self.check("attachments\n", "--to",
                                       "b@example.test", maildir)
        lines = output.splitlines()
        self.assertEqual(len(lines), 7, output)
        self.assertEqual(lines[0], f"==> {maildir}/cur/2.accepted:2,S <==")
        self.assertRegex(lines[1], r"^attachments +no opinion \(")
        self.assertEqual(lines[2:4], ["200 Ok",
                                      f"==> {maildir}/new/1.refused <=="])
        self.assertRegex(lines[4], r"^attachments +" + REFUSED + r" \(")
        self.assertEqual(lines[5:], [
            REFUSED, "2 messages: 1 accepted (2xx), 0 temporary (4xx), "
            "1 refused (5xx), 0 unreadable"])
        self.assertEqual(status, 5)

    def test_spoolRemoved(self):
        """The temporary spool is gone after the run."""
        temporary = os.path.join(self.directory, "tmp")
        os.makedirs(temporary)
        self.patch(tempfile, "tempdir", temporary)
        self.check("attachments\n", "--to", "b@example.test", self.maildir())
        self.assertEqual(os.listdir(temporary), [])

    def test_scratchState(self):
        """
        Without --state-dir, saved messages run with a scratch state
        directory, removed afterwards; messages in the queue use the
        daemon's.
        """
        temporary = os.path.join(self.directory, "tmp")
        os.makedirs(temporary)
        self.patch(tempfile, "tempdir", temporary)
        made = []
        mkdtemp = tempfile.mkdtemp

        def recording(*args, **kwargs):
            made.append(mkdtemp(*args, **kwargs))
            return made[-1]
        self.patch(tempfile, "mkdtemp", recording)
        stdout, stderr = io.StringIO(), io.StringIO()
        status = check.main(
            ["--config", self.write("chain.conf", "attachments\n"),
             "--modules-config", self.modulesPath,
             "--courier-sysconf", self.sysconfdir,
             "--to", "b@example.test", self.maildir()],
            stdout, stderr, MemoryReactorClock())
        self.assertEqual(status, 5, stderr.getvalue())
        self.assertTrue(any("pyfilter-check-state-" in path
                            for path in made), made)
        self.assertEqual(os.listdir(temporary), [])
        options = check.Options()
        options.parseOptions([self.write("data", "x"), "control"])
        self.assertEqual(options["state-dir"], "/var/lib/pyfilter")

    def test_json(self):
        """--json prints one object per message, then the summary."""
        maildir = self.maildir()
        status, output, _ = self.check(
            "# empty\n", "--json", "--to", "b@example.test", maildir)
        first, second, summary = [json.loads(line)
                                  for line in output.splitlines()]
        self.assertEqual(status, 0)
        self.assertEqual(first, {"file": f"{maildir}/cur/2.accepted:2,S",
                                 "code": "200", "text": "Ok", "filters": []})
        self.assertEqual(second["file"], f"{maildir}/new/1.refused")
        self.assertEqual(summary, {"summary": {
            "messages": 2, "2xx": 2, "4xx": 0, "5xx": 0, "errors": 0}})

    def test_jsonVerdicts(self):
        """Each filter's verdict and time are in the object."""
        status, output, _ = self.check(
            "whitelist_auth\nattachments\n", "--json", "--to",
            "b@example.test", refusedSample())
        (record,) = [json.loads(line) for line in output.splitlines()]
        self.assertEqual((record["code"], record["text"]),
                         ("554", REFUSED[4:]))
        self.assertEqual([(f["name"], f["verdict"], f["testing"])
                          for f in record["filters"]],
                         [("whitelist_auth", "no opinion", False),
                          ("attachments", REFUSED, False)])
        for f in record["filters"]:
            self.assertIsInstance(f["ms"], float)

    def test_unreadable(self):
        """A file that cannot be read is reported and counted; the others
        are checked; the exit status is 1."""
        eml = self.write("ok.eml", "Subject: hi\n\nhello\n")
        missing = os.path.join(self.directory, "absent.eml")
        status, output, errors = self.check(
            "attachments\n", "--to", "b@example.test", missing, eml,
            refusedSample())
        self.assertIn(f"pyfilter check: {missing}: cannot read it: ",
                      errors)
        lines = output.splitlines()
        self.assertEqual(lines[:2], [f"==> {missing} <==",
                                     "not checked: cannot read it: No such "
                                     "file or directory"])
        self.assertEqual(lines[-1],
                         "3 messages: 1 accepted (2xx), 0 temporary (4xx), "
                         "1 refused (5xx), 1 unreadable")
        self.assertEqual(status, 1)

    def test_notRegularFile(self):
        """A pipe named on the command line is reported, not read (which
        would block)."""
        fifo = os.path.join(self.directory, "fifo")
        os.mkfifo(fifo)
        status, _, errors = self.check("attachments\n", "--to",
                                       "b@example.test", fifo)
        self.assertIn(f"{fifo}: cannot read it: not a regular file", errors)
        self.assertEqual(status, 1)

    def test_unreadableJson(self):
        """With --json an unreadable file has its object with the
        error."""
        missing = os.path.join(self.directory, "absent.eml")
        status, output, _ = self.check("attachments\n", "--json", "--to",
                                       "b@example.test", missing)
        (record,) = [json.loads(line) for line in output.splitlines()]
        self.assertEqual(record["file"], missing)
        self.assertIn("cannot read it", record["error"])
        self.assertEqual(status, 1)

    def test_worst(self):
        """An error is worse than a refusal, worse than a deferral."""
        self.assertEqual(worst([0, 4, 5, 1, 0]), 1)
        self.assertEqual(worst([0, 4, 5]), 5)
        self.assertEqual(worst([4, 0]), 4)
        self.assertEqual(worst([]), 0)

    def test_usageErrors(self):
        """Envelope options without --to, --helo without --ip, a bad
        address and no file are usage errors."""
        eml = self.write("m.eml", "Subject: hi\n\nhello\n")
        for argv in (["--from", "a@b.example", eml],
                     ["--to", "b@x.test", "--helo", "h.example", eml],
                     ["--to", "b@x.test", "--ip", "not-an-ip", eml],
                     ["--to", "b@x.test"]):
            status, output, errors = self.check("attachments\n", *argv)
            self.assertEqual((status, output), (1, ""), argv)
            self.assertIn("Usage:", errors)


class CopyWithLFTests(unittest.TestCase):
    def test_crlf(self):
        """CRLF becomes LF, also across chunks; a lone CR stays."""
        for size in (1, 2, 3, 65536):
            target = io.BytesIO()
            copyWithLF(io.BytesIO(b"a\r\nb\rc\r\n\r\nd\r"), target, size)
            self.assertEqual(target.getvalue(), b"a\nb\rc\n\nd\r", size)


class MessageFilesTests(unittest.TestCase):
    def test_unlistable(self):
        """A directory that cannot be listed is given as it is, for its
        reader to report."""
        directory = self.mktemp()
        os.makedirs(directory)

        def refuse(path):
            raise PermissionError(13, "Permission denied", path)
        self.patch(os, "listdir", refuse)
        self.assertEqual(list(messageFiles([directory])), [directory])
