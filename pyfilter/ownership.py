"""
Files that root creates in a directory of the daemon's: an administrator
running C{pyfilter import-state} or C{pyfilter quarantine} as root must not
leave behind files that the daemon (Courier's mail user) cannot use.
"""

import os


def giveToDirectoryOwner(directory, names):
    """
    When running as root, give the files C{names} in C{directory} (those
    that exist) to the directory's owner and group.  Best effort: a file
    that cannot be given away is left as it is.
    """
    if os.geteuid() != 0:
        return
    try:
        owner = os.stat(directory)
    except OSError:
        return
    for name in names:
        try:
            os.chown(os.path.join(directory, name), owner.st_uid,
                     owner.st_gid)
        except OSError:
            pass
