"""
The reference's helper package C{courier} (C{courier.config},
C{courier.control}, C{courier.xfilter}, ...) for legacy filter modules.

pyfilter does not install a top-level C{courier} package.  L{install} makes
C{import courier.X} resolve to C{pyfilter.compat.courier.X}, and only when
no real C{courier} package is importable.
"""

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys

_PREFIX = "pyfilter.compat."


class _Alias(importlib.abc.Loader):
    def __init__(self, target):
        self.target = target

    def create_module(self, spec):
        return importlib.import_module(self.target)

    def exec_module(self, module):
        pass


class _CourierFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path=None, target=None):
        if fullname != "courier" and not fullname.startswith("courier."):
            return None
        target = _PREFIX + fullname
        if importlib.util.find_spec(target) is None:
            return None
        isPackage = fullname == "courier"
        return importlib.machinery.ModuleSpec(
            fullname, _Alias(target), is_package=isPackage)


_finder = _CourierFinder()


def install():
    """
    Make C{courier} importable as an alias of pyfilter's compatible helpers,
    unless a real C{courier} package exists.  Safe to call more than once.

    @return: C{True} if the alias is in place.
    """
    if _finder in sys.meta_path:
        return True
    if "courier" in sys.modules or importlib.util.find_spec("courier"):
        return False
    sys.meta_path.insert(0, _finder)
    return True
