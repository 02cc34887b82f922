"""
The reference's helper packages for legacy filter modules: C{courier}
(C{courier.config}, C{courier.control}, C{courier.xfilter}, ...) and
C{pythonfilter.ttldb}.

pyfilter installs neither a top-level C{courier} nor a top-level
C{pythonfilter} package.  L{install} makes
  - C{import courier.X} resolve to C{pyfilter.legacy.courier.X}, only when
    no real C{courier} package is importable;
  - C{import pythonfilter.ttldb} (also C{from . import ttldb} in a module of
    an admin's own C{pythonfilter} package, as the reference's filters
    import it) resolve to L{pyfilter.legacy.pythonfilter.ttldb}, always: a
    copy of the reference's C{ttldb.py} among the admin's modules is
    shadowed, so every legacy module uses the daemon's state store;
  - C{import pythonfilter} resolve to L{pyfilter.legacy.pythonfilter} when
    no C{pythonfilter} package is on the path (a legacy module outside such
    a package importing C{pythonfilter.ttldb}).
"""

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys

_PREFIX = "pyfilter.legacy."

#: The modules of the reference's C{pythonfilter} package pyfilter supplies.
_PYTHONFILTER_MODULES = ("pythonfilter.ttldb",)


class _Alias(importlib.abc.Loader):
    def __init__(self, target):
        self.target = target

    def create_module(self, spec):
        return importlib.import_module(self.target)

    def exec_module(self, module):
        pass


def _aliasSpec(fullname, isPackage=False):
    return importlib.machinery.ModuleSpec(
        fullname, _Alias(_PREFIX + fullname), is_package=isPackage)


class _CourierFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path=None, target=None):
        if fullname != "courier" and not fullname.startswith("courier."):
            return None
        if importlib.util.find_spec(_PREFIX + fullname) is None:
            return None
        return _aliasSpec(fullname, isPackage=fullname == "courier")


class _PythonfilterFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path=None, target=None):
        if fullname in _PYTHONFILTER_MODULES:
            return _aliasSpec(fullname)
        if fullname == "pythonfilter" and (
                importlib.machinery.PathFinder.find_spec(fullname) is None):
            return _aliasSpec(fullname, isPackage=True)
        return None


_courierFinder = _CourierFinder()
_pythonfilterFinder = _PythonfilterFinder()


def install():
    """
    Put the aliases in place (the C{courier} one unless a real C{courier}
    package exists).  Safe to call more than once.

    @return: C{True} if the C{courier} alias is in place.
    """
    if _pythonfilterFinder not in sys.meta_path:
        sys.meta_path.insert(0, _pythonfilterFinder)
    if _courierFinder in sys.meta_path:
        return True
    if "courier" in sys.modules or importlib.util.find_spec("courier"):
        return False
    sys.meta_path.insert(0, _courierFinder)
    return True
