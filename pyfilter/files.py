"""
Small helpers for the files pyfilter reads and writes, shared by the Courier
support, the state store and the quarantine.

  - L{readAtMost}: read a small file whole, with a bound, without reserving
    the bound (C{f.read(limit + 1)} makes Python reserve C{limit + 1} bytes
    before it reads: 16 MB for a control file of a few hundred bytes);
    L{readPathAtMost} also leaves out the file object (whose opening costs
    three more system calls);
  - L{fsyncPath}: flush a file or a directory to disk by path;
  - L{giveToDirectoryOwner}: files that root creates in a directory of the
    daemon's (an administrator running C{pyfilter import-state} or
    C{pyfilter quarantine} as root) are given to the directory's owner, so
    that the daemon (Courier's mail user) can use them;
  - L{messageFiles}: the message files an admin names on a command line
    (files, Maildirs, directories).
"""

import os


def readAtMost(f, limit):
    """
    The bytes of the open binary file C{f}, up to C{limit} + 1 of them: a
    result longer than C{limit} means the file is too long.
    """
    size = os.fstat(f.fileno()).st_size
    data = f.read(min(size, limit) + 1)
    if size < len(data) <= limit:
        # It grew while being read.
        data += f.read(limit + 1 - len(data))
    return data


def readPathAtMost(path, limit):
    """
    The bytes of the file at C{path}, up to C{limit} + 1 of them (as
    L{readAtMost}), in four system calls: open, fstat, read, close.

    @raise OSError: it cannot be opened or read.
    """
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        size = os.fstat(fd).st_size
        data = os.read(fd, min(size, limit) + 1)
        while len(data) <= limit and len(data) != size:
            # It grew, or shrank, or the read was short: read to the end.
            more = os.read(fd, limit + 1 - len(data))
            if not more:
                break
            data += more
        return data
    finally:
        os.close(fd)


def fsyncPath(path):
    """
    Flush a file or directory (after a rename in it) to disk, by path.
    """
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


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


def messageFiles(paths):
    """
    The message files C{paths} name, in order: each path that is not a
    directory as it is (it may not exist: its reader reports that), the
    files of a Maildir's C{cur} and C{new}, the files of any other
    directory, each directory's by name (a directory that cannot be listed
    as it is, for its reader to report).
    """
    for path in paths:
        if not os.path.isdir(path):
            yield path
            continue
        folders = [os.path.join(path, sub) for sub in ("cur", "new")]
        if not any(os.path.isdir(folder) for folder in folders):
            folders = [path]
        for folder in folders:
            if os.path.isdir(folder):
                try:
                    names = sorted(os.listdir(folder))
                except OSError:
                    # Its reader reports it as it reports any unreadable
                    # file.
                    yield folder
                    continue
                for name in names:
                    full = os.path.join(folder, name)
                    if os.path.isfile(full):
                        yield full
