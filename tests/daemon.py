"""
Running the real daemon as a process, the way courierfilter does: stdin and
fd 3 are pipes, readiness is fd 3 reaching EOF, shutdown is closing stdin.
"""

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

from tests.helpers import askSocket, samplePaths

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

#: twistd run by the interpreter running the tests.
TWISTD = [sys.executable, "-c",
          "import sys; from twisted.scripts.twistd import run; run()"]


def _waitReadable(fd, timeout):
    import select
    ready, _, _ = select.select([fd], [], [], timeout)
    return bool(ready)


class Daemon:
    """
    A pyfilter daemon in a temporary spool.

    @ivar spool: the directory given as C{--courier-spool}; messages are
        copied into its C{tmp/}.
    """

    def __init__(self, chain="", modules=None, extraArgs=(), directory=None,
                 spool=None, stateDir=None, pythonPath=()):
        self.directory = directory or tempfile.mkdtemp(prefix="pyfilter-")
        self.spool = spool or os.path.join(self.directory, "spool")
        self.stateDir = stateDir or os.path.join(self.directory, "state")
        for path in (os.path.join(self.spool, "tmp"),
                     os.path.join(self.spool, "allfilters"),
                     os.path.join(self.spool, "filters"), self.stateDir):
            os.makedirs(path, exist_ok=True)
        self.socketPath = os.path.join(self.spool, "allfilters", "pyfilter")
        self.chainPath = os.path.join(self.directory, "pyfilter.conf")
        self.modulesPath = os.path.join(self.directory, "modules.conf")
        self.logPath = os.path.join(self.directory, "pyfilter.log")
        with open(self.chainPath, "w") as f:
            f.write(chain)
        if modules is not None:
            with open(self.modulesPath, "w") as f:
                f.write(modules)
        self.extraArgs = list(extraArgs)
        self.pythonPath = [ROOT] + list(pythonPath)
        self.process = None

    def start(self, timeout=20, startupPipe=True):
        """
        Start the daemon and wait until it closes fd 3 (or, without a
        start-up pipe, until its socket answers).

        @return: the seconds from exec to ready.
        """
        readyRead, readyWrite = os.pipe()
        stdinRead, self.stdinWrite = os.pipe()

        def becomeFilter():
            # Only fd 3 (inheritable after dup2) survives exec: the pipe
            # ends made by os.pipe() are close-on-exec.
            if startupPipe:
                os.dup2(readyWrite, 3)

        env = dict(os.environ, PYTHONPATH=os.pathsep.join(self.pythonPath))
        started = time.monotonic()
        # twistd logs to standard output, as courier-install runs it.
        logFile = open(self.logPath, "ab")
        self.process = subprocess.Popen(
            TWISTD + ["-n",
             "--pidfile=", "--logfile=-", "pyfilter",
             "--config", self.chainPath, "--modules-config", self.modulesPath,
             "--courier-sysconf", self.directory, "--socket", self.socketPath,
             "--state-dir", self.stateDir, "--courier-spool", self.spool]
            + self.extraArgs,
            stdin=stdinRead, stdout=logFile, stderr=subprocess.PIPE,
            close_fds=False, preexec_fn=becomeFilter, cwd=self.directory,
            env=env)
        logFile.close()
        os.close(stdinRead)
        os.close(readyWrite)
        if not startupPipe:
            os.close(readyRead)
            self._waitForSocket(timeout)
            return time.monotonic() - started
        try:
            if not _waitReadable(readyRead, timeout):
                self.kill()
                raise RuntimeError(f"daemon not ready in {timeout}s:\n"
                                   + self.log())
            if os.read(readyRead, 1) != b"":
                raise RuntimeError("unexpected data on fd 3")
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"daemon exited with {self.process.returncode}:\n"
                    + self.process.stderr.read().decode(errors="replace")
                    + self.log())
        finally:
            os.close(readyRead)
        return time.monotonic() - started

    def _waitForSocket(self, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("daemon exited:\n" + self.log())
            try:
                with socket.socket(socket.AF_UNIX) as s:
                    s.connect(self.socketPath)
                return
            except OSError:
                time.sleep(0.02)
        self.kill()
        raise RuntimeError(f"socket not ready in {timeout}s:\n" + self.log())

    def copyMessage(self, sample):
        """
        Copy a fixture into the spool; return its data and control paths.
        """
        dataPath, controlPaths = samplePaths(sample)
        target = tempfile.mkdtemp(dir=os.path.join(self.spool, "tmp"))
        copied = []
        for path in [dataPath] + controlPaths:
            shutil.copy(path, target)
            copied.append(os.path.join(target, os.path.basename(path)))
        return copied[0], copied[1:]

    def send(self, raw, timeout=30):
        """
        Write C{raw} request bytes; return the reply bytes read to EOF.
        """
        return askSocket(self.socketPath, raw, timeout)

    def request(self, dataPath, controlPaths, timeout=30):
        lines = [dataPath] + list(controlPaths)
        return self.send("".join(p + "\n" for p in lines).encode() + b"\n",
                         timeout)

    def stop(self, timeout=30):
        """
        Close stdin as courierfilter does; return the exit status.
        """
        os.close(self.stdinWrite)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise

    def kill(self):
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    def log(self):
        try:
            with open(self.logPath) as f:
                return f.read()
        except OSError:
            return ""

    def cleanup(self):
        self.kill()
        shutil.rmtree(self.directory, ignore_errors=True)
