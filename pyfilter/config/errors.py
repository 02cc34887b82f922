"""
Configuration errors: what a mistake in the configuration raises, with the
file, section and option it was found in.
"""

import os
import stat


class ConfigError(Exception):
    """
    A configuration problem found at start-up; the message says where.
    """


def refuseWritableByOthers(path, f):
    """
    Refuse a configuration file that any user may change: whoever can write
    it decides what the daemon lets through.

    @param f: the open file.
    @raise ConfigError: it is writable by others.
    """
    if os.fstat(f.fileno()).st_mode & stat.S_IWOTH:
        raise ConfigError(f"{path}: writable by any user, refusing to use "
                          f"it (chmod o-w {path})")
