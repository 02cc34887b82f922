"""
Reading a small file whole, with a bound, without reserving the bound.

C{f.read(limit + 1)} makes Python reserve C{limit + 1} bytes before it
reads (16 MB for a control file of a few hundred bytes: measured as a
tenth of the daemon's time per message); asking for what the file holds,
plus one, costs only that.  L{readPathAtMost} also leaves out the file
object (whose opening costs three more system calls: another C{fstat},
C{isatty}, C{lseek}, and a last C{read} to find the end).
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
