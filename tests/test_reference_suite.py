"""
courier-pythonfilter 3.0.6's own unit tests (C{tests/test_config.py},
C{test_control.py}, C{test_xfilter.py}, C{test_moduleconfig.py},
C{test_ttldb.py} of its sdist), run against pyfilter's compatibility layer:
each of their tests is a trial test here, under its own class and name.

The sdist is the file C{$PYFILTER_REFERENCE_SDIST} names (C{tools/test.sh}
downloads it with C{pip download}); without it the suite is skipped.  Only
its C{tests/} directory is extracted, to a temporary directory, so the
reference's C{courier} and C{pythonfilter} packages are never importable:
C{courier} is pyfilter's alias (L{pyfilter.legacy.aliases}), and
C{filters.pythonfilter}, which C{test_ttldb} imports its C{ttldb} from, is
pointed at L{pyfilter.legacy.pythonfilter} while that module loads.  Each
test runs in the extracted directory (the reference's tests name their
files relative to it), with C{courier.config} unconfigured (the tests set
C{sysconfdir} and C{_standard_config_paths} themselves) and, for
C{pythonfilter.ttldb}, a state directory of its own
(C{$PYFILTER_STATE_DIR}).

All of them pass, none is skipped.  The one that touches a deliberate
fix, C{TestModuleConfig.testApply}, applies sections into a plain
dictionary: pyfilter's C{apply_module_config} copies every option into
such a dictionary as the reference did, and only into a module's
C{globals()} does it refuse to create names or replace functions and
modules (checked in C{tests.test_legacy}).  The differences the
reference's tests do not reach are listed in README's legacy section.
"""

import atexit
import importlib.util
import os
import shutil
import sys
import tarfile
import tempfile
import unittest

from twisted.trial.unittest import SkipTest, SynchronousTestCase

from pyfilter.legacy import aliases
from pyfilter.legacy import pythonfilter
from pyfilter.legacy.courier import config
from pyfilter.legacy.pythonfilter import ttldb

SDIST_VARIABLE = "PYFILTER_REFERENCE_SDIST"
MODULES = ("test_config", "test_control", "test_xfilter",
           "test_moduleconfig", "test_ttldb")


def extractTests(sdist, target):
    """
    Write the regular files under the sdist's C{tests/} directory to
    C{target/tests}; nothing else of the archive is written.
    """
    with tarfile.open(sdist) as archive:
        for member in archive.getmembers():
            parts = member.name.split("/")
            if (not member.isfile() or len(parts) < 3 or parts[1] != "tests"
                    or any(part in ("", ".", "..") for part in parts[1:])):
                continue
            path = os.path.join(target, *parts[1:])
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with archive.extractfile(member) as source, \
                    open(path, "wb") as written:
                shutil.copyfileobj(source, written)


def loadModule(root, name):
    """
    Import the reference's test module C{name} from C{root/tests}, with
    C{filters.pythonfilter} meaning pyfilter's C{pythonfilter} package while
    it loads; C{courier.config} is reset afterwards (C{test_control} sets
    C{sysconfdir} when imported).
    """
    spec = importlib.util.spec_from_file_location(
        f"reference_{name}", os.path.join(root, "tests", name + ".py"))
    module = importlib.util.module_from_spec(spec)
    sys.modules["filters.pythonfilter"] = pythonfilter
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules["filters.pythonfilter"]
        config.configure(None, None, None)
    return module


class ReferenceCase(SynchronousTestCase):
    """
    Runs a reference test in the extracted directory, with the legacy
    helpers unconfigured and a state directory of its own.
    """

    root = None

    def setUp(self):
        stateDir = os.path.abspath(self.mktemp())
        os.makedirs(stateDir)
        self.setEnvironment(ttldb.STATE_DIR_VARIABLE, stateDir)
        here = os.getcwd()
        os.chdir(self.root)
        self.addCleanup(os.chdir, here)
        config.configure(None, None, None)
        self.addCleanup(config.configure, None, None, None)
        ttldb.useContext(None)
        super().setUp()

    def setEnvironment(self, name, value):
        old = os.environ.get(name)
        os.environ[name] = value
        if old is None:
            self.addCleanup(os.environ.pop, name)
        else:
            self.addCleanup(os.environ.__setitem__, name, old)


def referenceCases(root, module):
    """
    A trial class for each test class of the reference's C{module}, named
    as it is.
    """
    for referenceClass in vars(module).values():
        if not (isinstance(referenceClass, type)
                and issubclass(referenceClass, unittest.TestCase)):
            continue
        name = referenceClass.__name__
        yield type(name, (ReferenceCase, referenceClass),
                   {"root": root, "__module__": __name__,
                    "__qualname__": name})


def loadSuite():
    """
    Extract and load the reference's tests.

    @return: the trial classes, and the reference's modules.
    @raise SkipTest: they cannot run here.
    """
    sdist = os.environ.get(SDIST_VARIABLE)
    if not sdist:
        raise SkipTest(f"${SDIST_VARIABLE} is not set (tools/test.sh "
                       f"downloads courier-pythonfilter 3.0.6 with pip "
                       f"download and sets it)")
    if not os.path.isfile(sdist):
        raise SkipTest(f"${SDIST_VARIABLE}: no file {sdist}")
    if not aliases.install():
        raise SkipTest("a real courier package is installed")
    root = tempfile.mkdtemp(prefix="pyfilter-reference-")
    atexit.register(shutil.rmtree, root, True)
    extractTests(sdist, root)
    loaded = [loadModule(root, name) for name in MODULES]
    classes = [case for module in loaded
               for case in referenceCases(root, module)]
    return classes, loaded


try:
    _classes, _loaded = loadSuite()
except SkipTest as e:
    class ReferenceSuite(SynchronousTestCase):
        skip = str(e)

        def test_referenceSuite(self):
            """The reference's tests run when their sdist is given."""
else:
    globals().update((case.__name__, case) for case in _classes)

    class CompatibilityLayerTests(SynchronousTestCase):
        """
        The reference's tests exercise pyfilter's modules, none of their
        own.
        """

        def test_ownModules(self):
            """C{courier.config} and the C{ttldb} of C{test_ttldb} are
            pyfilter's."""
            import courier.config
            self.assertIs(courier.config, config)
            testTtldb = _loaded[MODULES.index("test_ttldb")]
            self.assertIs(testTtldb.ttldb, ttldb)

        def test_everyReferenceTestRuns(self):
            """The five modules give their 28 tests."""
            names = [method for case in _classes for method in dir(case)
                     if method.startswith("test")]
            self.assertEqual(len(names), 28)
