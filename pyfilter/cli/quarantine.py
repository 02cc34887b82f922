"""
C{pyfilter quarantine}: look after the messages held by the quarantine.

    pyfilter quarantine [options] list
    pyfilter quarantine [options] release [TOKEN-OR-ID]
    pyfilter quarantine [options] purge

C{list} prints one line per held message: its id, when it was held, its
recipients, subject and why it was held.  C{purge} removes those older than
the configured C{days} (run it daily from cron).

C{release TOKEN} delivers the message to the recipient the release token
names; C{release ID} (an administrator's command) delivers it to all its
recipients.  Without an argument the token is taken from the environment
variable C{DEFAULT}, which is how Courier runs it for mail to the release
address, from C{<sysconfdir>/aliasdir/.courier-quarantine-<siteid>-default}
holding C{| /path/to/pyfilter quarantine release}.  In that case the request
message on standard input is read and discarded, and an invalid or unknown
token is only logged (on standard error) with exit status 0, so that no
bounce answers a forged request.  C{pyfilter courier-install} writes that
file when the modules file has a C{[quarantine]} section.

Exit status: 0 done, 1 failure, 64 usage error, 78 C{DEFAULT} missing.
"""

import datetime
import os
import sys

from twisted.internet import defer
from twisted.python import usage

from pyfilter.courier.sysconf import CourierConfig
from pyfilter.courier.paths import discover
from pyfilter.config.errors import ConfigError
from pyfilter.config.modulesfile import ModulesConfig
from pyfilter.quarantine import Quarantine, Settings, loadKey
from pyfilter.courier.sendmail import Sendmail
from pyfilter.config.locations import MODULES_CONFIGS, firstExisting
from pyfilter.cli.reactorrun import runOnReactor
from pyfilter.config.locations import STATE_DIR

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 64
EXIT_CONFIG = 78


class Options(usage.Options):
    synopsis = "Usage: pyfilter quarantine [options] list|release [ID]|purge"
    optParameters = [
        ["modules-config", None, None, "filter settings [default: "
         "/etc/pyfilter-modules.conf, else /etc/pythonfilter-modules.conf]"],
        ["courier-sysconf", None, None, "Courier's configuration directory "
         "[default: from courier-config, else /etc/courier]"],
        ["state-dir", None, STATE_DIR, "directory for state"],
    ]

    def parseArgs(self, command=None, argument=None):
        if command not in ("list", "release", "purge"):
            raise usage.UsageError("command must be list, release or purge")
        if argument is not None and command != "release":
            raise usage.UsageError(f"{command} takes no argument")
        self["command"] = command
        self["argument"] = argument

    def postOptions(self):
        if self["modules-config"] is None:
            self["modules-config"] = firstExisting(MODULES_CONFIGS)


def openQuarantine(reactor, options):
    paths = discover().overriding(sysconfdir=options["courier-sysconf"])
    modules = ModulesConfig.read(options["modules-config"])
    settings = Settings.fromModules(modules, options["state-dir"])
    return Quarantine(settings, loadKey(options["state-dir"]),
                      CourierConfig(paths.sysconfdir).me(),
                      Sendmail(reactor, paths.sendmailProgram))


def listEntries(store, stdout):
    for entry in store.entries():
        held = datetime.datetime.fromtimestamp(entry.time).strftime(
            "%Y-%m-%d %H:%M")
        recipients = ", ".join(r["address"] for r in entry.recipients)
        stdout.write(f"{entry.id}  {held}  to {recipients}  "
                     f"subject \"{entry.subject}\"  ({entry.explanation})\n")
    return EXIT_OK


@defer.inlineCallbacks
def release(store, argument, environ, stdout, stderr):
    fromMail = argument is None
    if fromMail:
        argument = environ.get("DEFAULT")
        if not argument:
            stderr.write("Could not find the DEFAULT environment variable.\n"
                         "See the pythonfilter documentation for proper "
                         "setup.\n")
            return EXIT_CONFIG
    if store.parseToken(argument) is None and not fromMail:
        entry = store.entry(argument)
        if entry is None:
            stderr.write(f"no quarantined message {argument}\n")
            return EXIT_FAILED
        sent = yield store.releaseTo(entry, entry.recipients)
    else:
        sent = yield store.release(argument)
    if sent is None:
        stderr.write(f"release refused: {argument!r} is not a valid "
                     f"release token for a held message\n")
        return EXIT_OK if fromMail else EXIT_FAILED
    stdout.write(f"released to {', '.join(sent)}\n")
    return EXIT_OK


def purge(store, stdout):
    removed = store.purge()
    stdout.write(f"purged {len(removed)} message(s)\n")
    return EXIT_OK


def run(reactor, options, environ, stdout, stderr):
    """
    Carry out the command; a Deferred firing with the exit status.
    """
    try:
        store = openQuarantine(reactor, options)
    except ConfigError as e:
        stderr.write(f"pyfilter quarantine: {e}\n")
        return defer.succeed(EXIT_FAILED)
    command = options["command"]
    if command == "list":
        return defer.succeed(listEntries(store, stdout))
    if command == "purge":
        return defer.succeed(purge(store, stdout))
    d = release(store, options["argument"], environ, stdout, stderr)

    def failed(failure):
        stderr.write(f"pyfilter quarantine: release failed: "
                     f"{failure.getErrorMessage()}\n")
        return EXIT_FAILED
    return d.addErrback(failed)


def discard(stream, chunk=65536):
    """
    Read C{stream} to its end, keeping nothing.
    """
    while stream.read(chunk):
        pass


def main(argv, environ=None, stdin=None, stdout=None, stderr=None):
    environ = os.environ if environ is None else environ
    stdin = stdin or sys.stdin.buffer
    stdout = stdout or sys.stdout
    stderr = stderr or sys.stderr
    options = Options()
    try:
        options.parseOptions(argv)
    except usage.UsageError as e:
        stderr.write(f"{e}\n{options.synopsis}\n")
        return EXIT_USAGE
    if (options["command"] == "release" and options["argument"] is None
            and environ.get("DEFAULT")):
        # Courier pipes the request to us; take it all so its writer never
        # meets a closed pipe.
        discard(stdin)
    return runOnReactor(
        lambda reactor: run(reactor, options, environ, stdout, stderr),
        EXIT_FAILED)
