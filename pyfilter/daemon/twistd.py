"""
C{twistd pyfilter}: the daemon's options and the service they build.
"""

import os
import sys

from pyfilter.config.arguments import ConfigOptions
from pyfilter.config.locations import controlSocketFor
from pyfilter.daemon.startup import isStartupPipe

#: Checked when twistd loads this module, before the reactor exists.
STARTUP_PIPE = isStartupPipe()


#: Seconds a thread may keep the GIL while another waits for it (Python's
#: default is 0.005).  The state store's thread needs the GIL back after
#: each SQLite statement; with the default it could wait 5 ms each time
#: behind a busy reactor thread (benchmarks/RESULTS.md has the figures).
SWITCH_INTERVAL = 0.0005


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
        ["metrics", None, None, "serve Prometheus metrics on this strports "
         "endpoint, e.g. tcp:9137:interface=127.0.0.1 [default: none]"],
        ["control", None, None, "control socket for `pyfilter reload` and "
         "`pyfilter status`, or '' for none [default: NAME.control in the "
         "parent of the filter socket's directory]"],
    ]
    optFlags = [
        ["selective", None, "listen in Courier's filters/ directory (mail "
         "recipients may opt out) instead of allfilters/"],
    ]


def makeService(options, reactor=None):
    # Imported here, not above: twistd imports this module to parse its
    # options, and nothing may install the reactor (whose epoll descriptor
    # could take number 3) before STARTUP_PIPE is known.
    from pyfilter.courier.paths import discover
    from pyfilter.daemon import logoutput
    from pyfilter.daemon.service import FilterService
    from pyfilter.engine import loader
    if reactor is None:
        from twisted.internet import reactor
    sys.setswitchinterval(SWITCH_INTERVAL)
    loader.extendModulePath(options["module-paths"])
    paths = discover().overriding(sysconfdir=options["courier-sysconf"])
    socketPath = options["socket"] or os.path.join(
        paths.filtersDir if options["selective"] else paths.allfiltersDir,
        "pyfilter")
    controlPath = options["control"]
    if controlPath is None:
        controlPath = controlSocketFor(socketPath)
    return FilterService(
        reactor, paths, socketPath, options["config"],
        options["modules-config"], options["state-dir"],
        options["courier-spool"] or paths.localstatedir,
        resolvers=tuple(options["resolvers"]),
        closeStartupPipe=STARTUP_PIPE, controlPath=controlPath or None,
        metricsEndpoint=options["metrics"],
        logOutput=logoutput.forTwistd(options))
