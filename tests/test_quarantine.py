"""
Tests for pyfilter.quarantine and the C{pyfilter quarantine} command.
"""

import io
import json
import os
import subprocess
import sys

from twisted.internet import defer
from twisted.trial import unittest

from pyfilter.courier import mime
from pyfilter import quarantine
from pyfilter.cli import quarantine as quarantinecommand
from pyfilter.config.errors import ConfigError
from pyfilter.config.modulesfile import ModulesConfig
from pyfilter.courier.sendmail import SendmailError
from tests.daemon import ROOT
from tests.helpers import makeContext, writeMessage
from tests.test_controledit import contentOf

DATA = b"From: Mallory <m@evil.example>\nSubject: invoice\n\nvirus\n"


class FakeSendmail:
    def __init__(self, failing=False):
        self.sent = []
        self.failing = failing

    def send(self, recipients, message, sender=None):
        self.sent.append((recipients, message))
        if self.failing:
            return defer.fail(SendmailError("sendmail failed"))
        return defer.succeed(None)


class ImmediateThreads:
    def run(self, function, *args):
        return defer.maybeDeferred(function, *args)


def modules(text):
    config = ModulesConfig()
    config.parser.read_string(text)
    return config


class Clock:
    def __init__(self, now=1800000000.0):
        self.now = now

    def __call__(self):
        return self.now


def makeStore(testCase, text="", clock=None, key=b"k" * 32):
    stateDir = os.path.abspath(testCase.mktemp())
    settings = quarantine.Settings.fromModules(modules(text), stateDir)
    return quarantine.Quarantine(settings, key, "mail.example.test",
                                 FakeSendmail(), clock or Clock())


def released(store, entry):
    """
    What a release of C{entry} submits: the mark, then the held bytes.
    """
    return (f"X-Quarantine-Released: {store.releaseMark(entry.id)}\n"
            .encode("ascii") + DATA)


def heldMessage(testCase):
    return writeMessage(testCase, [
        "sm@evil.example", "ralice@example.test",
        "Rrfc822;team@example.test", "N", "rbob@example.test", "R", "N"],
        DATA)


class SettingsTests(unittest.TestCase):
    def test_defaults(self):
        """Without a [quarantine] section the reference's defaults apply,
        with the directory in the state dir."""
        settings = quarantine.Settings.fromModules(modules(""), "/state")
        self.assertEqual(settings, quarantine.Settings(
            "local", "/state/quarantine", 14, True, "", True))

    def test_badValues(self):
        """Wrongly typed values and site ids that cannot be part of an
        address are configuration errors."""
        for text in ["days = 'x'", "siteid = 'a b'", "siteid = ''"]:
            self.assertRaises(ConfigError, quarantine.Settings.fromModules,
                              modules("[quarantine]\n" + text + "\n"), "/s")


class HoldTests(unittest.TestCase):
    def test_holdCopiesAndMarks(self):
        """The data and control files are copied into a complete entry and
        every recipient is marked delivered."""
        store = makeStore(self)
        message = heldMessage(self)
        control = contentOf(message.controlPaths[0])
        entry = store.hold(message, "Virus found: Eicar")
        self.assertEqual(contentOf(entry.dataPath), DATA)
        self.assertEqual(contentOf(os.path.join(entry.directory,
                                                "control.0")), control)
        with open(os.path.join(entry.directory, "entry.json")) as f:
            described = json.load(f)
        self.assertEqual(described["from"], "Mallory <m@evil.example>")
        self.assertEqual([r["address"] for r in described["recipients"]],
                         ["alice@example.test", "bob@example.test"])
        self.assertEqual(os.listdir(store.settings.directory), [entry.id])
        self.assertIn(b"I1 R 250 Ok - quarantined as " + entry.id.encode()
                      + b"\nS1 1800000000\n",
                      contentOf(message.controlPaths[0]))
        self.assertEqual([e.id for e in store.entries()], [entry.id])

    def test_purge(self):
        """Entries older than days are purged, newer ones kept."""
        clock = Clock()
        store = makeStore(self, "[quarantine]\ndays = 2\n", clock)
        old = store.hold(heldMessage(self), "old")
        clock.now += 86400
        new = store.hold(heldMessage(self), "new")
        clock.now += 86400 + 1
        self.assertEqual(store.purge(), [old.id])
        self.assertEqual([e.id for e in store.entries()], [new.id])


class TokenTests(unittest.TestCase):
    def test_tokenRoundTrip(self):
        """A release address names the entry and recipient; altered,
        truncated or foreign tokens are refused."""
        store = makeStore(self)
        token = store.token("abcdefghijklmnopqrst", 1)
        self.assertEqual(store.parseToken(token.upper()),
                         ("abcdefghijklmnopqrst", 1))
        self.assertEqual(store.releaseAddress("abcdefghijklmnopqrst", 1),
                         f"quarantine-local-{token}@mail.example.test")
        altered = token[:-1] + ("a" if token[-1] != "a" else "b")
        other = makeStore(self, key=b"x" * 32)
        otherSite = makeStore(self, "[quarantine]\nsiteid = 'elsewhere'\n")
        for bad in [altered, token[:20] + "0" + token[21:], token[:-2],
                    "abcdefghijklmnopqrst1", "", "../../etc/passwd"]:
            self.assertIsNone(store.parseToken(bad), bad)
        self.assertIsNone(other.parseToken(token))
        self.assertIsNone(otherSite.parseToken(token))

    def test_keyCreatedOnce(self):
        """The secret is created with mode 0600 and then reused."""
        stateDir = os.path.abspath(self.mktemp())
        os.makedirs(stateDir)
        key = quarantine.loadKey(stateDir)
        self.assertEqual(len(key), 32)
        self.assertEqual(quarantine.loadKey(stateDir), key)
        self.assertEqual(os.stat(os.path.join(stateDir, "quarantine.key"))
                         .st_mode & 0o777, 0o600)


    def test_keyCreatedByRootGivenToStateDirOwner(self):
        """Created by root, the secret belongs to the state directory's
        owner, so that the daemon can still read it."""
        if os.geteuid() != 0:
            raise unittest.SkipTest("needs root, to give files away")
        stateDir = os.path.abspath(self.mktemp())
        os.makedirs(stateDir)
        os.chown(stateDir, 65534, 65534)
        quarantine.loadKey(stateDir)
        status = os.stat(os.path.join(stateDir, "quarantine.key"))
        self.assertEqual((status.st_uid, status.st_gid), (65534, 65534))


class NoticeTests(unittest.TestCase):
    def test_noticeText(self):
        """The notice has the reference's headers and says why, until when,
        from whom, and the release address."""
        store = makeStore(self)
        entry = store.hold(heldMessage(self), "Virus found: Eicar")
        (to, notice), _ = store.notices(entry)
        self.assertEqual(to, "alice@example.test")
        text = notice.decode("utf-8")
        self.assertTrue(text.startswith(
            "From: Mail Quarantine System <postmaster@mail.example.test>\r\n"
            "To: <alice@example.test>\r\nSubject: Quarantine notice\r\n"))
        self.assertIn("You received a message that was quarantined because:"
                      "\nVirus found: Eicar\n", text)
        self.assertIn("held until Fri January 29, 2027.", text)
        self.assertIn('"Mallory <m@evil.example>"', text)
        self.assertIn('"invoice"', text)
        self.assertIn("Quarantine release address: "
                      + store.releaseAddress(entry.id, 0) + "\n", text)

    def test_alsoNotifyWithoutUserRelease(self):
        """With user_release 0 recipients are told the also_notify address
        and only its copies carry release addresses."""
        store = makeStore(self, "[quarantine]\nalso_notify = "
                                "'admin@example.test'\nuser_release = 0\n")
        entry = store.hold(heldMessage(self), "spam")
        notices = store.notices(entry)
        self.assertEqual([to for to, _ in notices],
                         ["alice@example.test", "admin@example.test",
                          "bob@example.test", "admin@example.test"])
        self.assertIn(b"address: admin@example.test\n", notices[0][1])
        self.assertIn(store.releaseAddress(entry.id, 0).encode(),
                      notices[1][1])

    def test_noRecipientNotice(self):
        """notify_recipient False without also_notify sends nothing."""
        store = makeStore(self, "[quarantine]\nnotify_recipient = False\n")
        entry = store.hold(heldMessage(self), "spam")
        self.assertEqual(store.notices(entry), [])


class QuarantineTests(unittest.TestCase):
    def context(self):
        context = makeContext(self)
        context.threads = ImmediateThreads()
        return context

    def test_quarantine(self):
        """quarantine() holds the message, marks its recipients delivered
        and sends the notices; it fires with the entry id."""
        context = self.context()
        quarantine.forContext(context).sendmail = sendmail = FakeSendmail()
        message = heldMessage(self)
        entryId = self.successResultOf(quarantine.quarantine(
            context, message, "Virus found"))
        self.assertEqual(message.recipients, [])
        self.assertEqual([to for to, _ in sendmail.sent],
                         [["alice@example.test"], ["bob@example.test"]])
        self.assertEqual([e.id for e in
                          quarantine.forContext(context).entries()],
                          [entryId])

    def test_noticeFailureFails(self):
        """If a notice cannot be sent the Deferred fails (the filter then
        answers a temporary failure)."""
        context = self.context()
        quarantine.forContext(context).sendmail = FakeSendmail(failing=True)
        self.failureResultOf(quarantine.quarantine(
            context, heldMessage(self), "Virus found"))

    def test_configErrorFails(self):
        """A broken [quarantine] section fails the Deferred."""
        context = makeContext(self, modulesText="[quarantine]\ndays = 'x'\n")
        self.failureResultOf(quarantine.quarantine(
            context, heldMessage(self), "Virus found"), ConfigError)


class ReleaseTests(unittest.TestCase):
    def test_releaseToNamedRecipient(self):
        """A genuine token delivers the held bytes to its recipient
        only."""
        store = makeStore(self)
        entry = store.hold(heldMessage(self), "spam")
        sent = self.successResultOf(store.release(store.token(entry.id, 1)))
        self.assertEqual(sent, ["bob@example.test"])
        self.assertEqual(store.sendmail.sent, [(["bob@example.test"],
                                                released(store, entry))])

    def test_guessedRefused(self):
        """A guessed or forged token releases nothing."""
        store = makeStore(self)
        entry = store.hold(heldMessage(self), "spam")
        for token in [entry.id + "0", entry.id + "0" + "a" * 13]:
            self.assertIsNone(self.successResultOf(store.release(token)))
        self.assertEqual(store.sendmail.sent, [])


class ReleasedMessageTests(unittest.TestCase):
    """
    A release comes back through the filters when Courier filters local
    mail: it must pass, and nothing else may pass for it.
    """

    def comeBack(self, data):
        return writeMessage(self, ["s", "ralice@example.test", "R", "N"],
                            b"Received: from localhost\n" + data)

    def test_releaseRecognised(self):
        """A release, with Courier's Received line in front, is recognised
        as a release of its entry."""
        store = makeStore(self)
        entry = store.hold(heldMessage(self), "spam")
        message = self.comeBack(released(store, entry))
        self.assertEqual(store.releasedEntry(message).id, entry.id)
        self.assertIsNone(store.holdUnlessReleased(message, "spam"))
        self.assertEqual([e.id for e in store.entries()], [entry.id])
        self.assertEqual(len(message.recipients), 1)

    def test_forgedOrMovedMarkRefused(self):
        """A mark with a wrong MAC, of another key, of an entry that is not
        held, or on another body, does not let a message pass."""
        store = makeStore(self)
        entry = store.hold(heldMessage(self), "spam")
        mark = store.releaseMark(entry.id)
        other = makeStore(self, key=b"x" * 32)
        forged = [mark[:-1] + ("a" if mark[-1] != "a" else "b"),
                  other.releaseMark(entry.id), store.releaseMark("a" * 20),
                  entry.id, f"{mark} extra", "\u00e9 x"]
        for value in forged:
            message = self.comeBack(
                f"X-Quarantine-Released: {value}\n".encode("utf-8") + DATA)
            self.assertIsNone(store.releasedEntry(message), value)
        moved = self.comeBack(released(store, entry) + b"more virus\n")
        self.assertIsNone(store.releasedEntry(moved))
        self.assertIsNotNone(store.holdUnlessReleased(moved, "spam"))

    def test_quarantinePassesRelease(self):
        """quarantine() fires with None for a release: nothing is held, no
        notice sent, no recipient marked."""
        context = makeContext(self)
        context.threads = ImmediateThreads()
        store = quarantine.forContext(context)
        store.sendmail = FakeSendmail()
        entry = store.hold(heldMessage(self), "spam")
        message = self.comeBack(released(store, entry))
        self.assertIsNone(self.successResultOf(quarantine.quarantine(
            context, message, "spam")))
        self.assertEqual(store.sendmail.sent, [])
        self.assertEqual(len(message.recipients), 1)

    def test_bodyDigest(self):
        """The digest covers the body only, LF or CRLF header ends."""
        digests = []
        for data in [b"A: 1\n\nbody\n", b"B: 2\nC: 3\n\nbody\n",
                     b"A: 1\r\n\r\nbody\n", b"\nbody\n"]:
            path = self.mktemp()
            with open(path, "wb") as f:
                f.write(data)
            digests.append(mime.bodyDigest(path))
        self.assertEqual(len(set(digests)), 1)
        empty = self.mktemp()
        open(empty, "wb").close()
        self.assertNotEqual(mime.bodyDigest(empty), digests[0])


class CommandTests(unittest.TestCase):
    def release(self, store, argument, environ=None):
        out, err = io.StringIO(), io.StringIO()
        status = self.successResultOf(quarantinecommand.release(
            store, argument, environ or {}, out, err))
        return status, out.getvalue(), err.getvalue()

    def test_releaseFromMail(self):
        """Run by Courier, the token comes from DEFAULT; a bad one exits 0
        without an answer."""
        store = makeStore(self)
        entry = store.hold(heldMessage(self), "spam")
        token = store.token(entry.id, 0)
        self.assertEqual(self.release(store, None, {"DEFAULT": token})[:2],
                         (0, "released to alice@example.test\n"))
        status, _, err = self.release(store, None, {"DEFAULT": "forged"})
        self.assertEqual(status, 0)
        self.assertIn("release refused", err)
        self.assertEqual(len(store.sendmail.sent), 1)

    def test_defaultMissing(self):
        """Without DEFAULT the reference's message and status 78."""
        status, _, err = self.release(makeStore(self), None)
        self.assertEqual(status, 78)
        self.assertEqual(err, "Could not find the DEFAULT environment "
                              "variable.\nSee the pythonfilter documentation "
                              "for proper setup.\n")

    def test_adminReleaseById(self):
        """An administrator releases by entry id to every recipient."""
        store = makeStore(self)
        entry = store.hold(heldMessage(self), "spam")
        self.assertEqual(self.release(store, entry.id)[0], 0)
        self.assertEqual(store.sendmail.sent, [(["alice@example.test",
                                                 "bob@example.test"],
                                                released(store, entry))])
        self.assertEqual(self.release(store, "nosuchid")[0], 1)

    def test_list(self):
        """list prints one line per entry."""
        store = makeStore(self)
        entry = store.hold(heldMessage(self), "Virus found")
        out = io.StringIO()
        quarantinecommand.listEntries(store, out)
        self.assertTrue(out.getvalue().startswith(entry.id + "  "))
        self.assertIn('to alice@example.test, bob@example.test  subject '
                      '"invoice"  (Virus found)\n', out.getvalue())

    def test_usage(self):
        """Unknown commands are usage errors (status 64)."""
        err = io.StringIO()
        self.assertEqual(quarantinecommand.main(["frobnicate"], {},
                                            stdout=io.StringIO(), stderr=err),
                         64)
        self.assertEqual(quarantinecommand.main(["purge", "x"], {},
                                            stdout=io.StringIO(), stderr=err),
                         64)

    def test_requestDiscarded(self):
        """Run by Courier, the request on standard input is read to its end
        (so Courier never writes into a closed pipe)."""
        stateDir = os.path.abspath(self.mktemp())
        os.makedirs(stateDir)
        modulesConfig = os.path.join(stateDir, "modules.conf")
        open(modulesConfig, "w").close()
        process = subprocess.Popen(
            [sys.executable, "-m", "pyfilter.cli", "quarantine",
             "--modules-config", modulesConfig, "--courier-sysconf", stateDir,
             "--state-dir", stateDir, "release"],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=dict(os.environ, DEFAULT="forged", PYTHONPATH=ROOT))
        with process:
            # Far more than a pipe holds: a child that exits without
            # reading makes this write fail with EPIPE.
            process.stdin.write(b"x" * 4000000)
            process.stdin.close()
            errors = process.stderr.read()
        self.assertEqual(process.wait(60), 0, errors)
        self.assertIn(b"release refused", errors)
