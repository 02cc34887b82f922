"""
A private Courier tree for the benchmark, so no daemon touches the system's.

Under the work directory:

  - C{sysconf/}: Courier's configuration as the filters read it: C{me},
    C{locals}, and the gdbm files C{smtpaccess.dat} and C{hosteddomains.dat}
    (Courier's format, written with C{dbm.gnu}); the reference's
    C{pythonfilter.conf} is written here per system;
  - C{shim-bin/courier-config}: a stand-in for Courier's C{courier-config},
    put first on C{PATH} for the reference, printing this tree's
    C{sysconfdir} and C{localstatedir};
  - C{allfilters/}: where the daemons create their sockets (the work
    directory itself is the C{localstatedir}).

None of the fixture IPs (203.0.113.45) is in C{smtpaccess.dat}.
"""

import os
import stat

ME = "mx.example.com"
LOCALS = ("localhost", "example.com")
HOSTED_DOMAINS = {"hosted.example": "1"}
SMTPACCESS = {
    "127.0.0.1": "allow,RELAYCLIENT",
    "192.168.0": "allow,RELAYCLIENT",
    "198.51.100.7": "allow,BLOCK",
}


class CourierRoot:
    """
    Paths of the private Courier tree rooted at C{workDir}.
    """

    def __init__(self, workDir):
        self.localstatedir = os.path.abspath(workDir)
        self.sysconfdir = os.path.join(self.localstatedir, "sysconf")
        self.shimBin = os.path.join(self.localstatedir, "shim-bin")
        self.socketDir = os.path.join(self.localstatedir, "allfilters")

    def socketPath(self, name):
        return os.path.join(self.socketDir, name)

    def build(self):
        """
        Write the configuration files and the C{courier-config} stand-in.
        """
        import dbm.gnu
        for directory in (self.sysconfdir, self.shimBin, self.socketDir):
            os.makedirs(directory, exist_ok=True)
        self._write("me", ME + "\n")
        self._write("locals", "".join(d + "\n" for d in LOCALS))
        for name, entries in (("smtpaccess.dat", SMTPACCESS),
                              ("hosteddomains.dat", HOSTED_DOMAINS)):
            path = os.path.join(self.sysconfdir, name)
            with dbm.gnu.open(path, "n") as db:
                for key, value in entries.items():
                    db[key.encode()] = value.encode()
        script = os.path.join(self.shimBin, "courier-config")
        with open(script, "w") as f:
            f.write("#!/bin/sh\n"
                    f"echo 'sysconfdir={self.sysconfdir}'\n"
                    f"echo 'localstatedir={self.localstatedir}'\n")
        os.chmod(script, stat.S_IRWXU | stat.S_IRGRP | stat.S_IXGRP
                 | stat.S_IROTH | stat.S_IXOTH)

    def writeReferenceChain(self, chainText):
        self._write("pythonfilter.conf", chainText)

    def _write(self, name, text):
        with open(os.path.join(self.sysconfdir, name), "w") as f:
            f.write(text)
