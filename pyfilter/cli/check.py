"""
C{pyfilter check}: run the filter chain once over a message, as the daemon
would, and show what each filter decided.

    pyfilter check [options] DATAFILE CONTROLFILE...
    pyfilter check [options] --to ADDRESS [--to ...] [--from ADDRESS]
        [--ip ADDRESS [--helo NAME]] [--auth USER] MESSAGE...

The first form takes a message in Courier's queue: its data file and its
control files.  The second takes saved messages (C{.eml} files, Maildir
files, Maildirs, whose C{cur} and C{new} are read, or any directory, whose
files are read) with the envelope given as options: each is written with
the control file Courier would write into a private temporary spool
(removed afterwards) and checked, one after another.  The sender is
C{--from} (C{<>} for the null sender), else the message's C{Return-Path},
else the null sender; without C{--ip} the message is local mail (no client
address); the HELO name defaults to the address literal C{[ADDRESS]}.
Saved messages run with a scratch state directory (removed afterwards)
unless C{--state-dir} is given, so that replaying old mail through
stateful filters (greylist, rate limits) leaves the daemon's state alone.

The chain and its filters are built from the same files and options as the
daemon's.  One line is printed per filter (its name, its verdict: the reply,
C{no opinion}, C{skipped}, C{error}, C{timeout} or C{deadline}, and the time
it took), then the final reply as the last line; with several messages,
each comes under a C{==> FILE <==} heading and a summary line ends the
output.  C{--json} prints a JSON object per message instead (see
L{pyfilter.cli.checkreport.JsonReport}).  Filters' log lines go to
standard error, and so does the reason a message could not be read (with
several, a C{not checked:} line under its heading tells it too).

Exit status: 0 when the message would be accepted (2xx or 0xx), 4 for a
temporary failure (4xx), 5 for a permanent one (5xx), 1 for a usage or
configuration error or a message that could not be read (explained on
standard error).  With several messages, the worst of theirs: 1 if any
could not be read, else 5 if any was refused, else 4 if any was deferred,
else 0.
"""

import ipaddress
import os
import shutil
import sys
import tempfile

from twisted.internet import defer
from twisted.logger import eventAsText, globalLogPublisher
from twisted.python import usage

from pyfilter.engine import loader
from pyfilter.engine.context import Context
from pyfilter.engine.filter import describe
from pyfilter.courier.control import ControlFileError, ControlFiles
from pyfilter.courier.paths import discover
from pyfilter.config.errors import ConfigError
from pyfilter.engine.message import Message
from pyfilter.config.modulesfile import ModulesConfig
from pyfilter.config.arguments import ConfigOptions
from pyfilter.config.locations import STATE_DIR
from pyfilter.files import messageFiles
from pyfilter.legacy.adapter import LegacySupport
from pyfilter.cli.checkreport import (
    EXIT_ACCEPTED, EXIT_ERROR, JsonReport, Tally, TextReport, exitStatus)
from pyfilter.cli.reactorrun import runOnReactor
from pyfilter.cli.savedmail import Envelope, TemporarySpool

_ENVELOPE = ("from", "ip", "helo", "auth")


class Options(ConfigOptions):
    synopsis = ("Usage: pyfilter check [options] DATAFILE CONTROLFILE...\n"
                "       pyfilter check [options] --to ADDRESS... "
                "MESSAGE|DIRECTORY...")
    longdesc = ("Run pyfilter's chain once over a message in Courier's "
                "queue format, or over saved messages with the envelope "
                "given as options, and print each filter's verdict.  The "
                "sender defaults to the message's Return-Path, else <>.  "
                "Saved messages use a scratch state directory unless "
                "--state-dir is given.")
    optParameters = [
        ["help-filter", None, None, "print what filter NAME does and its "
         "options, then exit"],
        ["from", None, None, "a saved message's envelope sender (<> for "
         "none) [default: its Return-Path, else <>]"],
        ["ip", None, None, "the SMTP client's address [default: none, "
         "local mail]"],
        ["helo", None, None, "the SMTP client's HELO name (with --ip) "
         "[default: [IP]]"],
        ["auth", None, None, "the SMTP AUTH user [default: none]"],
    ]
    optFlags = [
        ["json", None, "print one JSON object per message"],
    ]

    def __init__(self):
        super().__init__()
        self["to"] = []
        self["state-dir"] = None

    def opt_to(self, value):
        """
        a recipient of the saved messages (repeatable; required for them)
        """
        self["to"].append(value)

    def parseArgs(self, *paths):
        if self["help-filter"] is not None:
            return
        self["saved"] = bool(self["to"])
        if self["saved"]:
            if not paths:
                raise usage.UsageError("no message file given")
            self["files"] = list(messageFiles(paths))
            self["several"] = len(paths) > 1 or any(
                os.path.isdir(path) for path in paths)
            return
        given = [f"--{name}" for name in _ENVELOPE if self[name] is not None]
        if given:
            raise usage.UsageError(f"{', '.join(given)} need --to (a saved "
                                   f"message's envelope)")
        if len(paths) < 2:
            raise usage.UsageError("a data file and at least one control "
                                   "file are required (or saved messages "
                                   "with --to)")
        self["data"], self["controls"] = paths[0], list(paths[1:])
        self["several"] = False

    def postOptions(self):
        super().postOptions()
        if self["help-filter"] is not None:
            return
        if self["state-dir"] is None and not self["saved"]:
            self["state-dir"] = STATE_DIR
        if self["saved"]:
            if self["helo"] is not None and self["ip"] is None:
                raise usage.UsageError("--helo needs --ip")
            if self["ip"] is not None:
                try:
                    ipaddress.ip_address(self["ip"])
                except ValueError as e:
                    raise usage.UsageError(f"--ip: {e}") from e
        elif not os.path.isfile(self["data"]):
            raise usage.UsageError(f"no data file {self['data']}")


def _logTo(stream):
    def observer(event):
        text = eventAsText(event, includeTimestamp=False,
                           includeSystem=False)
        stream.write(text + "\n")
    return observer


def _queueId(reactor, number):
    """
    A queue id in Courier's form for the C{number}th saved message.
    """
    return f"{number:016X}.{int(reactor.seconds()):016X}.{os.getpid():08X}"


@defer.inlineCallbacks
def _checkSaved(reactor, chain, context, options, report):
    """
    Check each saved message in turn, each in the temporary spool while it
    is checked; print the summary.

    @return: a Deferred firing with the worst exit status.
    """
    envelope = Envelope(options["from"], options["to"], options["ip"],
                        options["helo"], options["auth"])
    spool = TemporarySpool()
    tally = Tally()
    try:
        for number, path in enumerate(options["files"], 1):
            report.begin(path)
            try:
                dataPath, controlPath = spool.queue(
                    path, envelope, _queueId(reactor, number))
                message = Message(dataPath, [controlPath],
                                  ControlFiles.read([controlPath]),
                                  threads=context.threads)
            except (OSError, ControlFileError) as e:
                reason = getattr(e, "strerror", None) or str(e)
                report.failed(path, f"cannot read it: {reason}")
                tally.add(EXIT_ERROR)
                continue
            try:
                reply = yield chain.decide(message, observe=report.observe)
            finally:
                spool.discard(dataPath)
            report.final(reply)
            tally.add(exitStatus(reply))
    finally:
        spool.remove()
    report.summary(tally)
    return tally.status()


@defer.inlineCallbacks
def _checkQueued(chain, context, options, report):
    """
    Check the message in Courier's queue files.

    @raise ControlFileError: its control files cannot be read.
    """
    message = Message(options["data"], options["controls"],
                      ControlFiles.read(options["controls"]),
                      threads=context.threads)
    report.begin(options["data"])
    reply = yield chain.decide(message, observe=report.observe)
    report.final(reply)
    return exitStatus(reply)


@defer.inlineCallbacks
def check(reactor, options, stdout, stderr):
    """
    Build the chain, decide about the message(s), print the verdicts (and
    the filters' log lines on C{stderr}).

    @return: a Deferred firing with the exit status.
    @raise ConfigError: the configuration is wrong.
    @raise ControlFileError: the message's control files cannot be read.
    """
    loader.extendModulePath(options["module-paths"])
    paths = discover().overriding(sysconfdir=options["courier-sysconf"])
    modules = ModulesConfig.read(options["modules-config"])
    settings = loader.daemonSettings(modules)
    scratch = None
    stateDir = options["state-dir"]
    if stateDir is None:
        stateDir = scratch = tempfile.mkdtemp(prefix="pyfilter-check-state-")
    context = Context.build(reactor, paths, modules, settings, stateDir,
                            options["resolvers"])
    observer = _logTo(stderr)
    globalLogPublisher.addObserver(observer)
    report = (JsonReport if options["json"] else TextReport)(
        stdout, stderr, options["several"])
    try:
        chain = yield loader.buildChain(options["config"], modules, context,
                                        settings, LegacySupport(context))
        if options["saved"]:
            status = yield _checkSaved(reactor, chain, context, options,
                                       report)
        else:
            status = yield _checkQueued(chain, context, options, report)
    finally:
        yield context.close()
        globalLogPublisher.removeObserver(observer)
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
    return status


def _run(reactor, options, stdout, stderr):
    d = check(reactor, options, stdout, stderr)

    def explain(failure):
        if failure.check(ConfigError, ControlFileError):
            stderr.write(f"pyfilter check: {failure.value}\n")
        else:
            stderr.write("pyfilter check: unexpected error\n"
                         + failure.getTraceback())
        return EXIT_ERROR

    return d.addErrback(explain)


def helpFilter(options, stdout, stderr):
    """
    Print what the filter named by C{--help-filter} does and its options.
    """
    name = options["help-filter"]
    loader.extendModulePath(options["module-paths"])
    try:
        modules = ModulesConfig.read(options["modules-config"])
        found = loader.findFilter(name, LegacySupport(None))
        settings = loader.daemonSettings(modules)
    except ConfigError as e:
        stderr.write(f"pyfilter check: {e}\n")
        return EXIT_ERROR
    stdout.write(describe(found, name, settings) + "\n")
    return EXIT_ACCEPTED


def main(argv, stdout=None, stderr=None, reactor=None):
    """
    Run C{pyfilter check} with the arguments after the subcommand.

    @param reactor: the reactor to run on (tests give a fake one), else
        Twisted's global reactor.
    @return: the exit status.
    """
    stdout = stdout or sys.stdout
    stderr = stderr or sys.stderr
    options = Options()
    try:
        options.parseOptions(argv)
    except usage.UsageError as e:
        stderr.write(f"pyfilter check: {e}\n{options}")
        return EXIT_ERROR
    if options["help-filter"] is not None:
        return helpFilter(options, stdout, stderr)
    return runOnReactor(lambda reactor: _run(reactor, options, stdout, stderr),
                        EXIT_ERROR, reactor)
