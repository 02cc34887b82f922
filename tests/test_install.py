"""
Tests for pyfilter.install (pyfilter courier-install), in temporary
directories with a fake command runner: no real Courier.
"""

import grp
import io
import os
import pwd
import socket
import stat
import subprocess

from twisted.trial import unittest

from pyfilter.cli import courierinstall
from pyfilter.courier.paths import CourierPaths


class FakeRun:
    """
    Records commands; answers from C{answer(argv)} -> (returncode, stdout,
    stderr), or success with no output.
    """

    def __init__(self, answer=None):
        self.calls = []
        self.answer = answer or (lambda argv: None)

    def __call__(self, argv, timeout=courierinstall.COMMAND_TIMEOUT, cwd="/"):
        self.calls.append(list(argv))
        answer = self.answer(argv)
        if answer is None:
            if argv[-2:-1] == ["-c"] and "getPlugins" in argv[-1]:
                answer = (0, "web\npyfilter\n", "")
            else:
                answer = (0, "", "")
        return subprocess.CompletedProcess(argv, *answer)

    def programs(self):
        return [os.path.basename(call[0]) for call in self.calls]


class InstallerMixin:

    def setUp(self):
        self.root = self.mktemp()
        for sub in ("sysconf/filters/active", "spool/allfilters", "sbin",
                    "filters", "run", "venv/bin"):
            os.makedirs(os.path.join(self.root, sub))
        self.paths = CourierPaths(
            sysconfdir=self.path("sysconf"), localstatedir=self.path("spool"),
            bindir=self.path("bin"), sbindir=self.path("sbin"),
            libexecdir=self.path("libexec"),
            mailuser=pwd.getpwuid(os.getuid()).pw_name,
            mailgroup=grp.getgrgid(os.getgid()).gr_name)
        self.python = self.path("venv/bin/python")
        for program in ("python", "twistd"):
            with open(self.path("venv/bin", program), "w") as f:
                f.write("#!/bin/sh\n")
            os.chmod(self.path("venv/bin", program), 0o755)
        self.config = self.path("pyfilter.conf")
        with open(self.config, "w") as f:
            f.write("attachments\n")
        self.said = []
        self.run = FakeRun()

    def path(self, *parts):
        return os.path.join(self.root, *parts)

    def installer(self, socketWait=0):
        return courierinstall.Installer(self.paths, filtersDir=self.path("filters"),
                                 pidDir=self.path("run"), out=self.said.append,
                                 run=self.run, socketWait=socketWait)

    def markCourierfilterRunning(self):
        with open(self.path("run", "courierfilter.pid"), "w") as f:
            f.write(f"{os.getpid()}\n")


class WrapperTextTests(unittest.TestCase):

    def test_execsTwistdWithAbsolutePaths(self):
        """The wrapper execs twistd in the foreground with no pid or log file and the given paths."""
        text = courierinstall.wrapperText("/opt/pf/bin/twistd", "/etc/pyfilter.conf",
                                   "/etc/pyfilter-modules.conf",
                                   "/var/lib/pyfilter")
        self.assertTrue(text.startswith("#!/bin/sh\n"))
        self.assertEqual(
            text.splitlines()[-1],
            "exec /opt/pf/bin/twistd --nodaemon --pidfile= --logfile=- "
            "pyfilter --config /etc/pyfilter.conf --modules-config "
            "/etc/pyfilter-modules.conf --state-dir /var/lib/pyfilter")

    def test_quotesArguments(self):
        """Paths and extra arguments with shell metacharacters are quoted."""
        text = courierinstall.wrapperText("/opt/my venv/bin/twistd", "/etc/a;b",
                                   "/etc/m", "/var/s",
                                   ["--resolver", "127.0.0.1:5353", "$x"])
        self.assertIn("exec '/opt/my venv/bin/twistd' ", text)
        self.assertIn(" --config '/etc/a;b' ", text)
        self.assertTrue(text.endswith(
            " --resolver 127.0.0.1:5353 '$x'\n"))


class ParseArgumentsTests(unittest.TestCase):

    def test_defaults(self):
        """Without options the reference-like default paths and the running interpreter are used."""
        options = courierinstall.parseArguments([])
        self.assertEqual(
            (options.name, options.config, options.modules_config,
             options.state_dir, options.extra, options.no_start),
            ("pyfilter", "/etc/pyfilter.conf", "/etc/pyfilter-modules.conf",
             "/var/lib/pyfilter", [], False))

    def test_extraArgumentsAfterDoubleDash(self):
        """Everything after -- goes to twistd pyfilter untouched."""
        options = courierinstall.parseArguments(
            ["--name", "pf2", "--no-start", "--", "--resolver", "1.2.3.4",
             "--name"])
        self.assertEqual((options.name, options.no_start, options.extra),
                         ("pf2", True, ["--resolver", "1.2.3.4", "--name"]))

    def test_badName(self):
        """A filter name with a slash or a leading dot is refused."""
        self.patch(courierinstall.sys, "stderr", io.StringIO())
        for name in ("a/b", ".hidden"):
            self.assertRaises(SystemExit, courierinstall.parseArguments,
                              ["--name", name])


class ProcessAliveTests(unittest.TestCase):

    def test_alive(self):
        """A pid file naming a running process is alive."""
        path = self.mktemp()
        with open(path, "w") as f:
            f.write(f"{os.getpid()}\n")
        self.assertTrue(courierinstall.processAlive(path))

    def test_missingOrGarbage(self):
        """A missing pid file or one without a number is not alive."""
        path = self.mktemp()
        self.assertFalse(courierinstall.processAlive(path))
        with open(path, "w") as f:
            f.write("nonsense\n")
        self.assertFalse(courierinstall.processAlive(path))


class WaitUntilTests(unittest.TestCase):

    def test_givesUpAtTheDeadline(self):
        """waitUntil polls until its timeout and then reports failure."""
        now = [0.0]
        sleeps = []

        def sleep(seconds):
            sleeps.append(seconds)
            now[0] += seconds

        self.assertFalse(courierinstall.waitUntil(lambda: False, 1, interval=0.25,
                                           clock=lambda: now[0], sleep=sleep))
        self.assertEqual(sleeps, [0.25] * 4)

    def test_stopsWhenTrue(self):
        """waitUntil returns as soon as the condition holds."""
        answers = iter([False, True])
        self.assertTrue(courierinstall.waitUntil(lambda: next(answers), 10,
                                          sleep=lambda s: None))


class InstallTests(InstallerMixin, unittest.TestCase):

    def test_noStartWritesWrapperAndStateDir(self):
        """With --no-start the wrapper and state directory are made and nothing is activated."""
        stateDir = self.path("state", "pyfilter")
        self.installer().install("pyfilter", self.python, self.config,
                                 self.path("modules.conf"), stateDir,
                                 ["--resolver", "127.0.0.1:5353"], start=False)
        wrapper = self.path("filters", "pyfilter")
        with open(wrapper) as f:
            self.assertEqual(f.read(), courierinstall.wrapperText(
                self.path("venv/bin/twistd"), self.config,
                self.path("modules.conf"), stateDir,
                ["--resolver", "127.0.0.1:5353"]))
        self.assertEqual(stat.S_IMODE(os.stat(wrapper).st_mode), 0o755)
        status = os.stat(stateDir)
        self.assertEqual((stat.S_IMODE(status.st_mode), status.st_uid),
                         (0o750, os.getuid()))
        self.assertNotIn("filterctl", self.run.programs())
        self.assertIn([self.python, "-c", courierinstall.PLUGIN_CACHE_SCRIPT],
                      self.run.calls)
        self.assertFalse(os.path.exists(self.path("filters", ".pyfilter.new")))

    def test_checksAsTheMailUser(self):
        """The interpreter, twistd, the pyfilter import and the config are checked as the mail user."""
        self.installer().install("pyfilter", self.python, self.config,
                                 self.path("absent.conf"), self.path("state"),
                                 start=False)
        asUser = [call[4:] for call in self.run.calls
                  if call[:4] == ["runuser", "-u", self.paths.mailuser, "--"]]
        self.assertEqual(asUser, [
            ["test", "-x", self.python],
            ["test", "-x", self.path("venv/bin/twistd")],
            [self.python, "-c", courierinstall.IMPORT_SCRIPT],
            ["test", "-r", self.config]])
        self.assertIn("note: " + self.path("absent.conf")
                      + " does not exist; every filter runs with its defaults",
                      self.said)

    def test_refusesInterpreterTheMailUserCannotRun(self):
        """An interpreter the mail user cannot execute is refused with the reason and nothing is written."""
        self.run.answer = lambda argv: (
            (1, "", "") if argv[-3:] == ["test", "-x", self.python] else None)
        error = self.assertRaises(
            courierinstall.InstallError, self.installer().install, "pyfilter",
            self.python, self.config, self.path("m"), self.path("state"),
            start=False)
        self.assertIn(f"cannot execute {self.python}", str(error))
        self.assertIn("/usr/bin/python3", str(error))
        self.assertEqual(os.listdir(self.path("filters")), [])
        self.assertFalse(os.path.exists(self.path("state")))

    def test_refusesVenvWithoutTwistd(self):
        """An interpreter without twistd beside it is refused."""
        os.unlink(self.path("venv/bin/twistd"))
        error = self.assertRaises(
            courierinstall.InstallError, self.installer().install, "pyfilter",
            self.python, self.config, self.path("m"), self.path("state"))
        self.assertIn("no twistd next to", str(error))

    def test_refusesFailedImport(self):
        """When the mail user cannot import pyfilter, the last error line is shown."""
        self.run.answer = lambda argv: (
            (1, "", "Traceback\nModuleNotFoundError: No module named "
                    "'pyfilter'\n") if courierinstall.IMPORT_SCRIPT in argv else None)
        error = self.assertRaises(
            courierinstall.InstallError, self.installer().install, "pyfilter",
            self.python, self.config, self.path("m"), self.path("state"))
        self.assertIn("No module named 'pyfilter'", str(error))

    def test_refusesMissingConfig(self):
        """A chain file that does not exist is refused."""
        error = self.assertRaises(
            courierinstall.InstallError, self.installer().install, "pyfilter",
            self.python, self.path("nope.conf"), self.path("m"),
            self.path("state"))
        self.assertIn("nope.conf does not exist", str(error))

    def test_refusesVenvWithoutPlugin(self):
        """A venv whose twistd lists no pyfilter plugin is refused."""
        self.run.answer = lambda argv: (
            (0, "web\n", "") if courierinstall.PLUGIN_CACHE_SCRIPT in argv else None)
        error = self.assertRaises(
            courierinstall.InstallError, self.installer().install, "pyfilter",
            self.python, self.config, self.path("m"), self.path("state"))
        self.assertIn("no pyfilter plugin", str(error))

    def test_otherNameGetsItsOwnSocket(self):
        """A filter installed under another name listens on a socket of that name."""
        self.installer().install("pf2", self.python, self.config,
                                 self.path("m"), self.path("state"),
                                 ["--selective"], start=False)
        with open(self.path("filters", "pf2")) as f:
            self.assertTrue(f.read().endswith(
                " --socket " + self.path("spool", "filters", "pf2")
                + " --selective\n"))

    def test_existingStateDirGivenToMailUser(self):
        """An existing state directory is kept and not reported as created."""
        os.makedirs(self.path("state"))
        self.installer().install("pyfilter", self.python, self.config,
                                 self.path("m"), self.path("state"),
                                 start=False)
        self.assertFalse([line for line in self.said if "created" in line])


class ReleaseAliasTests(InstallerMixin, unittest.TestCase):

    def install(self, modulesText):
        modulesConfig = self.path("modules.conf")
        with open(modulesConfig, "w") as f:
            f.write(modulesText)
        self.installer().install("pyfilter", self.python, self.config,
                                 modulesConfig, self.path("state"),
                                 start=False)
        return modulesConfig

    def test_writtenForQuarantineSection(self):
        """A [quarantine] section gets the release address file, named as
        Courier looks it up (lower case, periods as colons), running the
        venv's pyfilter with the same modules file and state directory."""
        modulesConfig = self.install("[quarantine]\nsiteid = 'Mail.Site'\n")
        path = self.path("sysconf", "aliasdir",
                         ".courier-quarantine-mail:site-default")
        with open(path) as f:
            text = f.read()
        self.assertEqual(text, courierinstall.releaseAliasText(
            "pyfilter", self.path("venv/bin/pyfilter"), modulesConfig,
            self.path("state")))
        self.assertTrue(text.endswith(
            f"| {self.path('venv/bin/pyfilter')} quarantine --modules-config "
            f"{modulesConfig} --state-dir {self.path('state')} release\n"))
        self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), 0o644)
        self.assertIn(["runuser", "-u", self.paths.mailuser, "--", "test",
                       "-x", self.path("venv/bin/pyfilter")], self.run.calls)

    def test_noneWithoutQuarantineSection(self):
        """Without a [quarantine] section no release address is made."""
        self.install("[clamav.py]\naction = 'reject'\n")
        self.assertFalse(os.path.exists(self.path("sysconf", "aliasdir")))

    def test_badQuarantineSection(self):
        """A [quarantine] section with a bad site id stops the courierinstall."""
        self.assertRaises(courierinstall.InstallError, self.install,
                          "[quarantine]\nsiteid = 'a b'\n")

    def test_removedWithTheFilter(self):
        """--remove deletes the release address written for this filter,
        not files the admin wrote or written for another filter."""
        self.install("[quarantine]\n")
        aliasDir = self.path("sysconf", "aliasdir")
        for name, text in [(".courier-quarantine-own-default", "| mine\n"),
                           (".courier-quarantine-x-default",
                            courierinstall.releaseAliasMarker("other"))]:
            with open(os.path.join(aliasDir, name), "w") as f:
                f.write(text)
        self.installer().remove("pyfilter")
        self.assertEqual(sorted(os.listdir(aliasDir)),
                         [".courier-quarantine-own-default",
                          ".courier-quarantine-x-default"])


class ActivateTests(InstallerMixin, unittest.TestCase):

    def listen(self, name):
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.addCleanup(server.close)
        server.bind(self.path("spool", "allfilters", name))
        server.listen(5)

    def test_startsAndWaitsForSocket(self):
        """A new filter is started with filterctl and reported once its socket answers."""
        self.markCourierfilterRunning()
        self.listen("pyfilter")
        self.installer().activate("pyfilter")
        self.assertEqual(self.run.calls,
                         [[self.path("sbin", "filterctl"), "start",
                           "pyfilter"]])
        self.assertEqual(self.said[-1], "pyfilter is listening on "
                         + self.path("spool", "allfilters", "pyfilter"))

    def test_socketNeverAnswers(self):
        """A filter whose socket does not answer in time is an error that points at syslog."""
        self.markCourierfilterRunning()
        error = self.assertRaises(courierinstall.InstallError,
                                  self.installer().activate, "pyfilter")
        self.assertIn("syslog", str(error))

    def test_alreadyActiveRestartsCourierfilter(self):
        """An active filter is restarted by restarting courierfilter."""
        self.markCourierfilterRunning()
        os.symlink(self.path("filters", "pyfilter"),
                   self.path("sysconf/filters/active/pyfilter"))
        self.listen("pyfilter")
        self.installer().activate("pyfilter")
        courierfilter = self.path("sbin", "courierfilter")
        self.assertEqual(self.run.calls, [[courierfilter, "stop"],
                                          [courierfilter, "start"]])
        self.assertIn("already active", self.said[0])

    def test_courierfilterNotRunning(self):
        """Without a running courierfilter the filter is only linked and the admin is told."""
        self.installer().activate("pyfilter")
        self.assertEqual(self.run.programs(), ["filterctl"])
        self.assertIn("courierfilter is not running", self.said[-1])

    def test_filterctlFailure(self):
        """A failing filterctl is reported with its error output."""
        self.run.answer = lambda argv: (1, "", "ln: File exists\n")
        error = self.assertRaises(courierinstall.InstallError,
                                  self.installer().activate, "pyfilter")
        self.assertIn("ln: File exists", str(error))


class RemoveTests(InstallerMixin, unittest.TestCase):

    def test_stopsAndRemoves(self):
        """Removing an active filter stops it with filterctl and deletes the wrapper."""
        wrapper = self.path("filters", "pyfilter")
        with open(wrapper, "w") as f:
            f.write("#!/bin/sh\n")
        os.symlink(wrapper, self.path("sysconf/filters/active/pyfilter"))
        self.installer().remove("pyfilter")
        self.assertEqual(self.run.calls, [[self.path("sbin", "filterctl"),
                                           "stop", "pyfilter"]])
        self.assertFalse(os.path.exists(wrapper))

    def test_notInstalled(self):
        """Removing a filter that is not installed runs nothing and says so."""
        self.installer().remove("pyfilter")
        self.assertEqual(self.run.calls, [])
        self.assertIn("was not installed", self.said[-1])


class MainTests(unittest.TestCase):

    def test_refusesNonRoot(self):
        """courier-install run by another user than root exits 1 with a message."""
        self.patch(courierinstall.os, "geteuid", lambda: 1000)
        self.patch(courierinstall.sys, "stderr", io.StringIO())
        self.assertEqual(courierinstall.main(["--no-start"]), 1)
        self.assertIn("must run as root", courierinstall.sys.stderr.getvalue())
