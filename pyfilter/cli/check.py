"""
C{pyfilter check}: run the filter chain once over a message, as the daemon
would, and show what each filter decided.

    pyfilter check [options] DATAFILE CONTROLFILE...

The chain and its filters are built from the same files and options as the
daemon's.  One line is printed per filter (its name, its verdict: the reply,
C{no opinion}, C{skipped}, C{error}, C{timeout} or C{deadline}, and the time
it took), then the final reply as the last line.  Filters' log lines go to
standard error.

Exit status: 0 when the message would be accepted (2xx or 0xx), 4 for a
temporary failure (4xx), 5 for a permanent one (5xx), 1 for a usage or
configuration error (explained on standard error).
"""

import os
import sys

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
from pyfilter.legacy.adapter import LegacySupport
from pyfilter.cli.reactorrun import runOnReactor

EXIT_ACCEPTED = 0
EXIT_ERROR = 1
EXIT_TEMPORARY = 4
EXIT_PERMANENT = 5


class Options(ConfigOptions):
    synopsis = "Usage: pyfilter check [options] DATAFILE CONTROLFILE..."
    longdesc = ("Run pyfilter's chain once over a message in Courier's "
                "queue format and print each filter's verdict.")
    optParameters = [
        ["help-filter", None, None, "print what filter NAME does and its "
         "options, then exit"],
    ]

    def parseArgs(self, dataFile=None, *controlFiles):
        if self["help-filter"] is not None:
            return
        if dataFile is None or not controlFiles:
            raise usage.UsageError("a data file and at least one control "
                                   "file are required")
        self["data"] = dataFile
        self["controls"] = list(controlFiles)

    def postOptions(self):
        super().postOptions()
        if self["help-filter"] is None and not os.path.isfile(self["data"]):
            raise usage.UsageError(f"no data file {self['data']}")


def verdict(outcome):
    """
    How a filter's outcome is shown: its reply, or a word.
    """
    if outcome is None:
        return "no opinion"
    return str(outcome)


def exitStatus(reply):
    if reply.accepts:
        return EXIT_ACCEPTED
    return EXIT_PERMANENT if reply.digit == "5" else EXIT_TEMPORARY


class _Report:
    """
    Prints the verdicts as the chain reaches them.
    """

    def __init__(self, stdout):
        self.stdout = stdout

    def observe(self, entry, outcome, seconds):
        testing = " (testing)" if entry.testing else ""
        self.stdout.write(f"{entry.name:20} {verdict(outcome)}{testing} "
                          f"({seconds * 1000:.1f} ms)\n")

    def final(self, reply):
        self.stdout.write(f"{reply}\n")


def _logTo(stream):
    def observer(event):
        text = eventAsText(event, includeTimestamp=False,
                           includeSystem=False)
        stream.write(text + "\n")
    return observer


@defer.inlineCallbacks
def check(reactor, options, stdout, stderr):
    """
    Build the chain, decide about the message, print the verdicts (and the
    filters' log lines on C{stderr}).

    @return: a Deferred firing with the exit status.
    @raise ConfigError: the configuration is wrong.
    @raise ControlFileError: the message's control files cannot be read.
    """
    loader.extendModulePath(options["module-paths"])
    paths = discover().overriding(sysconfdir=options["courier-sysconf"])
    modules = ModulesConfig.read(options["modules-config"])
    settings = loader.daemonSettings(modules)
    context = Context.build(reactor, paths, modules, settings,
                            options["state-dir"], options["resolvers"])
    observer = _logTo(stderr)
    globalLogPublisher.addObserver(observer)
    try:
        chain = yield loader.buildChain(options["config"], modules, context,
                                        settings, LegacySupport(context))
        message = Message(options["data"], options["controls"],
                          ControlFiles.read(options["controls"]),
                          threads=context.threads)
        report = _Report(stdout)
        reply = yield chain.decide(message, observe=report.observe)
        report.final(reply)
    finally:
        yield context.close()
        globalLogPublisher.removeObserver(observer)
    return exitStatus(reply)


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
