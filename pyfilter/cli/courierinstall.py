"""
C{pyfilter courier-install}: make pyfilter one of Courier's global filters.

    pyfilter courier-install [--name pyfilter] [--config FILE]
        [--modules-config FILE] [--state-dir DIR] [--python PATH]
        [--filters-dir DIR] [--no-start] [-- EXTRA TWISTD PYFILTER ARGS]
    pyfilter courier-install --remove [--name pyfilter] [--filters-dir DIR]

Courier starts every program linked into C{<sysconfdir>/filters/active} as
the mail user (C{courier}), with C{/usr} as its working directory and a bare
environment.  The installer therefore:

  1. checks that the mail user can execute the venv's interpreter and
     C{twistd}, import pyfilter with it, and read the configuration files
     (a Python under C{/root} fails here, with the reason);
  2. creates the state directory, owned by the mail user, mode 0750;
  3. builds Twisted's plugin cache as root, so that C{twistd} running as
     the mail user never tries to write it;
  4. writes C{<libexecdir>/filters/NAME}: a shell script that execs the
     venv's C{twistd} in the foreground, logging to standard output (which
     Courier sends to syslog), with absolute paths only;
  5. activates it (C{filterctl start NAME}; when NAME is already active,
     restarts courierfilter so that the new wrapper runs) and waits until
     C{<localstatedir>/allfilters/NAME} accepts connections.

When the modules file has a C{[quarantine]} section, step 4 also writes
the quarantine's release address,
C{<sysconfdir>/aliasdir/.courier-quarantine-<siteid>-default}, delivering to
C{pyfilter quarantine release} with the same modules file and state
directory (see L{pyfilter.cli.quarantine}).

C{--no-start} stops after step 4.  C{--remove} stops the filter
(C{filterctl stop NAME}), waits for its socket to go and deletes the
wrapper and the release address written for it.  Must run as root.
"""

import argparse
import grp
import os
import pwd
import shlex
import socket
import subprocess
import sys
import time

from pyfilter.courier.paths import discover
from pyfilter.config.errors import ConfigError
from pyfilter.config.modulesfile import ModulesConfig
from pyfilter.quarantine import SECTION as QUARANTINE_SECTION
from pyfilter.quarantine import Settings as QuarantineSettings
from pyfilter.config.locations import STATE_DIR

DEFAULT_NAME = "pyfilter"
DEFAULT_CONFIG = "/etc/pyfilter.conf"
DEFAULT_MODULES_CONFIG = "/etc/pyfilter-modules.conf"
DEFAULT_STATE_DIR = STATE_DIR
SOCKET_WAIT = 30
COMMAND_TIMEOUT = 60

PLUGIN_CACHE_SCRIPT = (
    "from twisted.application.service import IServiceMaker\n"
    "from twisted.plugin import getPlugins\n"
    "for maker in getPlugins(IServiceMaker):\n"
    "    print(maker.tapname)\n"
)
IMPORT_SCRIPT = "import pyfilter.cli, twisted.plugins.pyfilter_plugin"


class InstallError(Exception):
    """
    The installation cannot go on; the message tells the admin why.
    """


def runCommand(argv, timeout=COMMAND_TIMEOUT, cwd="/"):
    """
    Run C{argv} to completion within C{timeout} seconds.

    @return: the L{subprocess.CompletedProcess}, output captured as text.
    @raise InstallError: the program is missing or did not finish in time.
    """
    try:
        return subprocess.run(argv, capture_output=True, text=True,
                              timeout=timeout, cwd=cwd, check=False)
    except subprocess.TimeoutExpired as e:
        raise InstallError(f"{shlex.join(argv)} did not finish within "
                           f"{timeout} s") from e
    except OSError as e:
        raise InstallError(f"cannot run {argv[0]}: {e.strerror or e}") from e


def wrapperText(twistd, config, modulesConfig, stateDir, extraArgs=()):
    """
    The shell script Courier runs as the filter program.
    """
    command = [twistd, "--nodaemon", "--pidfile=", "--logfile=-", "pyfilter",
               "--config", config, "--modules-config", modulesConfig,
               "--state-dir", stateDir, *extraArgs]
    return ("#!/bin/sh\n"
            "# Courier global filter: pyfilter, written by "
            "'pyfilter courier-install'.\n"
            "# Courier runs it as the mail user with a bare environment; "
            "twistd logs to\n"
            "# standard output, which courierfilter sends to syslog.\n"
            f"exec {shlex.join(command)}\n")


def releaseAliasMarker(name):
    """
    The first line of a release address file written for filter C{name}.
    """
    return (f"# Release address of the quarantine of Courier filter {name}, "
            f"written by 'pyfilter courier-install'.\n")


def releaseAliasText(name, pyfilter, modulesConfig, stateDir):
    """
    The dot-courier file that hands mail to the release address to
    C{pyfilter quarantine release}.
    """
    command = [pyfilter, "quarantine", "--modules-config", modulesConfig,
               "--state-dir", stateDir, "release"]
    return f"{releaseAliasMarker(name)}| {shlex.join(command)}\n"


def releaseAliasName(siteid):
    """
    The file name Courier looks up for C{quarantine-<siteid>-*}: lower case,
    with the periods of the address as colons.
    """
    return f".courier-quarantine-{siteid.lower().replace('.', ':')}-default"


def processAlive(pidFile):
    """
    Whether the process named in C{pidFile} exists and is not a zombie.
    """
    try:
        with open(pidFile, encoding="ascii") as f:
            pid = int(f.read().split()[0])
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            state = f.read().rpartition(")")[2].split()[0]
    except (OSError, ValueError, IndexError):
        return False
    return state not in ("Z", "X")


def socketAnswers(path, timeout=1.0):
    """
    Whether a UNIX stream socket at C{path} accepts a connection.
    """
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.settimeout(timeout)
    try:
        probe.connect(path)
    except OSError:
        return False
    finally:
        probe.close()
    return True


def waitUntil(condition, timeout, interval=0.2, clock=time.monotonic,
              sleep=time.sleep):
    """
    Poll C{condition()} until it is true or C{timeout} seconds have passed.

    @return: whether the condition became true.
    """
    deadline = clock() + timeout
    while not condition():
        if clock() >= deadline:
            return False
        sleep(interval)
    return True


class Installer:
    """
    The steps of an installation, with Courier's layout in C{paths}.

    @ivar out: called with each line to tell the admin.
    @ivar run: runs a command (see L{runCommand}).
    """

    def __init__(self, paths, filtersDir=None, pidDir=None,
                 out=print, run=runCommand, socketWait=SOCKET_WAIT):
        self.paths = paths
        self.filtersDir = filtersDir or paths.filterProgramsDir
        self.pidDir = pidDir or paths.piddir
        self.out = out
        self.run = run
        self.socketWait = socketWait

    @property
    def user(self):
        return self.paths.mailuser

    def wrapperPath(self, name):
        return os.path.join(self.filtersDir, name)

    def activePath(self, name):
        return os.path.join(self.paths.sysconfdir, "filters", "active", name)

    def socketPath(self, name, selective=False):
        """
        Where filter C{name} listens: C{allfilters/NAME}, or C{filters/NAME}
        when it runs with C{--selective}.
        """
        directory = (self.paths.filtersDir if selective
                     else self.paths.allfiltersDir)
        return os.path.join(directory, name)

    def courierfilterRunning(self):
        return processAlive(os.path.join(self.pidDir, "courierfilter.pid"))

    def asMailUser(self, *argv):
        return self.run(["runuser", "-u", self.user, "--", *argv])

    def checkExecutable(self, path):
        """
        @raise InstallError: the mail user cannot execute C{path}.
        """
        if self.asMailUser("test", "-x", path).returncode != 0:
            raise InstallError(
                f"user {self.user} cannot execute {path}: Courier runs "
                f"filters as {self.user}, so the program and every directory "
                f"above it must be readable and executable by {self.user}. "
                f"A Python under /root is not; create the venv with "
                f"/usr/bin/python3 -m venv in a directory such as /opt and "
                f"install pyfilter there.")

    def checkReadable(self, path):
        """
        @raise InstallError: C{path} is missing or the mail user cannot
            read it.
        """
        if not os.path.isfile(path):
            raise InstallError(f"{path} does not exist")
        if self.asMailUser("test", "-r", path).returncode != 0:
            raise InstallError(f"user {self.user} cannot read {path}")

    def checkPython(self, python, twistd):
        """
        @raise InstallError: the mail user cannot run pyfilter with
            C{python} and C{twistd}.
        """
        if not os.access(twistd, os.X_OK):
            raise InstallError(
                f"no twistd next to {python}: --python must be the "
                f"interpreter of the venv where pyfilter is installed")
        self.checkExecutable(python)
        self.checkExecutable(twistd)
        result = self.asMailUser(python, "-c", IMPORT_SCRIPT)
        if result.returncode != 0:
            lines = (result.stderr or "").strip().splitlines() or ["?"]
            raise InstallError(f"user {self.user} cannot import pyfilter "
                               f"with {python}: {lines[-1]}")

    def buildPluginCache(self, python):
        """
        Write Twisted's plugin cache for C{python}'s venv (as root) and
        check that it lists pyfilter.
        """
        result = self.run([python, "-c", PLUGIN_CACHE_SCRIPT])
        if result.returncode != 0:
            lines = (result.stderr or "").strip().splitlines() or ["?"]
            raise InstallError(f"listing twistd plugins with {python} "
                               f"failed: {lines[-1]}")
        if "pyfilter" not in result.stdout.split():
            raise InstallError(f"twistd of {python} has no pyfilter plugin")
        self.out("built Twisted's plugin cache")

    def prepareStateDir(self, stateDir):
        """
        Create C{stateDir} owned by the mail user, mode 0750; an existing
        one is given to the mail user.
        """
        uid = pwd.getpwnam(self.user).pw_uid
        gid = grp.getgrnam(self.paths.mailgroup).gr_gid
        if not os.path.isdir(stateDir):
            os.makedirs(stateDir, mode=0o750)
            os.chown(stateDir, uid, gid)
            os.chmod(stateDir, 0o750)
            self.out(f"created {stateDir} (owner {self.user}, mode 0750)")
            return
        status = os.stat(stateDir)
        if (status.st_uid, status.st_gid) != (uid, gid):
            os.chown(stateDir, uid, gid)
            self.out(f"gave {stateDir} to {self.user}")

    def writeWrapper(self, name, text):
        path = self.wrapperPath(name)
        temporary = os.path.join(self.filtersDir, f".{name}.new")
        with open(temporary, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(temporary, 0o755)
        os.replace(temporary, path)
        self.out(f"wrote {path}")

    @property
    def aliasDir(self):
        return os.path.join(self.paths.sysconfdir, "aliasdir")

    def writeReleaseAlias(self, name, python, modulesConfig, stateDir):
        """
        Write the quarantine's release address when C{modulesConfig} has a
        C{[quarantine]} section.
        """
        try:
            modules = ModulesConfig.read(modulesConfig)
            if not modules.hasSection(QUARANTINE_SECTION):
                return
            siteid = QuarantineSettings.fromModules(modules, stateDir).siteid
        except ConfigError as e:
            raise InstallError(str(e)) from e
        pyfilter = os.path.join(os.path.dirname(python), "pyfilter")
        self.checkExecutable(pyfilter)
        os.makedirs(self.aliasDir, mode=0o755, exist_ok=True)
        path = os.path.join(self.aliasDir, releaseAliasName(siteid))
        temporary = path + ".new"
        with open(temporary, "w", encoding="utf-8") as f:
            f.write(releaseAliasText(name, pyfilter, modulesConfig, stateDir))
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
        self.out(f"wrote {path}: mail to quarantine-{siteid}-*@<me> "
                 f"releases quarantined messages")

    def removeReleaseAliases(self, name):
        """
        Delete the release address files written for filter C{name}.
        """
        try:
            names = os.listdir(self.aliasDir)
        except FileNotFoundError:
            return
        marker = releaseAliasMarker(name)
        for entry in names:
            if not (entry.startswith(".courier-quarantine-")
                    and entry.endswith("-default")):
                continue
            path = os.path.join(self.aliasDir, entry)
            with open(path, encoding="utf-8", errors="replace") as f:
                if f.readline() != marker:
                    continue
            os.unlink(path)
            self.out(f"removed {path}")

    def courierCommand(self, program, *args):
        """
        Run one of Courier's programs from sbindir.

        @raise InstallError: it failed.
        """
        argv = [os.path.join(self.paths.sbindir, program), *args]
        result = self.run(argv)
        if result.returncode != 0:
            raise InstallError(f"{shlex.join(argv)} failed (exit "
                               f"{result.returncode}): "
                               f"{(result.stderr or result.stdout).strip()}")

    def activate(self, name, selective=False):
        """
        Start filter C{name} and wait for its socket.
        """
        running = self.courierfilterRunning()
        if os.path.lexists(self.activePath(name)):
            if not running:
                self.out(f"{name} is already active; courierfilter is not "
                         f"running: it starts {name} when Courier starts")
                return
            self.out(f"{name} is already active: restarting courierfilter "
                     f"to run the new wrapper")
            self.courierCommand("courierfilter", "stop")
            self.courierCommand("courierfilter", "start")
        else:
            self.courierCommand("filterctl", "start", name)
            if not running:
                self.out(f"activated {name}; courierfilter is not running: "
                         f"it starts {name} when Courier starts")
                return
            self.out(f"activated {name} (filterctl start {name})")
        socketPath = self.socketPath(name, selective)
        if not waitUntil(lambda: socketAnswers(socketPath), self.socketWait):
            raise InstallError(
                f"{name} did not open {socketPath} within {self.socketWait} "
                f"s; its errors are in syslog (facility mail, "
                f"'courierfilter:' lines)")
        self.out(f"{name} is listening on {socketPath}")

    def install(self, name, python, config, modulesConfig, stateDir,
                extraArgs=(), start=True):
        twistd = os.path.join(os.path.dirname(python), "twistd")
        self.checkPython(python, twistd)
        self.checkReadable(config)
        if os.path.exists(modulesConfig):
            self.checkReadable(modulesConfig)
        else:
            self.out(f"note: {modulesConfig} does not exist; every filter "
                     f"runs with its defaults")
        self.prepareStateDir(stateDir)
        self.buildPluginCache(python)
        selective = "--selective" in extraArgs
        if name != DEFAULT_NAME:
            extraArgs = ["--socket", self.socketPath(name, selective),
                         *extraArgs]
        self.writeWrapper(name, wrapperText(twistd, config, modulesConfig,
                                            stateDir, extraArgs))
        self.writeReleaseAlias(name, python, modulesConfig, stateDir)
        if start:
            self.activate(name, selective)
        else:
            self.out(f"not started (--no-start): run 'filterctl start "
                     f"{name}' to activate it")

    def remove(self, name):
        if os.path.lexists(self.activePath(name)):
            self.courierCommand("filterctl", "stop", name)
            self.out(f"stopped {name} (filterctl stop {name})")
            if self.courierfilterRunning():
                sockets = [self.socketPath(name, selective)
                           for selective in (False, True)]
                if not waitUntil(lambda: not any(map(os.path.exists, sockets)),
                                 self.socketWait):
                    self.out(f"warning: the socket of {name} is still there "
                             f"after {self.socketWait} s")
        self.removeReleaseAliases(name)
        wrapper = self.wrapperPath(name)
        if os.path.lexists(wrapper):
            os.unlink(wrapper)
            self.out(f"removed {wrapper}")
        else:
            self.out(f"{wrapper} was not installed")


def parseArguments(argv):
    """
    Split C{argv} at C{--} into the installer's options and the extra
    arguments for C{twistd pyfilter}.
    """
    if "--" in argv:
        index = argv.index("--")
        own, extra = argv[:index], argv[index + 1:]
    else:
        own, extra = argv, []
    parser = argparse.ArgumentParser(
        prog="pyfilter courier-install",
        description="Install pyfilter as a Courier global filter.")
    parser.add_argument("--name", default=DEFAULT_NAME,
                        help="filter name (default %(default)s)")
    parser.add_argument("--config", default=DEFAULT_CONFIG,
                        help="chain file (default %(default)s)")
    parser.add_argument("--modules-config", default=DEFAULT_MODULES_CONFIG,
                        help="modules file (default %(default)s)")
    parser.add_argument("--state-dir", default=DEFAULT_STATE_DIR,
                        help="state directory (default %(default)s)")
    parser.add_argument("--python", default=sys.executable,
                        help="the venv's interpreter (default: this one)")
    parser.add_argument("--filters-dir",
                        help="Courier's filter programs directory "
                             "(default <libexecdir>/filters)")
    parser.add_argument("--no-start", action="store_true",
                        help="write the wrapper but do not activate it")
    parser.add_argument("--remove", action="store_true",
                        help="stop the filter and delete its wrapper")
    options = parser.parse_args(own)
    if not options.name or options.name.startswith(".") or "/" in options.name:
        parser.error(f"bad filter name {options.name!r}")
    options.extra = extra
    return options


def main(argv=None):
    options = parseArguments(sys.argv[1:] if argv is None else argv)
    if os.geteuid() != 0:
        print("pyfilter courier-install: must run as root (it writes into "
              "Courier's filter directory and runs commands as the mail "
              "user)", file=sys.stderr)
        return 1
    installer = Installer(discover(), filtersDir=options.filters_dir)
    try:
        if options.remove:
            installer.remove(options.name)
        else:
            installer.install(options.name, os.path.abspath(options.python),
                              os.path.abspath(options.config),
                              os.path.abspath(options.modules_config),
                              os.path.abspath(options.state_dir),
                              options.extra, start=not options.no_start)
    except (InstallError, OSError) as e:
        print(f"pyfilter courier-install: {e}", file=sys.stderr)
        return 1
    return 0
