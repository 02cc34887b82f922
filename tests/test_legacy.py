"""
Tests for running filter modules written for the reference: the
C{courier.config} and C{courier.control} helpers they import, and their
loading and running through the chain (in the real thread pool).
"""

import os
import sys
import threading
import time
import types

from twisted.internet import defer, reactor
from twisted.internet.task import Clock
from twisted.logger import capturedLogs
from twisted.python import threadable
from twisted.trial import unittest

from pyfilter.legacy import aliases
from pyfilter.courier import sysconf
from pyfilter.engine import loader
from pyfilter.engine.chain import Chain, Entry
from pyfilter.legacy.courier import config, control
from pyfilter.legacy.pythonfilter import ttldb
from pyfilter.courier.control import ControlFileError
from pyfilter.courier.sysconf import CourierConfig
from pyfilter.courier.paths import DEBIAN, CourierPaths
from pyfilter.config.errors import ConfigError
from pyfilter.legacy.adapter import LegacyFilter
from pyfilter.config.modulesfile import ModulesConfig
from pyfilter.engine.reply import OK, Reply
from tests import legacymods, postgres
from tests.helpers import (courierSysconf, makeContext, sampleMessage,
                           samplePaths, writeMessage)
from pyfilter.store import storeFor
from pyfilter.legacy.adapter import LegacySupport

SYSCONF = {
    "me": "mail.example.test\n",
    "defaultdomain": "example.test\n",
    "esmtphelo": "helo.example.test\n",
    "locals": "example.test\n!no.sub.example.test\n.sub.example.test\n",
    "hosteddomains": "hosted.example\n",
    "aliases": "team: alice, bob@example.net\n",
    "smtpaccess": "192.0.2\tallow,RELAYCLIENT\n"
                  "198.51.100.7\tallow,BLOCK\n"
                  "203.0.113\tBLOCK=go away\n",
    "locallowercase": "",
}


def configModules():
    """
    Every copy of the config module that code may see: pyfilter's, and the
    one C{import courier.config} gives (a separate copy while the compat
    finder comes after the path finder: see
    L{AliasTests.test_aliasIsSameModule}).
    """
    if not aliases.install():
        raise unittest.SkipTest("a real courier package is installed")
    import courier.config as aliased
    return {id(module): module for module in (config, aliased)}.values()


def configured(testCase, modulesText="", files=SYSCONF):
    """
    Configure the legacy helpers as the daemon does, for one test, with
    Courier's tables read from their text sources.
    """
    testCase.patch(sysconf, "gdbm", None)
    sysconfdir = courierSysconf(testCase, files)
    paths = CourierPaths(**dict(DEBIAN, sysconfdir=sysconfdir))
    modules = ModulesConfig()
    modules.parser.read_string(modulesText)
    for module in configModules():
        module.configure(paths, CourierConfig(sysconfdir), modules)
        testCase.addCleanup(module.configure, None, None, None)
    return sysconfdir


class AliasTests(unittest.TestCase):
    def test_aliasIsSameModule(self):
        """C{courier.config} is pyfilter's module itself, so what the daemon
        configures is what legacy modules see."""
        self.assertIs(list(configModules())[-1], config)


class ConfigTests(unittest.TestCase):
    def setUp(self):
        self.sysconfdir = configured(self, "[mine.py]\nlimit = 60 * 2\n"
                                     "name = 'x'\n")

    def test_moduleValues(self):
        """Directory values are those of the configured paths."""
        self.assertEqual(config.sysconfdir, self.sysconfdir)
        self.assertEqual(config.localstatedir, "/var/lib/courier")
        self.assertEqual(config.mailuser, "courier")

    def test_unknownModuleValue(self):
        """An unknown module attribute raises AttributeError."""
        self.assertRaises(AttributeError, getattr, config, "nonsense")

    def test_read1line(self):
        """read1line gives a file's first line stripped, None if absent."""
        self.assertEqual(config.read1line("me"), "mail.example.test")
        self.assertIsNone(config.read1line("absent"))

    def test_names(self):
        """me, defaultdomain, dsnfrom and esmtphelo come from the files."""
        self.assertEqual(config.me(), "mail.example.test")
        self.assertEqual(config.defaultdomain(), "example.test")
        self.assertEqual(config.dsnfrom(),
                         '"Courier mail server at mail.example.test" <@>')
        self.assertEqual(config.esmtphelo(), "helo.example.test")

    def test_locallowercase(self):
        """locallowercase is 1 when the file exists."""
        self.assertEqual(config.locallowercase(), 1)

    def test_isLocal(self):
        """is_local follows the locals rules."""
        self.assertTrue(config.is_local("example.test"))
        self.assertTrue(config.is_local("a.sub.example.test"))
        self.assertFalse(config.is_local("no.sub.example.test"))
        self.assertFalse(config.is_local("www.example.test"))
        self.assertTrue(config.isLocal("EXAMPLE.test"))

    def test_isHostedDomain(self):
        """is_hosteddomain reads the hosted domains."""
        self.assertTrue(config.is_hosteddomain("hosted.example"))
        self.assertFalse(config.isHosteddomain("other.example"))

    def test_getAlias(self):
        """get_alias gives the alias targets, or None."""
        self.assertEqual(config.get_alias("team@example.test"),
                         ["alice@example.test", "bob@example.net"])
        self.assertIsNone(config.getAlias("nobody@example.test"))

    def test_smtpaccess(self):
        """The access values and their settings are read for an address."""
        self.assertEqual(config.smtpaccess("192.0.2.9"), "allow,RELAYCLIENT")
        self.assertIsNone(config.smtpaccess("10.0.0.1"))
        self.assertEqual(config.get_smtpaccess_val("RELAYCLIENT", "192.0.2.9"),
                         "")
        self.assertTrue(config.is_relayed("192.0.2.9"))
        self.assertFalse(config.isRelayed("10.0.0.1"))
        self.assertTrue(config.is_whiteblocked("198.51.100.7"))
        self.assertFalse(config.isWhiteblocked("203.0.113.5"))
        self.assertEqual(config.get_block_val("203.0.113.5"), "go away")
        self.assertEqual(config.getSmtpaccessVal("BLOCK", "198.51.100.7"), "")
        self.assertIsNone(config.getBlockVal("192.0.2.9"))

    def test_isMinVersion(self):
        """Versions are compared numerically, and an unknown version is
        never new enough."""
        self.patch(config._Shared, "version", "0.100.1")
        self.assertTrue(config.is_min_version("0.99"))
        self.assertTrue(config.is_min_version("0.100.1"))
        self.assertFalse(config.isMinVersion("0.100.2"))
        self.assertFalse(config.is_min_version("1.0"))
        self.patch(config._Shared, "version", "unknown")
        self.assertFalse(config.is_min_version("0.1"))

    def test_versionFromCourier(self):
        """The version is what courier --version reports, else unknown."""
        sbindir = self.mktemp()
        os.makedirs(sbindir)
        program = os.path.join(sbindir, "courier")
        with open(program, "w") as f:
            f.write("#!/bin/sh\necho 'Courier 1.3.13 (C) 1999-2024'\n")
        os.chmod(program, 0o755)
        paths = config._paths().overriding(sbindir=sbindir)
        config.configure(paths, config._courier(), config._modules())
        self.assertEqual(config.version, "1.3.13")
        config.configure(paths.overriding(sbindir=self.mktemp()),
                         config._courier(), config._modules())
        self.assertEqual(config.version, "unknown")

    def test_getModuleConfig(self):
        """Module settings are evaluated safely; an absent section is
        empty."""
        self.assertEqual(config.get_module_config("mine.py"),
                         {"limit": 120, "name": "x"})
        self.assertEqual(config.getModuleConfig("absent.py"), {})

    def test_getModuleConfigRefusesCode(self):
        """A value that is code, not a literal, is a configuration error."""
        configured(self, "[evil.py]\nx = __import__('os').system('true')\n")
        self.assertRaises(ConfigError, config.get_module_config, "evil.py")

    def test_applyModuleConfig(self):
        """In a module's globals, existing settings are replaced; unknown
        options and functions are left alone and logged."""
        configured(self, "[mine.py]\nlimit = 5\nextra = 1\nhelper = 2\n")
        module = types.ModuleType("legacy_applied")
        module.limit, module.helper = 1, len
        sys.modules["legacy_applied"] = module
        self.addCleanup(sys.modules.pop, "legacy_applied")
        with capturedLogs() as events:
            config.applyModuleConfig("mine.py", vars(module))
        self.assertEqual((module.limit, module.helper), (5, len))
        self.assertFalse(hasattr(module, "extra"))
        self.assertEqual(len(events), 2)

    def test_applyModuleConfigToDictionary(self):
        """Any other dictionary receives every option, as with the
        reference."""
        configured(self, "[mine.py]\nlimit = 5\nextra = 1\n")
        namespace = {"limit": 1, "__name__": "not_a_module"}
        config.apply_module_config("mine.py", namespace)
        self.assertEqual(namespace, {"limit": 5, "extra": 1,
                                     "__name__": "not_a_module"})

    def test_assignedSysconfdir(self):
        """After sysconfdir is assigned, the helpers read Courier's files
        there, as the reference's did."""
        other = courierSysconf(self, dict(SYSCONF, me="other.example\n"))
        config.sysconfdir = other
        self.assertEqual(config.sysconfdir, other)
        self.assertEqual(config.me(), "other.example")
        self.assertEqual(config.read1line("me"), "other.example")
        self.assertEqual(config.localstatedir, "/var/lib/courier")

    def test_assignedModulesConfig(self):
        """After _standard_config_paths is assigned (a path or a list),
        get_module_config reads the first of those files that exists."""
        path = os.path.abspath(self.mktemp())
        with open(path, "w") as f:
            f.write("[other.py]\nname = 'there'\n")
        config._standard_config_paths = path
        self.assertEqual(config.get_module_config("other.py"),
                         {"name": "there"})
        self.assertEqual(config.get_module_config("mine.py"), {})
        config._standard_config_paths = [self.mktemp(), path]
        self.assertEqual(config._standard_config_paths, [path])
        self.assertEqual(config.getModuleConfig("other.py"),
                         {"name": "there"})

    def test_assignedVersion(self):
        """An assigned version is what is_min_version compares."""
        config.version = "0.60.0"
        self.assertEqual(config.version, "0.60.0")
        self.assertTrue(config.is_min_version("0.59"))
        self.assertFalse(config.is_min_version("0.61"))

    def test_configureReplacesAssignments(self):
        """The daemon's configure replaces earlier assignments."""
        config.sysconfdir = self.mktemp()
        configured(self)
        self.assertEqual(config.me(), "mail.example.test")

    def test_lazyDiscovery(self):
        """Unconfigured, the paths come from courier-config on first use."""
        config.configure(None, None, None)
        self.assertEqual(config.sysconfdir, config._Shared.paths.sysconfdir)


class ControlTests(unittest.TestCase):
    def test_readers(self):
        """The readers give the reference's values for a real capture."""
        _, paths = samplePaths("c-auth")
        self.assertEqual(control.get_sender(paths), "alice@example.test")
        self.assertEqual(control.get_auth_user(paths), "alice")
        self.assertEqual(control.getSendersMta(paths),
                         sampleMessage("c-auth").receivedFrom)
        self.assertEqual(control.get_recipients(paths), ["bob@example.test"])
        self.assertEqual(control.get_recipients_data(paths),
                         [["bob@example.test", "", ""]])

    def test_sendersIP(self):
        """The client address is given as text, IPv4-mapped as IPv4."""
        _, paths = samplePaths("a-plain")
        self.assertEqual(control.get_senders_ip(paths), "127.0.0.1")
        message = writeMessage(self, ["ssender@example.org"])
        self.assertIsNone(control.getSendersIP(message.controlPaths))

    def test_malformedSendersIP(self):
        """A malformed client address raises an error that is a ValueError
        and a ControlFileError."""
        message = writeMessage(self, ["OTCPREMOTEIP=not-an-ip"])
        error = self.assertRaises(ValueError, control.get_senders_ip,
                                  message.controlPaths)
        self.assertIsInstance(error, ControlFileError)

    def test_recipientsAcrossFiles(self):
        """Recipients of every control file are given, delivered ones
        left out."""
        _, paths = samplePaths("b-three-rcpts-alias")
        self.assertEqual(control.get_recipients(paths), [
            "alice@example.test", "carol@example.test", "alice@example.test",
            "bob@example.test"])
        _, paths = samplePaths("h-two-control-files")
        self.assertEqual(control.getRecipients(paths), [
            "alice@example.test", "bob@example.test", "carol@example.test"])

    def test_getLines(self):
        """get_lines gives every value of a letter, bounded by max."""
        _, paths = samplePaths("h-two-control-files")
        self.assertEqual(control.get_lines(paths, "r"), [
            "alice@example.test", "bob@example.test", "carol@example.test"])
        self.assertEqual(control.getLines(paths, "r", 2),
                         ["alice@example.test", "bob@example.test"])

    def test_getControlData(self):
        """get_control_data gives the first file's records, flags and every
        recipient as get_recipients_data does."""
        message = writeMessage(self, [
            "ssender@example.org", "Mid-1", "8", "E123",
            "ralice@example.test", "R", "N", "rbob@example.test", "R", "N",
            "S1 1795593912"])
        data = control.get_control_data(message.controlPaths)
        self.assertEqual(data["s"], "sender@example.org")
        self.assertEqual(data["f"], "")
        self.assertEqual(data["M"], "id-1")
        self.assertEqual(data["E"], "123")
        self.assertIsNone(data["u"])
        self.assertEqual(data["U"], "")
        self.assertTrue(data["8"])
        self.assertFalse(data["w"])
        self.assertEqual(data["r"], [["alice@example.test", "", ""]])
        self.assertEqual(control.getControlData(message.controlPaths), data)

    def test_unreadableControlFile(self):
        """A missing control file raises ControlFileError."""
        self.assertRaises(ControlFileError, control.get_sender,
                          [self.mktemp()])

    def test_addRecipientDataLength(self):
        """Recipient data that is not a triple is refused."""
        self.assertRaises(ValueError, control.add_recipient_data, [], ["a"])


class ControlWriterTests(unittest.TestCase):
    def message(self):
        return writeMessage(self, [
            "ssender@example.org", "ralice@example.test", "R", "N",
            "rbob@example.test", "Rrfc822;team@example.test", "N"])

    def test_addRecipient(self):
        """add_recipient and add_recipient_data add undelivered
        recipients."""
        paths = self.message().controlPaths
        control.add_recipient(paths, "carol@example.test")
        control.addRecipientData(paths, ["dave@example.test",
                                         "rfc822;d@example.test", "N"])
        self.assertEqual(control.get_recipients_data(paths)[2:], [
            ["carol@example.test", "", ""],
            ["dave@example.test", "rfc822;d@example.test", "N"]])

    def test_addRecipientRefusesControlCharacters(self):
        """An address that would inject a record is refused."""
        paths = self.message().controlPaths
        self.assertRaises(ValueError, control.add_recipient, paths,
                          "eve@example.test\nrmallory@example.test")
        self.assertEqual(len(control.get_recipients(paths)), 2)

    def test_delRecipient(self):
        """del_recipient marks the recipient with that address delivered."""
        paths = self.message().controlPaths
        control.del_recipient(paths, "alice@example.test")
        control.delRecipient(paths, "nobody@example.test")
        self.assertEqual(control.get_recipients(paths), ["bob@example.test"])

    def test_delRecipientData(self):
        """del_recipient_data needs the whole triple to match."""
        paths = self.message().controlPaths
        control.del_recipient_data(paths, ["bob@example.test", "", ""])
        self.assertEqual(len(control.get_recipients(paths)), 2)
        control.delRecipientData(paths, ["bob@example.test",
                                         "rfc822;team@example.test", ""])
        self.assertEqual(control.get_recipients(paths), ["alice@example.test"])


class LegacyModuleTests(unittest.TestCase):
    """
    Reference-style modules found by the loader and run in the thread pool
    of the real reactor.
    """

    def setUp(self):
        legacymods.onPath(self)
        modulesText = ("[legacysnake.py]\n"
                       "blocked_sender = 'bad@example.org'\n")
        configured(self, modulesText)
        self.context = makeContext(self, reactor=reactor,
                                   modulesText=modulesText,
                                   sysconfdir=config.sysconfdir)
        self.addCleanup(self.context.close)
        self.addCleanup(ttldb.useContext, None)

    def makeFilter(self, name):
        return loader.makeFilter(name, self.context.modules, self.context,
                                 legacy=LegacySupport(self.context))

    def chain(self, name):
        return Chain([Entry(name, self.makeFilter(name), timeout=10)],
                     reactor, deadline=20)

    def decide(self, name, message):
        return self.chain(name).decide(message)

    def test_packageModuleFound(self):
        """A module of the pythonfilter package is found and initialised,
        its settings applied from the modules configuration."""
        found = loader.findFilter("legacysnake",
                                  LegacySupport(self.context)).module
        self.assertEqual(found.__name__, "pythonfilter.legacysnake")
        self.assertIsInstance(self.makeFilter("legacysnake"), LegacyFilter)
        self.assertEqual(found.initialised, [True])
        self.assertEqual(found.blocked_sender, "bad@example.org")

    @defer.inlineCallbacks
    def test_usesCourierHelpers(self):
        """do_filter's answer, built with courier.config and courier.control,
        becomes the reply."""
        filter = self.makeFilter("legacysnake")
        refused = writeMessage(self, ["sbad@example.org", "ra@example.test",
                                      "R", "N"])
        reply = yield filter.consider(refused)
        self.assertEqual(reply, Reply(
            "550", "Sender bad@example.org refused by mail.example.test"))
        reply = yield filter.consider(sampleMessage("c-auth"))
        self.assertEqual(reply, OK)
        reply = yield filter.consider(sampleMessage("a-plain"))
        self.assertIsNone(reply)

    @defer.inlineCallbacks
    def test_topLevelCamelCase(self):
        """A top-level module with initFilter and doFilter works, and a
        multi-line answer keeps its lines."""
        filter = self.makeFilter("legacycamel")
        import legacycamel
        self.assertEqual(legacycamel.initialised, [True])
        reply = yield filter.consider(sampleMessage("h-two-control-files"))
        self.assertEqual(reply, Reply("451", "Try later", "for 3 recipients"))

    @defer.inlineCallbacks
    def test_raisingModule(self):
        """A do_filter that raises gives 451 through the chain, logged."""
        reply = yield self.decide("legacyraises", sampleMessage("a-plain"))
        self.assertEqual(reply.code, "451")
        self.assertIn("legacyraises", reply.lines[0])
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)

    @defer.inlineCallbacks
    def test_notStringModule(self):
        """A do_filter answering something not a string gives 451 through
        the chain."""
        reply = yield self.decide("legacynotstring", sampleMessage("a-plain"))
        self.assertEqual(reply.code, "451")
        self.assertEqual(len(self.flushLoggedErrors(TypeError)), 1)

    @defer.inlineCallbacks
    def test_noneAnswer(self):
        """A do_filter answering None has no opinion: the chain accepts; it
        is logged once, not for every message."""
        chain = self.chain("legacynone")
        with capturedLogs() as events:
            first = yield chain.decide(sampleMessage("a-plain"))
            second = yield chain.decide(sampleMessage("c-auth"))
        self.assertEqual((first, second), (OK, OK))
        noted = [event for event in events
                 if "returned None" in event.get("log_format", "")]
        self.assertEqual(len(noted), 1)
        self.assertEqual(noted[0]["name"], "legacynone")

    @defer.inlineCallbacks
    def test_emptyAnswer(self):
        """A do_filter answering '' has no opinion: the chain accepts."""
        filter = self.makeFilter("legacyempty")
        self.assertIsNone((yield filter.consider(sampleMessage("a-plain"))))
        reply = yield self.decide("legacyempty", sampleMessage("a-plain"))
        self.assertEqual(reply, OK)

    @defer.inlineCallbacks
    def test_ttldbModule(self):
        """A module written as the reference's filters are (C{from . import
        ttldb} in the pythonfilter package, the database opened in
        init_filter) keeps its state in the context's store."""
        filter = self.makeFilter("legacycorrespondents")
        self.assertIs(filter.module.ttldb, ttldb)
        before = int(time.time())
        self.assertIsNone((yield filter.consider(sampleMessage("a-plain"))))
        reply = yield filter.consider(sampleMessage("a-plain"))
        self.assertEqual(reply.code, "250")
        since = int(reply.lines[0].rsplit(" ", 1)[1])
        self.assertTrue(before <= since <= time.time(), (before, since))
        self.assertIsNone((yield filter.consider(sampleMessage("c-auth"))))

    def test_failingInit(self):
        """A start-up hook that exits is a configuration error."""
        self.assertRaises(ConfigError, self.makeFilter, "legacybadinit")

    def test_pathForgotten(self):
        """The legacy modules' directory is on sys.path for the test."""
        self.assertIn(legacymods.DIRECTORY, sys.path)


class TtlDbTests(unittest.TestCase):
    """
    C{pythonfilter.ttldb} in a context's store (the embedded one unless
    C{modulesText} says otherwise), used from the context's thread pool as
    legacy modules use it.
    """

    modulesText = ""

    def setUp(self):
        self.context = self.bind(self.modulesText)

    def bind(self, modulesText, stateDir=None):
        configured(self, modulesText)
        context = makeContext(self, reactor=reactor, modulesText=modulesText,
                              stateDir=stateDir)
        self.addCleanup(context.close)
        ttldb.useContext(context)
        self.addCleanup(ttldb.useContext, None)
        return context

    def inThread(self, function, *args):
        return self.context.threads.run(function, *args)

    def items(self):
        db = ttldb.TtlDb("items", 3600, 60)
        now = time.time()
        db["k"] = now
        seen = ["k" in db, db.has_key("k"), db["k"], b"k" in db, "x" in db]
        del db["k"]
        seen.append("k" in db)
        return now, seen

    @defer.inlineCallbacks
    def test_items(self):
        """Items are set, found, read back (bytes, as the reference's dbm
        gave them) and deleted."""
        now, seen = yield self.inThread(self.items)
        self.assertEqual(seen, [True, True, str(int(now)).encode(), True,
                                False, False])

    def missing(self):
        db = ttldb.TtlDb("missing", 3600, 60)
        for operation in (db.__getitem__, db.__delitem__):
            try:
                operation("absent")
            except KeyError:
                continue
            return operation
        return None

    @defer.inlineCallbacks
    def test_missingKey(self):
        """Reading or deleting a missing key raises KeyError."""
        self.assertIsNone((yield self.inThread(self.missing)))

    def expiring(self):
        db = ttldb.TtlDb("expiring", 60, 3600)
        db["old"] = time.time() - 61
        db["recent"] = time.time() - 30
        return "old" in db, "recent" in db

    @defer.inlineCallbacks
    def test_expiry(self):
        """An entry lives until its time plus the ttl, whatever the purge
        interval: one already older is never found."""
        self.assertEqual((yield self.inThread(self.expiring)), (False, True))

    @defer.inlineCallbacks
    def test_ownTable(self):
        """Each database is a table of its own, apart from pyfilter's."""
        def setBoth():
            ttldb.TtlDb("one", 60, 60)["k"] = time.time()
            return "k" in ttldb.TtlDb("two", 60, 60)
        self.assertFalse((yield self.inThread(setBoth)))
        store = storeFor(self.context)
        self.assertIsNotNone((yield store.get("ttldb:one", "k")))
        self.assertIsNone((yield store.get("one", "k")))

    def test_notInReactorThread(self):
        """A TtlDb may be created in the reactor's thread (init_filter), but
        an operation there would wait for itself: it raises."""
        self.patch(threadable, "isInIOThread", lambda: True)
        db = ttldb.TtlDb("early", 60, 60)
        error = self.assertRaises(ttldb.TtlDbError, db.__contains__, "k")
        self.assertIn("do_filter", str(error))

    def test_reactorNotRunning(self):
        """Before the reactor runs, a TtlDb may be created, but an operation
        would never be answered: it raises."""
        self.patch(reactor, "running", False)
        db = ttldb.TtlDb("early", 60, 60)
        self.assertRaises(ttldb.TtlDbError, db.__contains__, "k")

    def test_unknownType(self):
        """A store type pyfilter does not have raises OpenError."""
        self.bind("[ttldb]\ntype = 'mysql'\n")
        error = self.assertRaises(ttldb.OpenError, ttldb.TtlDb, "x", 60, 60)
        self.assertIn("mysql", str(error))

    @defer.inlineCallbacks
    def test_storeFailure(self):
        """A store that fails raises TtlDbError from the operation."""
        stateDir = os.path.abspath(self.mktemp())
        self.context = self.bind("", stateDir=stateDir)
        db = ttldb.TtlDb("failing", 60, 60)
        os.rmdir(stateDir)
        error = yield self.assertFailure(
            self.inThread(db.__setitem__, "k", 1), ttldb.TtlDbError)
        self.assertIn("state store", str(error))

    def test_noAnswer(self):
        """A store that does not answer in time raises TtlDbError."""
        class Silent:
            reactor = Clock()
            reactor.callFromThread = lambda *args: None

            def canWait(self):
                return True

        self.assertRaises(ttldb.TtlDbError, ttldb._callIn, Silent(), 0,
                          lambda: None)

    def relock(self):
        db = ttldb.TtlDb("locked", 60, 60)
        db.lock()
        db.lock()
        db.unlock()
        db.unlock()
        try:
            db.unlock()
        except ttldb.LockError:
            return True
        return False

    @defer.inlineCallbacks
    def test_reentrantLock(self):
        """The lock is re-entrant; unlock() without lock() raises
        LockError."""
        self.assertTrue((yield self.inThread(self.relock)))

    @defer.inlineCallbacks
    def test_lockTimeout(self):
        """Waiting longer than LOCK_TIMEOUT for another thread's lock raises
        LockError."""
        self.patch(ttldb, "LOCK_TIMEOUT", 0)
        db = ttldb.TtlDb("held", 60, 60)
        held, release = threading.Event(), threading.Event()

        def hold():
            db.lock()
            held.set()
            release.wait(10)
            db.unlock()

        holder = threading.Thread(target=hold)
        holder.start()
        self.addCleanup(holder.join, 10)
        self.addCleanup(release.set)
        self.assertTrue(held.wait(10))
        other = ttldb.TtlDb("held", 60, 60)
        yield self.assertFailure(self.inThread(other.lock), ttldb.LockError)


class TtlDbPostgresTests(TtlDbTests):
    """
    The same, with C{[ttldb] type = 'psycopg2'}: the reference's SQL back
    end gave values as text and C{None} for a missing key.
    """

    def setUp(self):
        server = postgres.sharedServer()
        self.modulesText = server.ttldbSection(
            server.createDatabase()["db"])
        super().setUp()

    @defer.inlineCallbacks
    def test_items(self):
        """Items read back as text."""
        now, seen = yield self.inThread(self.items)
        self.assertEqual(seen, [True, True, str(int(now)), True, False,
                                False])

    @defer.inlineCallbacks
    def test_missingKey(self):
        """Reading a missing key gives None; deleting one does nothing."""
        def missing():
            db = ttldb.TtlDb("missing", 3600, 60)
            value = db["absent"]
            del db["absent"]
            return value
        self.assertIsNone((yield self.inThread(missing)))

    @defer.inlineCallbacks
    def test_storeFailure(self):
        """Unreachable PostgreSQL raises TtlDbError from the operation."""
        self.context = self.bind("[ttldb]\ntype = 'psycopg2'\n"
                                 f"host = {self.mktemp()!r}\n"
                                 "db = 'none'\nuser = 'none'\n")
        db = ttldb.TtlDb("failing", 60, 60)
        yield self.assertFailure(self.inThread(db.__setitem__, "k", 1),
                                 ttldb.TtlDbError)


class TtlDbStandaloneTests(unittest.TestCase):
    """
    C{pythonfilter.ttldb} outside the daemon: a store of its own in
    C{$PYFILTER_STATE_DIR}, run by a private reactor.
    """

    def setUp(self):
        configured(self)
        ttldb.useContext(None)
        self.stateDir = os.path.abspath(self.mktemp())
        os.makedirs(self.stateDir)
        self.patch(os, "environ", dict(os.environ, PYFILTER_STATE_DIR=
                                       self.stateDir))

    def test_persistent(self):
        """Entries are kept in the state directory's store, seen by a
        later TtlDb of the same name, from any thread but the private
        reactor's, which leaves the process's I/O thread alone."""
        db = ttldb.TtlDb("standalone", 3600, 60)
        db["k"] = 1e10
        self.assertEqual(ttldb.TtlDb("standalone", 3600, 60)["k"],
                         b"10000000000")
        self.assertTrue(os.path.exists(os.path.join(self.stateDir,
                                                    "state.sqlite")))
        self.assertNotEqual(threadable.ioThread,
                            ttldb._Backings.current().thread.ident)

    def test_notInPrivateReactorThread(self):
        """An operation from the private reactor's own thread raises."""
        backing = ttldb._Backings.current()
        self.assertRaises(ttldb.TtlDbError, ttldb._callIn, backing, 5,
                          ttldb._callIn, backing, 5, lambda: None)


class PythonfilterAliasTests(unittest.TestCase):
    def test_packageWithoutAdminsOwn(self):
        """With no pythonfilter package on the path, C{pythonfilter} is
        pyfilter's, holding its ttldb."""
        aliases.install()
        cached = sys.modules.pop("pythonfilter", None)
        self.addCleanup(sys.modules.pop, "pythonfilter", None)
        if cached is not None:
            self.addCleanup(sys.modules.__setitem__, "pythonfilter", cached)
        import pythonfilter
        import pythonfilter.ttldb
        self.assertIs(pythonfilter, sys.modules["pyfilter.legacy.pythonfilter"])
        self.assertIs(pythonfilter.ttldb, ttldb)

    def test_adminsPackageKeepsItsModules(self):
        """An admin's pythonfilter package stays theirs, with pyfilter's
        ttldb in it."""
        legacymods.onPath(self)
        aliases.install()
        import pythonfilter.legacysnake
        import pythonfilter.ttldb
        self.assertTrue(pythonfilter.__file__.startswith(
            legacymods.DIRECTORY))
        self.assertIs(pythonfilter.ttldb, ttldb)
