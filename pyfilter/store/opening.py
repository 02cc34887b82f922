"""
The store the modules file's C{[ttldb]} section describes (see
L{pyfilter.store}), and the daemon's one store.
"""

from pyfilter.config.errors import ConfigError
from pyfilter.engine.options import (
    nonNegativeInteger, number, positiveNumber, string)
from pyfilter.store.base import (
    DEFAULT_COUNT_INTERVAL, DEFAULT_POOL_SIZE, DEFAULT_PURGE_INTERVAL,
    DEFAULT_TIMEOUT)
from pyfilter.store.memory import MemoryStore
from pyfilter.store.postgres import PostgresStore
from pyfilter.store.sqlite import SQLiteStore


def _setting(section, modules, name, check, default):
    value = section.get(name, default)
    try:
        return check(value)
    except ValueError as e:
        raise ConfigError(modules.where("ttldb", name)
                          + f": {e}, got {value!r}") from e


def storeFromConfig(modules, stateDir, reactor, clock=None):
    """
    The store the C{[ttldb]} section of C{modules} describes, not started.

    @raise ConfigError: an unknown type or a bad setting.
    """
    section = modules.section("ttldb")
    countInterval = _setting(section, modules, "count_interval",
                             _nonNegativeNumber, DEFAULT_COUNT_INTERVAL)
    store = _backend(section, modules, stateDir, reactor, clock or reactor)
    if countInterval:
        store.countInMemory(countInterval)
    return store


def _nonNegativeNumber(value):
    if number(value) < 0:
        raise ValueError("expected a non-negative number")
    return value


def _backend(section, modules, stateDir, reactor, clock):
    kind = _setting(section, modules, "type", string, "dbm")
    timeout = _setting(section, modules, "timeout", positiveNumber,
                       DEFAULT_TIMEOUT)
    purgeInterval = _setting(section, modules, "purge_interval",
                             positiveNumber, DEFAULT_PURGE_INTERVAL)
    if kind in ("dbm", "sqlite"):
        return SQLiteStore(stateDir, reactor, clock, timeout, purgeInterval)
    if kind == "memory":
        return MemoryStore(clock, timeout, purgeInterval)
    if kind in ("psycopg2", "pg"):
        settings = {}
        for option in ("host", "db", "user", "password"):
            if option in section:
                settings[option] = _setting(section, modules, option,
                                            string, None)
        if "port" in section:
            port = section["port"]
            try:
                settings["port"] = int(port)
            except (TypeError, ValueError):
                raise ConfigError(modules.where("ttldb", "port")
                                  + f": expected a port number, got {port!r}")
        poolSize = _setting(section, modules, "pool_size",
                            nonNegativeInteger, DEFAULT_POOL_SIZE)
        return PostgresStore(settings, reactor, clock, timeout, purgeInterval,
                             max(1, poolSize))
    raise ConfigError(modules.where("ttldb", "type")
                      + f": unknown store type {kind!r} (use 'dbm' for the "
                      f"embedded store or 'psycopg2' for PostgreSQL)")


def storeKey(context):
    """
    What names the store among the shared services: its settings.
    """
    return ("store", context.modules.fingerprint("ttldb"), context.stateDir)


def storeFor(context):
    """
    The daemon's one store: created from C{[ttldb]} and started on first
    use, closed when no generation of the chain uses it (a reload that
    leaves C{[ttldb]} unchanged keeps it).
    """
    def openStore():
        store = storeFromConfig(context.modules, context.stateDir,
                                context.reactor)
        store.observe = context.observeStore
        store.start()
        context.onStop(store.close)
        return store
    return context.shared(storeKey(context), openStore)
