"""
Filter modules written the reference's way, for the legacy tests; this
directory is put on sys.path by L{tests.legacymods.onPath}, never imported
as a package by the modules themselves.
"""

import os
import sys

DIRECTORY = os.path.dirname(os.path.abspath(__file__))


def onPath(testCase):
    """
    Put this directory on sys.path for one test, and forget it and every
    module imported from it afterwards.
    """
    sys.path.insert(0, DIRECTORY)

    def forget():
        sys.path.remove(DIRECTORY)
        for name, module in list(sys.modules.items()):
            path = getattr(module, "__file__", None) or ""
            ours = path.startswith(DIRECTORY + os.sep)
            if ours and name.split(".")[0] != "tests":
                del sys.modules[name]

    testCase.addCleanup(forget)
