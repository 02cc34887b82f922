"""
Testing a filter without a daemon, without Courier and without a network:
a message built from a few envelope values (or a saved C{.eml}), the filter
started from its configuration text, DNS answered from a dictionary, the
state kept in memory, time on a L{twisted.internet.task.Clock}.

    from twisted.trial import unittest
    from pyfilter import testing

    class DNSBLTests(unittest.TestCase):
        def test_listed(self):
            harness = testing.Harness(
                self, "dnsbl", "zones = {'bl.example': None}",
                dns={"2.2.0.192.bl.example": ["127.0.0.2"]})
            reply = harness.decide(harness.message(ip="192.0.2.2"))
            self.assertEqual(reply.code, "554")

L{Harness.decide} runs the filter as the daemon's chain does (timeouts,
C{testing} and C{on_error} included) and gives its answer: a
L{pyfilter.Reply}, or C{None} for no opinion.
"""

import ipaddress
import os
import shutil
import tempfile

from twisted.internet import defer
from twisted.internet.task import Clock
from twisted.names import common, dns, error
from twisted.python.failure import Failure

from pyfilter.config.modulesfile import ModulesConfig
from pyfilter.courier.paths import DEBIAN, CourierPaths
from pyfilter.courier.queuefiles import DEFAULT_QUEUE_ID, writeQueueFiles
from pyfilter.courier.sysconf import CourierConfig
from pyfilter.engine.chain import SKIPPED, Chain, Entry
from pyfilter.engine.context import Context
from pyfilter.engine.loader import daemonSettings, makeFilter
from pyfilter.engine.message import Message
from pyfilter.engine.reply import Reply
from pyfilter.engine.threads import InlineThreads

__all__ = ["Harness", "Resolver", "SERVFAIL", "SILENT", "message"]

#: A name whose lookups fail (the server answers SERVFAIL).
SERVFAIL = "SERVFAIL"
#: A name whose lookups are never answered (they time out).
SILENT = "SILENT"

class Resolver(common.ResolverBase):
    """
    A twisted.names resolver answering from a dictionary: name to a list of
    values (IPv4 or IPv6 addresses as text, C{(preference, host)} pairs for
    MX, other text for TXT), or to L{SERVFAIL} or L{SILENT}.  Other names
    do not exist (NXDOMAIN).
    """

    def __init__(self, records=None):
        common.ResolverBase.__init__(self)
        self.records = dict(records or {})
        self.asked = []

    def _lookup(self, name, cls, type, timeout):
        name = name.decode("ascii") if isinstance(name, bytes) else name
        self.asked.append((name, type))
        values = self.records.get(name.rstrip("."))
        if values == SILENT:
            return defer.Deferred()
        if values == SERVFAIL:
            return defer.fail(error.DNSServerError(name))
        if values is None:
            return defer.fail(error.DNSNameError(name))
        answers = [dns.RRHeader(name, type, cls, 60, record, auth=True)
                   for record in map(_record, values)
                   if record.TYPE == type]
        return defer.succeed((answers, [], []))

    def close(self):
        return defer.succeed(None)


def _record(value):
    if isinstance(value, tuple):
        preference, host = value
        return dns.Record_MX(preference, host)
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return dns.Record_TXT(value.encode("utf-8"))
    if address.version == 4:
        return dns.Record_A(value)
    return dns.Record_AAAA(value)


def message(directory, sender="sender@example.org",
            recipients=("postmaster@example.test",), ip=None,
            helo="client.example", auth=None, data=None, eml=None,
            queueId=DEFAULT_QUEUE_ID):
    """
    A L{pyfilter.Message} as Courier would hand it to the filters: a data
    file and a control file written into C{directory}.

    @param recipients: addresses, or C{(address, original, notify)}
        triplets.
    @param ip: the client's address as text; C{None} for local mail.
    @param auth: the SMTP AUTH user name, or C{None}.
    @param data: the message (bytes or text) with its headers; by default a
        one-line plain text message.
    @param eml: the path of a saved message to use as data instead.
    """
    if eml is None:
        if data is None:
            data = f"From: {sender}\nSubject: test\n\ntest\n"
        if isinstance(data, str):
            data = data.encode("utf-8")
    dataPath, controlPath = writeQueueFiles(
        directory, data=data, source=eml, sender=sender,
        recipients=recipients, ip=ip, helo=helo, auth=auth, queueId=queueId)
    return Message(dataPath, [controlPath])


class Harness:
    """
    One filter, started as the daemon would start it.

    @param testCase: the trial test case (temporary files are removed and
        the filter stopped when it ends); C{None} to clean up with
        L{close}.
    @param name: the filter's chain name (C{filters.NAME}, or a module of
        your own on the Python path).
    @param config: the text of the filter's section of the modules file,
        without its C{[NAME.py]} line; C{sections} gives other sections
        whole (C{[pyfilter]}, C{[ttldb]}, ...).
    @param dns: the DNS answers (see L{Resolver}).
    @param courier: Courier's configuration files, name to text (C{me},
        C{locals}, C{hosteddomains}, ...).
    @param sysconfdir: instead of C{courier}, an existing Courier
        configuration directory to read as it is, such as a copy of
        C{/etc/courier} with its compiled C{.dat} tables.
    @ivar clock: the L{Clock} the filter runs on.
    @ivar context: its L{pyfilter.engine.context.Context}.
    @ivar resolver: the L{Resolver}.
    @ivar filter: the started filter.
    """

    def __init__(self, testCase, name, config="", dns=None, courier=None,
                 sections="", sysconfdir=None):
        if courier is not None and sysconfdir is not None:
            raise ValueError("give courier or sysconfdir, not both")
        self.directory = tempfile.mkdtemp(prefix="pyfilter-testing-")
        self._closed = False
        self.filter = None
        if testCase is not None:
            testCase.addCleanup(self.close)
        self.clock = Clock()
        self.resolver = Resolver(dns)
        modules = ModulesConfig()
        modules.parser.read_string("[ttldb]\ntype = 'memory'\n" + sections)
        if not modules.parser.has_section(f"{name}.py"):
            modules.parser.read_string(f"[{name}.py]\n{config}\n")
        sysconf = sysconfdir or self._writeSysconf(courier)
        stateDir = os.path.join(self.directory, "state")
        os.makedirs(stateDir)
        paths = CourierPaths(**dict(DEBIAN, sysconfdir=sysconf,
                                    localstatedir=self.directory))
        self.context = Context(self.clock, paths, CourierConfig(sysconf),
                               modules, stateDir, InlineThreads())
        self.context.shared("resolver", lambda: self.resolver)
        self.settings = daemonSettings(modules)
        self.filter = makeFilter(name, modules, self.context, self.settings)
        self._wait(defer.maybeDeferred(self.filter.start))
        self.entry = Entry(name, self.filter, timeout=self.filter.config[
            "timeout"], testing=self.filter.config["testing"])

    def _writeSysconf(self, courier):
        """
        A Courier configuration directory holding C{courier}'s files, with
        a default C{me}.
        """
        sysconf = os.path.join(self.directory, "sysconf")
        os.makedirs(sysconf)
        for fileName, text in dict({"me": "mail.example.test\n"},
                                   **(courier or {})).items():
            path = os.path.join(sysconf, fileName)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w") as f:
                f.write(text)
        return sysconf

    def message(self, **envelope):
        """
        A message in this harness's directory; see L{message}.
        """
        directory = tempfile.mkdtemp(dir=self.directory)
        return message(directory, **envelope)

    def decide(self, message):
        """
        Run the filter over C{message} as the chain does, advancing the
        clock until it answers.

        @return: its L{pyfilter.Reply}, or C{None} for no opinion (also in
            testing mode); a filter that fails or times out gives the
            chain's 451.
        """
        outcomes = []
        chain = Chain([self.entry], self.clock,
                      self.settings["message_deadline"])
        reply = self._wait(chain.decide(
            message, lambda entry, outcome, seconds: outcomes.append(outcome)))
        outcome = outcomes[-1] if outcomes else None
        if outcome is None or outcome is SKIPPED or self.entry.testing:
            return None
        if isinstance(outcome, Reply):
            return outcome
        return reply

    def _wait(self, d):
        """
        Advance the clock until C{d} has fired (at most the chain's
        deadline); its result.
        """
        results = []
        d.addBoth(results.append)
        limit = self.clock.seconds() + self.settings["message_deadline"] + 1
        while not results:
            pending = [call.getTime() for call in self.clock.getDelayedCalls()]
            if not pending or min(pending) > limit:
                raise AssertionError(f"{d!r} did not fire, and nothing is "
                                     f"scheduled that could make it")
            self.clock.advance(min(pending) - self.clock.seconds())
        result = results[0]
        if isinstance(result, Failure):
            result.raiseException()
        return result

    def close(self):
        """
        Stop the filter and remove the temporary files.
        """
        if not self._closed:
            self._closed = True
            if self.filter is not None:
                self._wait(defer.maybeDeferred(self.filter.stop))
                self._wait(self.context.close())
            shutil.rmtree(self.directory, ignore_errors=True)
