"""
C{pyfilter rspamd learn-spam|learn-ham FILE...}: train rspamd's Bayes
classifier with messages, through its controller.

    pyfilter rspamd learn-spam [--controller URL] [--password PW] FILE...

Each FILE is a message, or a Maildir (its C{cur} and C{new} messages) or
any directory (its files).  The controller and its password come from the
options, else from the rspamd filter's section of the modules file
(C{controller}, C{password}), else C{http://127.0.0.1:11334} and none.
A summary line tells how many were learned, skipped (already learned,
too short) and failed.

From cron, e.g. nightly from each user's Junk folder::

    0 3 * * * courier pyfilter rspamd learn-spam /home/*/Maildir/.Junk

Exit status: 0 every message learned or skipped, 1 some failed, 64 usage.
"""

import os
import sys

from twisted.internet import defer
from twisted.python import usage

from pyfilter.cli.reactorrun import runOnReactor
from pyfilter.clients.rspamd import (
    DEFAULT_CONTROLLER, RspamdClient, RspamdError)
from pyfilter.config.locations import MODULES_CONFIGS, firstExisting
from pyfilter.config.errors import ConfigError
from pyfilter.config.modulesfile import ModulesConfig
from pyfilter.files import messageFiles

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 64


class Options(usage.Options):
    synopsis = ("Usage: pyfilter rspamd learn-spam|learn-ham [options] "
                "FILE...")
    optParameters = [
        ["controller", None, None, "rspamd's controller URL"],
        ["password", None, None, "the controller's password"],
        ["config", None, None, "the modules file"],
        ["timeout", None, 30.0, "seconds per message", float],
    ]

    def parseArgs(self, command, *files):
        if command not in ("learn-spam", "learn-ham"):
            raise usage.UsageError(f"unknown command {command!r}")
        if not files:
            raise usage.UsageError("no file to learn")
        self["spam"] = command == "learn-spam"
        self["files"] = files


def settings(options):
    """
    The controller URL and password: the options, else the modules file.
    """
    path = options["config"] or firstExisting(MODULES_CONFIGS)
    section = {}
    if path is not None and os.path.exists(path):
        modules = ModulesConfig.read(path)
        section = (modules.section("rspamd.py")
                   or modules.section("rspamd"))
    controller = (options["controller"] or section.get("controller")
                  or DEFAULT_CONTROLLER)
    password = options["password"] or section.get("password")
    return controller, password


async def learnAll(client, files, spam, stdout, stderr):
    learned = skipped = failed = 0
    for path in files:
        try:
            result = await client.learn(path, spam)
        except (RspamdError, OSError) as e:
            stderr.write(f"{path}: {e}\n")
            failed += 1
            continue
        if result.learned:
            learned += 1
        else:
            stdout.write(f"{path}: skipped: {result.reason}\n")
            skipped += 1
    stdout.write(f"{learned} learned, {skipped} skipped, {failed} failed\n")
    return EXIT_FAILED if failed else EXIT_OK


def main(argv, stdout=None, stderr=None, reactor=None):
    stdout = stdout or sys.stdout
    stderr = stderr or sys.stderr
    options = Options()
    try:
        options.parseOptions(argv)
        controller, password = settings(options)
    except (usage.UsageError, ConfigError, OSError) as e:
        stderr.write(f"pyfilter rspamd: {e}\n{options}")
        return EXIT_USAGE

    def work(reactor):
        client = RspamdClient(reactor, controller, options["timeout"],
                              password=password)
        return defer.ensureDeferred(learnAll(
            client, list(messageFiles(options["files"])), options["spam"],
            stdout, stderr))

    return runOnReactor(work, EXIT_FAILED, reactor)
