"""
Where pyfilter's configuration files are looked for by default: pyfilter's
own names first, else the reference's, so that a reference installation
keeps working unchanged.
"""

import os

#: The daemon's state directory (the embedded store, the quarantine).
STATE_DIR = "/var/lib/pyfilter"

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


def controlSocketFor(filterSocket):
    """
    The default control socket of the daemon listening on C{filterSocket}:
    C{NAME.control} in the parent of Courier's filter directory (Courier's
    localstatedir), where Courier's mail user may create it and only that
    user and group may reach it.
    """
    directory, name = os.path.split(filterSocket)
    return os.path.join(os.path.dirname(directory), name + ".control")
