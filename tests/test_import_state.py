"""
Tests for C{pyfilter import-state}: the reference's dbm files, in each dbm
flavour, end up where the filters find them.
"""

import argparse
import dbm.dumb
import dbm.gnu
import dbm.ndbm
import io
import os
import subprocess
import sys
import time

from twisted.internet import defer, reactor
from twisted.trial import unittest

from pyfilter.cli import importstate
from pyfilter.store import REFERENCE_SUFFIX, Table, referenceKey
from pyfilter.store.sqlite import SQLiteStore
from tests.daemon import ROOT


def writeDbm(module, path, entries):
    with module.open(path, "c") as db:
        for key, value in entries.items():
            db[key.encode()] = str(int(value)).encode()


class ImportStateTests(unittest.TestCase):
    def setUp(self):
        self.source = os.path.abspath(self.mktemp())
        self.stateDir = os.path.abspath(self.mktemp())
        os.makedirs(self.source)
        os.makedirs(self.stateDir)
        self.now = time.time()
        self.triplet = referenceKey("a@example.org", "b@example.test",
                                    "192.0.2")
        writeDbm(dbm.gnu, os.path.join(self.source, "greylist_Passed"),
                 {self.triplet: self.now - 60,
                  referenceKey("old"): self.now - 60 * 60 * 24 * 40})
        writeDbm(dbm.ndbm, os.path.join(self.source, "auto_whitelist"),
                 {referenceKey("b@example.test", "a@example.org"): self.now})
        writeDbm(dbm.dumb, os.path.join(self.source, "correspondents"),
                 {referenceKey("a@example.org", "b@example.test"): self.now})

    def arguments(self, modules=None):
        return argparse.Namespace(modules_config=modules,
                                  state_dir=self.stateDir, source=self.source)

    @defer.inlineCallbacks
    def test_importEveryFlavour(self):
        """GNU dbm, ndbm and dumb dbm files are imported; expired entries are skipped."""
        out = io.StringIO()
        found = yield importstate.run(reactor, self.arguments(), out)
        self.assertEqual(found, 3)
        self.assertIn("greylist_Passed: imported 1 entries, skipped 1 expired",
                      out.getvalue())
        self.assertIn("greylist_NotPassed: no database", out.getvalue())
        store = SQLiteStore(self.stateDir, reactor)
        self.addCleanup(store.close)
        self.assertEqual(
            (yield store.get("greylist_Passed" + REFERENCE_SUFFIX,
                             self.triplet)), int(self.now - 60))
        for name in ("auto_whitelist", "correspondents"):
            self.assertTrue((yield store.hasAny(name + REFERENCE_SUFFIX)))

    @defer.inlineCallbacks
    def test_filtersFindImportedEntries(self):
        """A Table finds an imported entry by the texts the reference hashed."""
        yield importstate.run(reactor, self.arguments(), io.StringIO())
        store = SQLiteStore(self.stateDir, reactor)
        self.addCleanup(store.close)
        table = Table(store, "auto_whitelist", reference=True)
        yield table.start()
        self.assertEqual((yield table.get(("b@example.test", "a@example.org"))),
                         int(self.now))

    @defer.inlineCallbacks
    def test_lifetimeFromModulesConfig(self):
        """The filters' lifetimes in the modules config decide what is expired."""
        modules = os.path.join(self.source, "modules.conf")
        with open(modules, "w") as f:
            f.write("[greylist.py]\nsenders_passed_ttl = 30\n")
        out = io.StringIO()
        yield importstate.run(reactor, self.arguments(modules), out)
        self.assertIn("greylist_Passed: imported 0 entries, skipped 2 expired",
                      out.getvalue())

    def test_command(self):
        """The pyfilter import-state command imports and exits 0."""
        result = subprocess.run(
            [sys.executable, "-m", "pyfilter.cli", "import-state",
             "--state-dir", self.stateDir, "--modules-config",
             os.path.join(self.source, "absent.conf"), self.source],
            cwd=ROOT, capture_output=True, text=True, timeout=60)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn("correspondents: imported 1 entries", result.stdout)

    def test_commandWithoutDatabases(self):
        """Without any database the command says so and exits 1."""
        empty = self.mktemp()
        os.makedirs(empty)
        result = subprocess.run(
            [sys.executable, "-m", "pyfilter.cli", "import-state",
             "--state-dir", self.stateDir, empty],
            cwd=ROOT, capture_output=True, text=True, timeout=60)
        self.assertEqual(result.returncode, 1)
        self.assertIn("no database found", result.stderr)
