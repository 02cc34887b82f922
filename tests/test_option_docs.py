"""
Every option of every filter in filters/ says what it does, and
C{pyfilter check --help-filter} shows it: the option's own C{doc} is the
only place an option is described.
"""

import importlib
import io
import pkgutil
import re

from twisted.trial import unittest

import filters
from pyfilter.cli import check
from pyfilter.engine.filter import RENAMED, ownOptions


def filterModules():
    """
    The name and L{Filter} class of every module in filters/ with one.
    """
    for info in pkgutil.iter_modules(filters.__path__):
        module = importlib.import_module("filters." + info.name)
        found = getattr(module, "FILTER", None)
        if isinstance(found, type):
            yield info.name, found


#: A docstring line that starts describing an option: a list item or a
#: line beginning with the option's name (or several, comma-separated),
#: then ':', '(' or a dash, as in "  - C{max_connections}: concurrent...".
DESCRIBES = re.compile(r"\s*(?:- )?C\{(\w+)\}(?:, C\{\w+\})*\s*[:(\u2014-]")

#: Options every filter has or accepts under an older name.
COMMON = {"testing", "timeout", "on_error", "inverse", *RENAMED}


class OptionDocTests(unittest.TestCase):
    def test_docstringsDoNotRepeatOptions(self):
        """
        No filter's module docstring has a line that describes one of its
        options (that is the option's C{doc}); each points to
        C{--help-filter NAME} instead.
        """
        repeated, pointerless = [], []
        for name, cls in filterModules():
            doc = importlib.import_module("filters." + name).__doc__ or ""
            options = set(ownOptions(cls)) | COMMON
            for line in doc.splitlines():
                found = DESCRIBES.match(line)
                if found and found.group(1) in options:
                    repeated.append(f"{name}: {line.strip()}")
            if options - COMMON and "--help-filter" not in doc:
                pointerless.append(name)
        self.assertEqual((repeated, pointerless), ([], []))

    def test_everyOptionDocumented(self):
        """
        No filter option has an empty C{doc}.
        """
        undocumented = [f"{name}.{option}"
                        for name, cls in filterModules()
                        for option, spec in ownOptions(cls).items()
                        if not (spec.doc or "").strip()]
        self.assertEqual(undocumented, [])

    def test_helpFilterPrintsEveryOption(self):
        """
        C{--help-filter NAME} prints each of the filter's options with the
        start of its C{doc}.
        """
        modulesPath = self.mktemp()
        with open(modulesPath, "w"):
            pass
        for name, cls in filterModules():
            stdout, stderr = io.StringIO(), io.StringIO()
            status = check.main(["--help-filter", name,
                                 "--modules-config", modulesPath],
                                stdout, stderr)
            self.assertEqual((name, status, stderr.getvalue()),
                             (name, check.EXIT_ACCEPTED, ""))
            text = " ".join(stdout.getvalue().split())
            for option, spec in ownOptions(cls).items():
                self.assertIn(f"{option} = ", text, name)
                start = " ".join(spec.doc.split()[:4])
                self.assertIn(start, text, f"{name}.{option}")
