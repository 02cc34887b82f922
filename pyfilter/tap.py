"""
C{twistd pyfilter}: options and service construction.
"""

import os
import stat
import sys

from twisted.python import usage

from pyfilter.service import isStartupPipe

#: Checked when twistd loads this module, before the reactor exists.
STARTUP_PIPE = isStartupPipe()

#: Where the chain file and the modules file are looked for: pyfilter's own,
#: else the reference's, so that a reference installation keeps working.
CHAIN_CONFIGS = ("/etc/pyfilter.conf", "/etc/pythonfilter.conf")
MODULES_CONFIGS = ("/etc/pyfilter-modules.conf",
                   "/etc/pythonfilter-modules.conf")


def firstExisting(candidates):
    for path in candidates:
        if os.path.exists(path):
            return path
    return candidates[0]


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


#: Seconds a thread may keep the GIL while another waits for it (Python's
#: default is 0.005).  The state store's thread needs the GIL back after
#: each SQLite statement; with the default it could wait 5 ms each time
#: behind a busy reactor thread (measured: the embedded store's filters ran
#: 40-60 % faster at 64 concurrent messages with 0.0005).
SWITCH_INTERVAL = 0.0005


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
        ["state-dir", None, "/var/lib/pyfilter", "directory for state"],
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


class Options(ConfigOptions):
    synopsis = "[options]"
    longdesc = ("Run pyfilter as a Courier global filter (courierfilter). "
                "Normally started by Courier's courierfilter; see "
                "`pyfilter courier-install`.")
    optParameters = [
        ["socket", None, None, "socket path [default: "
         "<localstatedir>/allfilters/pyfilter]"],
        ["courier-spool", None, None, "requests may only name files under "
         "this directory [default: Courier's localstatedir]"],
    ]
    optFlags = [
        ["selective", None, "listen in Courier's filters/ directory (mail "
         "recipients may opt out) instead of allfilters/"],
    ]


def makeService(options, reactor=None):
    from pyfilter import loader
    from pyfilter.courierpaths import discover
    from pyfilter.service import FilterService
    if reactor is None:
        from twisted.internet import reactor
    sys.setswitchinterval(SWITCH_INTERVAL)
    loader.extendModulePath(options["module-paths"])
    paths = discover().overriding(sysconfdir=options["courier-sysconf"])
    socketPath = options["socket"] or os.path.join(
        paths.filtersDir if options["selective"] else paths.allfiltersDir,
        "pyfilter")
    return FilterService(
        reactor, paths, socketPath, options["config"],
        options["modules-config"], options["state-dir"],
        options["courier-spool"] or paths.localstatedir,
        resolvers=tuple(options["resolvers"]),
        closeStartupPipe=STARTUP_PIPE)
