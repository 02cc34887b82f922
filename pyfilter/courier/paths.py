"""
Courier's directories and mail user, as C{courier-config} reports them.

Read once at start-up (never at import time); Debian's layout is the
fallback when C{courier-config} is not on the PATH or fails.

Courier's C{sendmail} is where C{--enable-sendmail} put it (Debian:
C{/usr/sbin/sendmail}), else in C{bindir}, Courier's own default.
"""

import os
import re
import subprocess
from dataclasses import dataclass, replace

DEBIAN = {
    "sysconfdir": "/etc/courier",
    "localstatedir": "/var/lib/courier",
    "bindir": "/usr/bin",
    "sbindir": "/usr/sbin",
    "libexecdir": "/usr/lib/courier",
    "mailuser": "courier",
    "mailgroup": "courier",
    "piddir": "/run/courier",
    "sendmail": "/usr/sbin/sendmail",
}

_CONFIGURE_PATHS = {"piddir": re.compile(r"--with-piddir=([^'\"\s]+)"),
                    "sendmail": re.compile(r"--enable-sendmail=([^'\"\s]+)")}


@dataclass(frozen=True)
class CourierPaths:
    sysconfdir: str
    localstatedir: str
    bindir: str
    sbindir: str
    libexecdir: str
    mailuser: str
    mailgroup: str
    piddir: str = DEBIAN["piddir"]
    sendmail: str = ""
    source: str = "defaults"

    @property
    def spoolTmp(self):
        """
        Where Courier keeps messages being received; relative request paths
        are resolved against it.
        """
        return os.path.join(self.localstatedir, "tmp")

    @property
    def allfiltersDir(self):
        return os.path.join(self.localstatedir, "allfilters")

    @property
    def filtersDir(self):
        return os.path.join(self.localstatedir, "filters")

    @property
    def sendmailProgram(self):
        return self.sendmail or os.path.join(self.bindir, "sendmail")

    @property
    def filterProgramsDir(self):
        return os.path.join(self.libexecdir, "filters")

    def overriding(self, **values):
        return replace(self, **{k: v for k, v in values.items() if v})


def parseCourierConfig(text):
    """
    Parse C{courier-config}'s C{name=value} lines into a dictionary; the pid
    file directory and sendmail come from C{--with-piddir} and
    C{--enable-sendmail} in C{configure_args}.
    """
    values = {}
    for line in text.splitlines():
        name, sep, value = line.partition("=")
        name = name.strip()
        if sep and name == "configure_args":
            for key, pattern in _CONFIGURE_PATHS.items():
                found = pattern.search(value)
                if found:
                    values[key] = found.group(1)
        elif sep and name in DEBIAN:
            values[name] = value.strip()
    return values


def discover(program="courier-config", timeout=10):
    """
    Run C{courier-config} and return the L{CourierPaths} it reports, with
    Debian's values for anything it does not say.
    """
    values = dict(DEBIAN)
    source = "defaults"
    try:
        result = subprocess.run([program], capture_output=True, text=True,
                                timeout=timeout, check=False)
    except (OSError, subprocess.SubprocessError):
        result = None
    if result is not None and result.returncode == 0:
        values["sendmail"] = ""
        values.update(parseCourierConfig(result.stdout))
        source = program
    return CourierPaths(source=source, **values)
