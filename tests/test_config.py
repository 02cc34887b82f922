from twisted.trial.unittest import SynchronousTestCase, TestCase

from pyfilter.config import literals
from pyfilter.engine import loader
from pyfilter.config.chainfile import parseChain, readChain
from pyfilter.config.errors import ConfigError
from pyfilter.config.modulesfile import ModulesConfig
from tests.helpers import makeContext


class LiteralTests(SynchronousTestCase):
    def test_shippedValues(self):
        """Every value form of the reference's shipped file is read."""
        cases = {
            "'dbm'": "dbm",
            "r'^.*\\.(exe|vbs)$'": r"^.*\.(exe|vbs)$",
            "60 * 60 * 24 * 30": 2592000,
            "True": True,
            "None": None,
            "['list.dnswl.org']": ["list.dnswl.org"],
            "{'': '/etc/courier/signatures/default'}":
                {"": "/etc/courier/signatures/default"},
            "'5432'": "5432",
            "-1": -1,
            "10 # a comment": 10,
        }
        for text, value in cases.items():
            self.assertEqual(literals.evaluate(text), value, text)

    def test_multiLineDict(self):
        """A dictionary spread over several lines is read."""
        text = "{ 'help@x': ['[^@]*@.*x'],\n  'web@x': ['a', 'b'] }"
        self.assertEqual(literals.evaluate(text),
                         {"help@x": ["[^@]*@.*x"], "web@x": ["a", "b"]})

    def test_codeRefused(self):
        """Names, calls, attributes and comprehensions are never evaluated."""
        for text in ("__import__('os').system('true')", "open('/etc/passwd')",
                     "x", "().__class__", "[i for i in range(3)]",
                     "lambda: 1", "2 ** 1000", "'a' * 10**9", "1; 2"):
            self.assertRaises(literals.LiteralError, literals.evaluate, text)

    def test_hugeNumbersRefused(self):
        """Arithmetic cannot build unbounded numbers."""
        self.assertRaises(literals.LiteralError, literals.evaluate,
                          "99999999999 * 99999999999 * 99999999999")


class ModulesConfigTests(SynchronousTestCase):
    def write(self, text):
        path = self.mktemp()
        with open(path, "w") as f:
            f.write(text)
        return path

    def test_missingFileIsEmpty(self):
        """An absent modules file means every filter runs on defaults."""
        config = ModulesConfig.read(self.mktemp())
        self.assertEqual(config.section("greylist.py"), {})

    def test_badValueNamesFileSectionOption(self):
        """A value that is not a literal names file, section and option."""
        path = self.write("[greylist.py]\ngreylist_time = os.system('x')\n")
        config = ModulesConfig.read(path)
        error = self.assertRaises(ConfigError, config.section, "greylist.py")
        self.assertIn(path, str(error))
        self.assertIn("[greylist.py]", str(error))
        self.assertIn("greylist_time", str(error))

    def test_duplicateOptionIsError(self):
        """A duplicated option is a configuration error naming the file."""
        path = self.write("[a.py]\nx = 1\nx = 2\n")
        error = self.assertRaises(ConfigError, ModulesConfig.read, path)
        self.assertIn(path, str(error))

    def test_filterOptionsChecked(self):
        """Option values are checked against the filter's declared types."""
        from pyfilter.engine.options import Option, nonNegativeInteger
        path = self.write("[x.py]\nn = 'ten'\n")
        config = ModulesConfig.read(path)
        error = self.assertRaises(ConfigError, config.checkedSection, "x.py",
                                  {"n": Option(1, nonNegativeInteger)})
        self.assertIn("[x.py] n", str(error))
        self.assertIn("expected a non-negative integer", str(error))

    def test_filterOptionsDefaultsAndUnknown(self):
        """Absent options take defaults; unknown ones are reported."""
        from pyfilter.engine.options import Option, nonNegativeInteger
        config = ModulesConfig.read(self.write("[x.py]\nm = 2\n"))
        values, unknown = config.checkedSection(
            "x.py", {"n": Option(7, nonNegativeInteger)})
        self.assertEqual(values, {"n": 7})
        self.assertEqual(unknown, ["m"])


class ChainConfigTests(SynchronousTestCase):
    def test_syntax(self):
        """Comments, blank and whitespace-only lines are skipped."""
        lines, warnings = parseChain(
            "# comment\n\n   \n  # indented comment\nclamav\n"
            "whitelist_auth for ratelimit attachments\nratelimit extra words\n"
            "attachments\n")
        self.assertEqual([(l.name, set(l.bypass)) for l in lines], [
            ("clamav", set()),
            ("whitelist_auth", {"ratelimit", "attachments"}),
            ("ratelimit", set()), ("attachments", set())])
        self.assertEqual(warnings, [])

    def test_testingMarker(self):
        """
        C{NAME testing} marks a line for testing mode; the word is only a
        marker in second place, never after C{for}.
        """
        lines, _ = parseChain("spamassassin testing\nclamav\n"
                              "whitelist_auth for testing\n")
        self.assertEqual([(l.name, l.testing, set(l.bypass)) for l in lines],
                         [("spamassassin", True, set()),
                          ("clamav", False, set()),
                          ("whitelist_auth", False, {"testing"})])

    def test_bypassOfUnknownOrEarlierFilterWarns(self):
        """A bypass name that is not a later filter is reported."""
        _, warnings = parseChain("attachments\nwhitelist_auth for attachments "
                                 "ratelimt\n", "chain.conf")
        self.assertEqual(len(warnings), 2)
        self.assertIn("chain.conf:2", warnings[0])

    def test_writableByOthersRefused(self):
        """Configuration files any user may change are refused."""
        import os
        path = self.mktemp()
        with open(path, "w") as f:
            f.write("attachments\n")
        os.chmod(path, 0o666)
        error = self.assertRaises(ConfigError, readChain, path)
        self.assertIn("writable by any user", str(error))
        error = self.assertRaises(ConfigError, ModulesConfig.read, path)
        self.assertIn(path, str(error))
        os.chmod(path, 0o664)
        self.assertEqual(readChain(path)[0][0].name, "attachments")

    def test_unreadable(self):
        """A missing chain file is a configuration error naming it."""
        path = self.mktemp()
        error = self.assertRaises(ConfigError, readChain, path)
        self.assertIn(path, str(error))


class LoaderTests(TestCase):
    def chainFile(self, text):
        path = self.mktemp()
        with open(path, "w") as f:
            f.write(text)
        return path

    def build(self, chainText, modulesText=""):
        context = makeContext(self, modulesText=modulesText)
        settings = loader.daemonSettings(context.modules)
        return loader.buildChain(self.chainFile(chainText), context.modules,
                                 context, settings)

    def test_unknownFilter(self):
        """An unknown filter name is a configuration error naming it."""
        failure = self.failureResultOf(self.build("no_such_filter\n"),
                                       ConfigError)
        self.assertIn("no_such_filter", str(failure.value))

    def test_badOption(self):
        """A bad option value is a configuration error naming it."""
        failure = self.failureResultOf(
            self.build("attachments\n",
                       "[attachments.py]\nblocked_pattern = 5\n"),
            ConfigError)
        self.assertIn("[attachments.py] blocked_pattern", str(failure.value))

    def test_sameFilterTwiceSharesInstance(self):
        """A filter listed twice is one instance in two entries."""
        chain = self.successResultOf(self.build("whitelist_auth\n"
                                                "whitelist_auth\n"))
        self.assertIs(chain.entries[0].filter, chain.entries[1].filter)

    def test_timeouts(self):
        """The daemon-wide filter timeout applies unless a section sets one."""
        chain = self.successResultOf(self.build(
            "whitelist_auth\nattachments\n",
            "[pyfilter]\nfilter_timeout = 12\nmessage_deadline = 40\n"
            "[attachments.py]\ntimeout = 3\n"))
        self.assertEqual([e.timeout for e in chain.entries], [12, 3])
        self.assertEqual(chain.deadline, 40)

    def test_testingMarkerAndOptionAreOneMechanism(self):
        """
        The chain file's C{testing} marker and the section's C{testing}
        option both end in the entry's testing mode, per chain line.
        """
        chain = self.successResultOf(self.build(
            "attachments testing\nattachments\nwhitelist_auth\n",
            "[whitelist_auth.py]\ntesting = True\n"))
        self.assertEqual([e.testing for e in chain.entries],
                         [True, False, True])

    def test_badSetting(self):
        """A bad [pyfilter] setting is a configuration error naming it."""
        context = makeContext(self, modulesText="[pyfilter]\nthreads = -1\n")
        error = self.assertRaises(ConfigError, loader.daemonSettings,
                                  context.modules)
        self.assertIn("[pyfilter] threads", str(error))

    def test_decisionLogSetting(self):
        """The decision line is logfmt unless [pyfilter] asks for JSON."""
        plain = makeContext(self)
        self.assertEqual(
            loader.daemonSettings(plain.modules)["decision_log"], "logfmt")
        context = makeContext(
            self, modulesText="[pyfilter]\ndecision_log = 'json'\n")
        self.assertEqual(
            loader.daemonSettings(context.modules)["decision_log"], "json")
