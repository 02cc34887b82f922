"""
The servers a benchmark compares, each started like courierfilter does.

  - L{BareTwisted}: the upper bound (C{bare_twisted.py}, in pyfilter's venv
    so it runs on the same interpreter and Twisted);
  - L{Reference}: courier-pythonfilter 3.0.6 from PyPI in its own venv made
    with Debian's C{/usr/bin/python3}, with a stand-in C{courier-config};
  - L{Pyfilter}: C{twistd -n pyfilter} from a normal (not editable) install
    of this repository into a venv made with C{/usr/bin/python3}.

A server's C{unavailable(system)} says why it cannot run a system (a filter
that does not exist yet), or returns None; C{start(system)} returns a
running L{daemon.Daemon} with C{socketPath} set.
"""

import os
import shutil
import subprocess
import tempfile

from benchmarks.daemon import Daemon

BENCHMARKS = os.path.dirname(os.path.abspath(__file__))
REPOSITORY = os.path.dirname(BENCHMARKS)
SYSTEM_PYTHON = "/usr/bin/python3"
REFERENCE_PACKAGE = "courier-pythonfilter==3.0.6"
#: What the reference's filters import: the PostgreSQL TtlDb, clamav,
#: dialback and spfcheck.
REFERENCE_EXTRAS = {"psycopg2": "psycopg2-binary", "pyclamd": "pyclamd",
                    "DNS": "py3dns", "spf": "pyspf"}
_SYSTEM_PATH = "/usr/local/bin:/usr/bin:/bin"


def sitePackages(venv):
    return subprocess.run(
        [os.path.join(venv, "bin", "python"), "-c",
         "import sysconfig; print(sysconfig.get_path('purelib'))"],
        check=True, capture_output=True, text=True).stdout.strip()


def interpreterVersion(venv):
    return subprocess.run(
        [os.path.join(venv, "bin", "python"), "-c",
         "import sys; print(sys.version.split()[0], sys.executable)"],
        check=True, capture_output=True, text=True).stdout.strip()


def chainNames(chainText):
    return [line.split()[0] for line in chainText.splitlines()
            if line.split() and not line.split()[0].startswith("#")]


def makeVenv(venv):
    if not os.path.exists(os.path.join(venv, "bin", "python")):
        subprocess.run([SYSTEM_PYTHON, "-m", "venv", venv], check=True)


class _Server:
    name = None

    def __init__(self, root, logDir):
        self.root = root
        self.logDir = logDir

    def unavailable(self, system):
        return None

    def logPath(self):
        return os.path.join(self.logDir, f"{self.name}.log")

    def _spawn(self, argv, socketName, env=None):
        socketPath = self.root.socketPath(socketName)
        daemon = Daemon(argv, env or {"PATH": _SYSTEM_PATH,
                                      "LANG": "C.UTF-8"}, self.logPath())
        daemon.socketPath = socketPath
        return daemon


class BareTwisted(_Server):
    name = "bare Twisted"

    def __init__(self, root, logDir, venv):
        super().__init__(root, logDir)
        self.venv = venv

    def logPath(self):
        return os.path.join(self.logDir, "bare-twisted.log")

    def start(self, system):
        return self._spawn(
            [os.path.join(self.venv, "bin", "python"),
             os.path.join(BENCHMARKS, "bare_twisted.py"),
             self.root.socketPath("bare-twisted")], "bare-twisted")


class Reference(_Server):
    name = "reference"

    def __init__(self, root, logDir, venv):
        super().__init__(root, logDir)
        self.venv = venv
        self.modulesPath = os.path.join(root.sysconfdir,
                                        "pythonfilter-modules.conf")

    def install(self):
        """
        Make the venv and install the reference unless already there.
        """
        for stray in ("/etc/pythonfilter.conf",
                      "/usr/local/etc/pythonfilter.conf"):
            if os.path.exists(stray):
                raise SystemExit(f"{stray} exists: the reference would read "
                                 f"it instead of the benchmark's chain")
        makeVenv(self.venv)
        if not os.path.exists(os.path.join(self.venv, "bin", "pythonfilter")):
            subprocess.run([os.path.join(self.venv, "bin", "pip"), "install",
                            "--quiet", "--use-pep517", REFERENCE_PACKAGE],
                           check=True)
        python = os.path.join(self.venv, "bin", "python")
        missing = [package for module, package in REFERENCE_EXTRAS.items()
                   if subprocess.run([python, "-c", f"import {module}"],
                                     capture_output=True).returncode]
        if missing:
            subprocess.run([os.path.join(self.venv, "bin", "pip"), "install",
                            "--quiet", *missing], check=True)

    def unavailable(self, system):
        missing = [name for name in chainNames(system.chain)
                   if not os.path.exists(os.path.join(
                       sitePackages(self.venv), "pythonfilter", name + ".py"))]
        return f"no filter {', '.join(missing)}" if missing else None

    def start(self, system):
        self.root.writeReferenceChain(system.chain)
        with open(self.modulesPath, "w") as f:
            f.write(system.modules)
        env = {"PATH": f"{self.root.shimBin}:{self.venv}/bin:{_SYSTEM_PATH}",
               "LANG": "C.UTF-8"}
        return self._spawn(
            [os.path.join(self.venv, "bin", "python"),
             os.path.join(BENCHMARKS, "reference_launcher.py"),
             self.modulesPath, os.path.join(self.venv, "bin", "pythonfilter")],
            "pythonfilter", env)


class Pyfilter(_Server):
    name = "pyfilter"

    def __init__(self, root, logDir, venv):
        super().__init__(root, logDir)
        self.venv = venv
        self.confDir = os.path.join(root.localstatedir, "pyfilter-conf")
        self.stateDir = os.path.join(root.localstatedir, "pyfilter-state")

    def install(self):
        """
        Make the venv and install this repository into it (a normal
        install, from a copy of the tree so no build files land in it).
        """
        makeVenv(self.venv)
        pip = os.path.join(self.venv, "bin", "pip")
        with tempfile.TemporaryDirectory() as scratch:
            source = os.path.join(scratch, "pyfilter")
            shutil.copytree(REPOSITORY, source, ignore=shutil.ignore_patterns(
                ".git", "work", "_trial_temp*", "__pycache__", "*.pyc",
                "build", "dist", "*.egg-info", "dropin.cache"))
            readme = os.path.join(source, "README.md")
            if not os.path.exists(readme):
                print("warning: the tree has no README.md (setup.py reads "
                      "it); building with an empty one")
                open(readme, "w").close()
            subprocess.run([pip, "install", "--quiet", "--use-pep517", source],
                           check=True)
            subprocess.run([pip, "install", "--quiet", "--use-pep517", "--no-deps",
                            "--force-reinstall", source], check=True)

    def unavailable(self, system):
        filters = os.path.join(sitePackages(self.venv), "filters")
        missing = [name for name in chainNames(system.chain)
                   if not os.path.exists(os.path.join(filters, name + ".py"))]
        return f"no filter {', '.join(missing)}" if missing else None

    def start(self, system):
        os.makedirs(self.confDir, exist_ok=True)
        shutil.rmtree(self.stateDir, ignore_errors=True)
        os.makedirs(self.stateDir)
        chain = os.path.join(self.confDir, "pyfilter.conf")
        modules = os.path.join(self.confDir, "pyfilter-modules.conf")
        for path, text in ((chain, system.chain), (modules, system.modules)):
            with open(path, "w") as f:
                f.write(text)
        socketPath = self.root.socketPath("pyfilter")
        if os.path.exists(socketPath):
            os.unlink(socketPath)
        # twistd logs to standard output, as courier-install runs it
        # (courierfilter's pipe to courierlogger; here the log file).
        return self._spawn(
            [os.path.join(self.venv, "bin", "twistd"), "-n", "--pidfile=",
             "--logfile=-", "pyfilter",
             "--config", chain, "--modules-config", modules,
             "--courier-sysconf", self.root.sysconfdir,
             "--socket", self.root.socketPath("pyfilter"),
             "--state-dir", self.stateDir,
             "--courier-spool", self.root.localstatedir,
             *system.pyfilterArgs], "pyfilter")
