"""
Tests for the example configuration shipped in etc/: it loads, its active
chain is a real one, and every option shown commented out is valid.
"""

import os
import re

from twisted.trial import unittest

from pyfilter.engine import loader
from pyfilter.config.chainfile import readChain
from pyfilter.config.modulesfile import ModulesConfig

ETC = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                   "etc")
CHAIN = os.path.join(ETC, "pyfilter.conf")
MODULES = os.path.join(ETC, "pyfilter-modules.conf")
ALL_FILTERS = (
    "add_signature attachments auto_whitelist clamav comeagain debug "
    "deliveredto dialback greylist localsenders log_aliases noduplicates "
    "noreceivedheaders nosuccessdsn privateaddr quota ratelimit "
    "ratelimitauth sentfolder spamassassin spfcheck whitelist_auth "
    "whitelist_block whitelist_dnswl whitelist_relayclients "
    "whitelist_spf").split()


class ShippedChainTests(unittest.TestCase):

    def test_activeChain(self):
        """The shipped chain runs deliveredto then attachments and every filter it names exists."""
        lines, warnings = readChain(CHAIN)
        self.assertEqual([line.name for line in lines],
                         ["deliveredto", "attachments"])
        self.assertEqual(warnings, [])
        for line in lines:
            loader.findFilter(line.name)

    def test_everyFilterMentioned(self):
        """Every filter name of the reference appears as a commented-out line."""
        with open(CHAIN, encoding="utf-8") as f:
            text = f.read()
        for name in ALL_FILTERS:
            if name not in ("deliveredto", "attachments"):
                self.assertRegex(text, rf"(?m)^#{name}( for .*)?$")


class ShippedModulesTests(unittest.TestCase):

    def test_activeSettings(self):
        """The active sections are the embedded store, the quarantine and default daemon settings."""
        modules = ModulesConfig.read(MODULES)
        self.assertEqual(modules.section("ttldb"),
                         {"type": "dbm", "dir": "/var/lib/pythonfilter"})
        self.assertEqual(modules.section("quarantine")["days"], 14)
        self.assertEqual(loader.daemonSettings(modules), {
            name: spec.default for name, spec in loader.SETTINGS.items()})

    def test_commentedOptionsAreValid(self):
        """Uncommenting every option gives a file whose values all evaluate."""
        with open(MODULES, encoding="utf-8") as f:
            text = f.read()
        uncommented = re.sub(r"(?m)^#(\w+ = |    )", r"\1", text)
        path = self.mktemp()
        with open(path, "w", encoding="utf-8") as f:
            f.write(uncommented)
        modules = ModulesConfig.read(path)
        sections = modules.parser.sections()
        for name in ALL_FILTERS:
            if name in ("debug", "deliveredto", "log_aliases", "noduplicates",
                        "noreceivedheaders", "nosuccessdsn", "quota",
                        "spfcheck", "whitelist_auth", "whitelist_block",
                        "whitelist_relayclients", "whitelist_spf"):
                continue
            self.assertIn(f"{name}.py", sections)
        for section in sections:
            self.assertTrue(modules.section(section) or section == "pyfilter",
                            section)
        self.assertEqual(loader.daemonSettings(modules)["threads"], 8)
        self.assertEqual(len(modules.section("privateaddr.py")
                             ["private_rcpts"]), 2)
