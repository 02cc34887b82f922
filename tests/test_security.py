"""
Security checks of the daemon: its socket's mode and group, requests
confined to Courier's spool (symbolic links included), no eval, exec or
pickle in the code, no control characters from senders echoed into
Courier's reply, configuration files writable by others refused.
"""

import ast
import grp
import os
import re
import stat

from twisted.trial.unittest import SynchronousTestCase

from pyfilter.engine.chain import CONFIG_ERROR
from pyfilter.daemon.requests import REFUSED_PATH
from pyfilter.engine.reply import CONTROL_FAILURE
from tests.daemon import ROOT, Daemon

HERE = os.path.dirname(os.path.abspath(__file__))
TEST_FILTERS = os.path.join(HERE, "daemonfilters")

#: Built-ins that run text as code.
FORBIDDEN_CALLS = {"eval", "exec", "compile", "__import__"}
FORBIDDEN_MODULES = {"pickle", "cPickle", "marshal", "shelve", "dill",
                     "yaml", "jsonpickle"}

#: A reply Courier can read: lines of code and dash, the last code and space,
#: no control character but the line ends.
_REPLY = re.compile(rb"(?:(\d{3})-[^\x00-\x1f\x7f]*\n)*(\d{3}) "
                    rb"[^\x00-\x1f\x7f]*\n")


class DaemonCase(SynchronousTestCase):
    def daemon(self, chain, modules=None):
        daemon = Daemon(chain, modules, pythonPath=[TEST_FILTERS])
        self.addCleanup(daemon.cleanup)
        daemon.start()
        return daemon


class SocketTests(DaemonCase):
    def test_modeAndGroup(self):
        """The socket is mode 0660 and, when Courier's group exists, owned
        by it."""
        daemon = self.daemon("")
        info = os.stat(daemon.socketPath)
        self.assertEqual(stat.S_IMODE(info.st_mode), 0o660)
        try:
            gid = grp.getgrnam("courier").gr_gid
        except KeyError:
            return
        self.assertEqual(info.st_gid, gid)


class ConfinementTests(DaemonCase):
    def setUp(self):
        self.filter = self.daemon("attachments\nechosender\n")

    def test_absoluteOutside(self):
        """Absolute paths outside the spool are refused."""
        self.assertEqual(self.filter.send(b"/etc/passwd\n/etc/passwd\n\n"),
                         REFUSED_PATH.toBytes())

    def test_dotDot(self):
        """Relative paths climbing out of the spool are refused."""
        for raw in [b"../../../etc/passwd\n../../../etc/passwd\n\n",
                    b"tmp/../../../etc/passwd\nx\n\n"]:
            self.assertEqual(self.filter.send(raw), REFUSED_PATH.toBytes())

    def test_symlinks(self):
        """Symbolic links (to files or through directories) leading out of
        the spool are refused, never read."""
        dataPath, controlPaths = self.filter.copyMessage("a-plain")
        directory = os.path.dirname(dataPath)
        linkData = os.path.join(directory, "linkdata")
        os.symlink("/etc/passwd", linkData)
        linkDirectory = os.path.join(directory, "etc")
        os.symlink("/etc", linkDirectory)
        for request in [(linkData, controlPaths),
                        (os.path.join(linkDirectory, "passwd"), controlPaths),
                        (dataPath, [os.path.join(linkDirectory, "passwd")])]:
            reply = self.filter.request(*request)
            self.assertIn(reply, (CONTROL_FAILURE.toBytes(),
                                  REFUSED_PATH.toBytes()))
        self.assertIn("leads outside the spool", self.filter.log())


class CodeTests(SynchronousTestCase):
    def test_noEvalExecPickle(self):
        """No module of pyfilter or its filters calls eval, exec, compile or
        __import__, or imports pickle, marshal, shelve or yaml."""
        found = []
        for top in ("pyfilter", "filters"):
            for directory, _, names in os.walk(os.path.join(ROOT, top)):
                for name in names:
                    if name.endswith(".py"):
                        found.extend(self.forbidden(
                            os.path.join(directory, name)))
        self.assertEqual(found, [])

    def forbidden(self, path):
        with open(path, encoding="utf-8") as f:
            tree = ast.parse(f.read(), path)
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                function = node.func
                if isinstance(function, ast.Attribute) and isinstance(
                        function.value, ast.Name) and \
                        function.value.id == "builtins":
                    name = function.attr
                else:
                    name = getattr(function, "id", None)
                if name in FORBIDDEN_CALLS:
                    yield f"{path}:{node.lineno}: {name}()"
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.split(".")[0] in FORBIDDEN_MODULES:
                        yield f"{path}:{node.lineno}: import {alias.name}"
            elif isinstance(node, ast.ImportFrom):
                if (node.module or "").split(".")[0] in FORBIDDEN_MODULES:
                    yield f"{path}:{node.lineno}: from {node.module}"


class ReplyInjectionTests(DaemonCase):
    def assertSafeReply(self, reply, code):
        match = _REPLY.fullmatch(reply)
        self.assertIsNotNone(match, reply)
        codes = set(re.findall(rb"^(\d{3})", reply, re.MULTILINE))
        self.assertEqual(codes, {code}, reply)

    def test_senderEchoed(self):
        """A sender holding CR, NUL, ESC and a fake reply is echoed without
        any control character, on one line of the filter's code."""
        daemon = self.daemon("echosender\n")
        dataPath, controlPaths = daemon.copyMessage("a-plain")
        with open(controlPaths[0], "rb") as f:
            records = f.read().split(b"\n")
        records[0] = b"sevil\r\r200 Ok\x00\x1b[2J\x07\x7f@example.org"
        with open(controlPaths[0], "wb") as f:
            f.write(b"\n".join(records))
        reply = daemon.request(dataPath, controlPaths)
        self.assertSafeReply(reply, b"517")
        self.assertIn(b"evil200 Ok[2J@example.org", reply)

    def test_legacyModuleEchoesHeader(self):
        """A reference-style module echoing a folded header (CR LF and a
        fake 250 line) gives a reply whose every line has its code."""
        daemon = self.daemon("legacyechosubject\n")
        dataPath, controlPaths = daemon.copyMessage("a-plain")
        with open(dataPath, "wb") as f:
            f.write(b"Subject: x\r\n250 Ok\r\n\t\x00\x1b z\nX-End: 1\n\n"
                    b"body\n")
        self.assertSafeReply(daemon.request(dataPath, controlPaths), b"550")


class WritableConfigTests(DaemonCase):
    def assertRefused(self, daemon, path):
        reply = daemon.request(*daemon.copyMessage("a-plain"))
        self.assertEqual(reply, CONFIG_ERROR.toBytes())
        self.assertIn(path, daemon.log())
        self.assertIn("writable by any user", daemon.log())

    def test_modulesConfigWritableByOthers(self):
        """A modules configuration writable by any user is refused: every
        message gets the configuration-error 451, the log names the
        file."""
        daemon = Daemon("attachments\n", "[attachments.py]\n",
                        pythonPath=[TEST_FILTERS])
        self.addCleanup(daemon.cleanup)
        os.chmod(daemon.modulesPath, 0o666)
        daemon.start()
        self.assertRefused(daemon, daemon.modulesPath)

    def test_chainWritableByOthers(self):
        """A chain file writable by any user is refused likewise."""
        daemon = Daemon("attachments\n", "", pythonPath=[TEST_FILTERS])
        self.addCleanup(daemon.cleanup)
        os.chmod(daemon.chainPath, 0o646)
        daemon.start()
        self.assertRefused(daemon, daemon.chainPath)
