"""
The daemon's log on standard output, as C{pyfilter courier-install} runs
it (C{twistd --logfile=-}: courierfilter hands standard output to
courierlogger, which sends it to syslog).

The lines are twistd's own (C{TIMESTAMP [SYSTEM] TEXT}, as
L{twisted.logger.textFileLogObserver} writes them), made cheaper for the
one line written for every message: the timestamp is formatted once a
second rather than for each line, and the decision line is written
straight to the output (L{LogOutput.writeLine}) instead of going through
the log publisher and its formatting, which cost more than the rest of
the daemon's work on a message.  Other destinations (C{--syslog}, a
C{--logfile} path, C{--logger}) keep twistd's own observer.
"""

import sys
import time

from twisted.logger import ILogObserver, formatEventAsClassicLogText
from twisted.logger import formatTime as twistedFormatTime
from zope.interface import implementer


def forTwistd(options, stdout=None):
    """
    The L{LogOutput} for a daemon started by twistd with C{options} (the
    C{pyfilter} subcommand's options, whose C{parent} are twistd's), or
    C{None} when twistd does not log to standard output.
    """
    twistd = getattr(options, "parent", None)
    if twistd is None or twistd.get("logger") or twistd.get("syslog"):
        return None
    logfile = twistd.get("logfile")
    if logfile == "-" or (not logfile and twistd.get("nodaemon")):
        return LogOutput(stdout or sys.stdout)
    return None


@implementer(ILogObserver)
class LogOutput:
    """
    A log observer writing twistd's text lines to C{outFile}, and the
    direct path for lines written for every message.
    """

    def __init__(self, outFile, clock=time.time):
        self.outFile = outFile
        self.clock = clock
        self._second = None
        self._stamp = ""

    def formatTime(self, when):
        """
        Twistd's timestamp for C{when}, formatted once per second.
        """
        if when is None:
            return "-"
        second = int(when)
        if second != self._second:
            self._second, self._stamp = second, twistedFormatTime(second)
        return self._stamp

    def __call__(self, event):
        text = formatEventAsClassicLogText(event, formatTime=self.formatTime)
        if text:
            self._write(text)

    def writeLine(self, system, text):
        """
        Write one line of C{text} from C{system} (as a log event from a
        L{twisted.logger.Logger} with that namespace and level would show
        it: C{namespace#level}), stamped now.
        """
        self._write(f"{self.formatTime(self.clock())} [{system}] {text}\n")

    def _write(self, text):
        self.outFile.write(text)
        self.outFile.flush()
