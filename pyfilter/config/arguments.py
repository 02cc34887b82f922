"""
The command-line options that say which configuration to run, shared by the
daemon (C{twistd pyfilter}) and C{pyfilter check}.
"""

import os
import stat

from twisted.python import usage

from pyfilter.config.locations import (
    CHAIN_CONFIGS, MODULES_CONFIGS, STATE_DIR, firstExisting)


def parseResolver(value):
    """
    Check a C{HOST:PORT} (or C{[v6]:PORT}, or C{HOST} for port 53) value.
    """
    host, sep, port = value.rpartition(":")
    if not sep or (":" in host and not host.startswith("[")):
        host, port = value, "53"
    host = host.strip("[]")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise usage.UsageError(f"--resolver wants HOST:PORT, got {value!r}")
    return f"{host}:{port}"


def checkModuleDirectory(value):
    """
    The absolute path of a C{--module-path} directory.

    @raise usage.UsageError: it is not a directory, or any user may write
        into it (and so choose the code the daemon runs).
    """
    try:
        mode = os.stat(value).st_mode
    except OSError as e:
        raise usage.UsageError(f"--module-path {value}: {e.strerror}") from e
    if not stat.S_ISDIR(mode):
        raise usage.UsageError(f"--module-path {value}: not a directory")
    if mode & stat.S_IWOTH:
        raise usage.UsageError(f"--module-path {value}: writable by any "
                               f"user, refusing to run code from it")
    return os.path.abspath(value)


class ConfigOptions(usage.Options):
    """
    The options that say which configuration to run: shared by the daemon
    and C{pyfilter check}.
    """

    optParameters = [
        ["config", None, None, "chain file (pythonfilter.conf format) "
         "[default: /etc/pyfilter.conf, else /etc/pythonfilter.conf]"],
        ["modules-config", None, None, "filter settings (pythonfilter-"
         "modules.conf format) [default: /etc/pyfilter-modules.conf, else "
         "/etc/pythonfilter-modules.conf]"],
        ["courier-sysconf", None, None, "Courier's configuration directory "
         "[default: from courier-config, else /etc/courier]"],
        ["state-dir", None, STATE_DIR, "directory for state"],
    ]

    def __init__(self):
        super().__init__()
        self["resolvers"] = []
        self["module-paths"] = []

    def opt_resolver(self, value):
        """
        DNS server HOST:PORT to use instead of /etc/resolv.conf (repeatable)
        """
        self["resolvers"].append(parseResolver(value))

    def opt_module_path(self, value):
        """
        directory of more filter modules, searched after pyfilter's own
        filters and the pythonfilter package (repeatable)
        """
        self["module-paths"].append(checkModuleDirectory(value))

    def postOptions(self):
        if self["config"] is None:
            self["config"] = firstExisting(CHAIN_CONFIGS)
        if self["modules-config"] is None:
            self["modules-config"] = firstExisting(MODULES_CONFIGS)
