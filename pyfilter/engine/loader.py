"""
Building the chain from the configuration files.

Each chain name is looked up as pyfilter's own filter C{filters.NAME} first,
then as a reference-style module C{pythonfilter.NAME} (where admins dropped
custom modules for the reference), then as a top-level module C{NAME} on the
Python path.  A name listed twice shares one filter instance, as the
reference imports a module once.

Daemon-wide settings live in the modules file's C{[pyfilter]} section; any
filter's section may also set C{timeout} (seconds) for that filter.
"""

import importlib
import sys

from twisted.internet import defer
from twisted.logger import Logger

from pyfilter.legacy import aliases
from pyfilter.legacy import adapter
from pyfilter.engine.chain import Chain, Entry
from pyfilter.config.chainfile import readChain
from pyfilter.config.errors import ConfigError
from pyfilter.engine.filter import Filter
from pyfilter.engine.options import Option, positiveNumber, nonNegativeInteger

log = Logger()

SETTINGS = {
    "filter_timeout": Option(60, positiveNumber,
                             "seconds one filter may take on one message"),
    "message_deadline": Option(300, positiveNumber,
                               "seconds the whole chain may take"),
    "request_timeout": Option(30, positiveNumber,
                              "seconds Courier may take to send a request"),
    "max_in_flight": Option(512, nonNegativeInteger,
                            "messages filtered at once; more get 451"),
    "max_connections": Option(1024, nonNegativeInteger,
                              "connections open at once (requests still "
                              "being sent included); more get 451"),
    "threads": Option(8, nonNegativeInteger,
                      "threads for blocking filter code"),
    "thread_queue": Option(64, nonNegativeInteger,
                           "calls that may wait for a thread"),
}

def daemonSettings(modules):
    """
    The checked C{[pyfilter]} settings, with defaults.
    """
    settings, unknown = modules.checkedSection("pyfilter", SETTINGS)
    for name in unknown:
        log.warn("{where}: unknown setting ignored",
                 where=modules.where("pyfilter", name))
    return settings


def _importExisting(moduleName):
    """
    Import C{moduleName}; C{None} if that module (not one it imports) does
    not exist.
    """
    try:
        return importlib.import_module(moduleName)
    except ModuleNotFoundError as e:
        parts = moduleName.split(".")
        missing = {".".join(parts[:i]) for i in range(1, len(parts) + 1)}
        if e.name in missing:
            return None
        raise


def extendModulePath(directories):
    """
    Let filter modules be found in C{directories} too, after everything
    already on C{sys.path}.
    """
    for directory in directories:
        if directory not in sys.path:
            sys.path.append(directory)


def findFilter(name):
    """
    Locate the filter named C{name}.

    @return: a L{Filter} subclass, or a legacy module with C{do_filter}.
    @raise ConfigError: no such filter, or it failed to import.
    """
    candidates = [("filters." + name, False), ("pythonfilter." + name, True),
                  (name, True)]
    for moduleName, isLegacy in candidates:
        if isLegacy:
            aliases.install()
        try:
            module = _importExisting(moduleName)
        except Exception as e:
            raise ConfigError(f"filter {name}: importing {moduleName} failed: "
                              f"{type(e).__name__}: {e}") from e
        if module is None:
            continue
        found = getattr(module, "FILTER", None)
        if isinstance(found, type) and issubclass(found, Filter):
            return found
        if adapter.entryPoint(module) is not None:
            return module
        raise ConfigError(f"filter {name}: module {moduleName} has no "
                          f"FILTER class and no do_filter function")
    raise ConfigError(f"unknown filter {name!r}: no module filters.{name}, "
                      f"pythonfilter.{name} or {name} on {sys.path!r}")


def makeFilter(name, modules, context):
    """
    Create the filter C{name} with its options from C{modules}.

    @return: C{(filter, timeout)}; the timeout is C{None} unless the filter's
        section sets one.
    """
    adapter.useContext(context)
    found = findFilter(name)
    section = modules.section(f"{name}.py")
    timeout = section.get("timeout")
    if timeout is not None:
        try:
            positiveNumber(timeout)
        except ValueError as e:
            raise ConfigError(modules.where(f"{name}.py", "timeout")
                              + f": {e}, got {timeout!r}") from e
    if isinstance(found, type):
        specs = dict(found.options)
        config, unknown = modules.filterOptions(name, specs)
        for option in unknown:
            if option != "timeout":
                log.warn("{where}: unknown option ignored",
                         where=modules.where(f"{name}.py", option))
        try:
            instance = found(config, context)
        except ConfigError:
            raise
        except Exception as e:
            raise ConfigError(f"filter {name}: {type(e).__name__}: {e}") from e
        instance.name = name
        return instance, timeout
    adapter.initialise(name, found)
    return adapter.LegacyFilter(name, found, context), timeout


@defer.inlineCallbacks
def buildChain(chainPath, modules, context, settings):
    """
    Read the chain file, create and start every filter.

    @return: a Deferred firing with the L{Chain}; it fails with
        L{ConfigError} when anything is wrong.
    """
    lines, warnings = readChain(chainPath)
    for warning in warnings:
        log.warn("{warning}", warning=warning)
    filters = {}
    entries = []
    for line in lines:
        if line.name not in filters:
            filters[line.name] = makeFilter(line.name, modules, context)
        instance, timeout = filters[line.name]
        entries.append(Entry(line.name, instance, line.bypass,
                             timeout or settings["filter_timeout"]))
    for name, (instance, _) in filters.items():
        try:
            yield defer.maybeDeferred(instance.start)
        except ConfigError:
            raise
        except Exception as e:
            raise ConfigError(f"filter {name}: start failed: "
                              f"{type(e).__name__}: {e}") from e
        context.onStop(instance.stop)
    return Chain(entries, context.reactor, settings["message_deadline"])
