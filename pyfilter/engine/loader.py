"""
Building the chain from the configuration files.

Each chain name is looked up as pyfilter's own filter C{filters.NAME} first,
then as a module C{pythonfilter.NAME} (where admins dropped custom modules
for the reference), then as a top-level module C{NAME} on the Python path;
a module is a filter when it names a L{Filter} class C{FILTER}, or, when
the caller runs legacy modules, when the legacy support can adapt it.  A
name listed twice shares one filter instance, as the reference imports a
module once.

Daemon-wide settings live in the modules file's C{[pyfilter]} section;
every filter's section may also set the common options of
L{pyfilter.engine.filter} (C{timeout}, C{testing}, C{on_error}).
"""

import importlib
import sys

from twisted.internet import defer
from twisted.logger import Logger

from pyfilter.engine.chain import Chain, Entry
from pyfilter.config.chainfile import readChain
from pyfilter.config.errors import ConfigError
from pyfilter.engine.filter import Filter, configure
from pyfilter.engine.options import (
    Option, positiveNumber, nonNegativeInteger, oneOf)

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
    "decision_log": Option("logfmt", oneOf("logfmt", "json", "off"),
                           "the per-message decision line: key=value "
                           "(logfmt), JSON lines, or 'off' (none; it "
                           "costs about 0.1 ms a message)"),
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


def findFilter(name, legacy=None):
    """
    Locate the filter named C{name}.

    @param legacy: what runs modules written for the reference (a
        L{pyfilter.legacy.adapter.LegacySupport}), or C{None} to run only
        pyfilter's own kind of filter.
    @return: a L{Filter} subclass.
    @raise ConfigError: no such filter, or it failed to import.
    """
    for moduleName in ("filters." + name, "pythonfilter." + name, name):
        if legacy is not None and not moduleName.startswith("filters."):
            legacy.prepareImport()
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
        adapted = legacy.adapt(name, module) if legacy is not None else None
        if adapted is not None:
            return adapted
        raise ConfigError(f"filter {name}: module {moduleName} has no "
                          f"FILTER class" + (" and no do_filter function"
                                             if legacy is not None else ""))
    raise ConfigError(f"unknown filter {name!r}: no module filters.{name}, "
                      f"pythonfilter.{name} or {name} on {sys.path!r}")


def makeFilter(name, modules, context, settings=None, legacy=None):
    """
    Create the filter C{name} with its options from C{modules}.

    @param settings: the daemon's C{[pyfilter]} settings (read from
        C{modules} when not given).
    @return: the L{Filter}; its C{config} holds the common options too
        (C{timeout}, C{testing}, ...).
    """
    found = findFilter(name, legacy)
    if settings is None:
        settings = daemonSettings(modules)
    config, unknown = configure(found, name, modules, settings)
    for option in unknown:
        log.warn("{where}: unknown option ignored",
                 where=modules.where(f"{name}.py", option))
    try:
        instance = found(config, context)
    except ConfigError:
        raise
    except Exception as e:
        raise ConfigError(f"filter {name}: {type(e).__name__}: {e}") from e
    instance.name = name
    return instance


@defer.inlineCallbacks
def buildChain(chainPath, modules, context, settings, legacy=None):
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
            filters[line.name] = makeFilter(line.name, modules, context,
                                            settings, legacy)
        instance = filters[line.name]
        entries.append(Entry(line.name, instance, line.bypass,
                             instance.config["timeout"],
                             instance.config["testing"] or line.testing))
    for name, instance in filters.items():
        try:
            yield defer.maybeDeferred(instance.start)
        except ConfigError:
            raise
        except Exception as e:
            raise ConfigError(f"filter {name}: start failed: "
                              f"{type(e).__name__}: {e}") from e
        context.onStop(instance.stop)
    return Chain(entries, context.reactor, settings["message_deadline"])
