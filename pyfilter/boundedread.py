"""
Reading a small file whole, with a bound, without reserving the bound.

C{f.read(limit + 1)} makes Python reserve C{limit + 1} bytes before it
reads (16 MB for a control file of a few hundred bytes: measured as a
tenth of the daemon's time per message); asking for what the file holds,
plus one, costs only that.
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
