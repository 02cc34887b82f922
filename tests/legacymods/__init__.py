"""
Filter modules written the reference's way, for the legacy tests; this
directory is put on sys.path by L{tests.legacymods.onPath}, never imported
as a package by the modules themselves.
"""

import os
import sys

DIRECTORY = os.path.dirname(os.path.abspath(__file__))


def _forgetPythonfilter():
    for name in [name for name in sys.modules
                 if name.split(".")[0] == "pythonfilter"]:
        del sys.modules[name]


def onPath(testCase):
    """
    Put this directory on sys.path for one test, and forget it and every
    module imported from it afterwards.  Whatever C{pythonfilter} modules
    were imported before (pyfilter's own package, imported while no admin's
    package was on the path, and its C{ttldb} alias) are forgotten first,
    so that this directory's package is found, and afterwards.
    """
    _forgetPythonfilter()
    sys.path.insert(0, DIRECTORY)

    def forget():
        sys.path.remove(DIRECTORY)
        for name, module in list(sys.modules.items()):
            path = getattr(module, "__file__", None) or ""
            ours = path.startswith(DIRECTORY + os.sep)
            if ours and name.split(".")[0] != "tests":
                del sys.modules[name]
        _forgetPythonfilter()

    testCase.addCleanup(forget)
