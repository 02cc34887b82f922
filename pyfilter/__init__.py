"""
pyfilter: an asynchronous mail policy daemon for the Courier MTA.

What a filter of your own needs (see docs/writing-filters.md):

    from pyfilter import Filter, Option, Reply, positiveNumber

The package is laid out by concern:

  - C{pyfilter.engine}: filters, options, replies, the message, the chain,
    the loader, the context and the thread pool;
  - C{pyfilter.bases}: bases for kinds of filters (DNS lists, Courier's
    SMTP access table, authdaemond, SPF);
  - C{pyfilter.daemon}: C{twistd pyfilter}, courierfilter's socket and
    pipes, the request framing and the request step;
  - C{pyfilter.config}: where the configuration is, the chain file, the
    modules file, safe literals, configuration errors;
  - C{pyfilter.courier}: Courier's paths, configuration files, spool,
    control files (reading and editing), MIME structure, rewriting,
    sendmail;
  - C{pyfilter.clients}: the services filters talk to (DNS, SPF, clamd,
    spamd, authdaemond, LDAP, SMTP call-outs, rspamd), on one client base;
  - C{pyfilter.store}: state with a time to live (SQLite, PostgreSQL);
  - C{pyfilter.quarantine}: holding messages, and releasing them by mail;
  - C{pyfilter.legacy}: modules written for courier-pythonfilter, its
    C{courier.*} and C{pythonfilter.*} modules, importing its state;
  - C{pyfilter.cli}: the C{pyfilter} command;
  - C{pyfilter.testing}: testing filters without a daemon.

The names below are imported when first used, so that a command such as
C{pyfilter quarantine} loads only the modules it needs.
"""

import importlib

_HOMES = {
    "pyfilter.engine.filter": ["Filter", "gather"],
    "pyfilter.engine.options": [
        "Option", "address", "boolean", "mapping", "nonNegativeInteger",
        "number", "onError", "oneOf", "optional", "port", "positiveInteger",
        "positiveNumber", "prefixLength", "regex", "reply", "string",
        "stringList"],
    "pyfilter.engine.reply": ["Reply", "OK", "CONTINUE"],
    "pyfilter.engine.message": ["Message"],
    "pyfilter.config.errors": ["ConfigError"],
    "pyfilter.outage": ["Unavailable"],
}

_WHERE = {name: module for module, names in _HOMES.items() for name in names}

__all__ = sorted(_WHERE)


def __getattr__(name):
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'pyfilter' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
