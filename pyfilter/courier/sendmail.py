"""
Submitting a message through Courier's own C{sendmail}, asynchronously.

The program is Courier's sendmail (L{CourierPaths.sendmailProgram}).  Addresses are
checked before they reach its command line (no leading C{-}, no spaces or
control characters), and the recipients follow C{-}, the end-of-options
marker of Courier's sendmail (it ignores C{--}: an argument after C{--}
that starts with C{-} would still be read as an option).  The exit status is
checked: anything but 0 fails the Deferred with L{SendmailError} carrying
sendmail's message.  Every submission has a timeout; cancelling the
Deferred kills the child.

Courier's sendmail runs the global filters on what it submits (when
C{enablefiltering} lists C{local}), so this daemon sees such messages as
new local mail; the submission never blocks the daemon while it does.
"""

from twisted.internet import defer, error, protocol
from twisted.logger import Logger

#: Seconds a submission may take.
DEFAULT_TIMEOUT = 60

#: Bytes of sendmail's output kept for the error message.
_OUTPUT_LIMIT = 4096


class SendmailError(Exception):
    """
    Courier's sendmail failed, timed out, or could not be started.
    """


def checkAddress(address):
    """
    Return C{address} if it can be given to sendmail as an argument.

    @raise ValueError: it is empty, starts with C{-}, or contains
        whitespace or control characters.
    """
    if (not address or address.startswith("-")
            or any(c.isspace() or ord(c) < 0x20 or ord(c) == 0x7F
                   for c in address)):
        raise ValueError(f"unusable mail address {address!r}")
    return address


def sendmailArguments(program, recipients, sender=None):
    """
    The argument list for submitting to C{recipients}: C{-f sender} only
    when C{sender} is given and not empty, as the reference does.
    """
    arguments = [program]
    if sender:
        arguments += ["-f", checkAddress(sender)]
    return arguments + ["-"] + [checkAddress(r) for r in recipients]


class _Submission(protocol.ProcessProtocol):
    def __init__(self, message, done):
        self.message = message
        self.done = done
        self.ended = defer.Deferred()
        self.output = b""

    def connectionMade(self):
        self.transport.write(self.message)
        self.transport.closeStdin()

    def outReceived(self, data):
        self.output = (self.output + data)[:_OUTPUT_LIMIT]

    errReceived = outReceived

    def processEnded(self, reason):
        self.ended.callback(None)
        if self.done.called:
            return
        if reason.check(error.ProcessDone):
            self.done.callback(None)
            return
        text = self.output.decode("utf-8", "replace").strip()
        self.done.errback(SendmailError(
            f"sendmail failed ({reason.value}): {text or 'no message'}"))


class Sendmail:
    """
    Courier's sendmail, the program at C{program}.
    """

    log = Logger()

    def __init__(self, reactor, program, timeout=DEFAULT_TIMEOUT):
        self.reactor = reactor
        self.program = program
        self.timeout = timeout
        self._running = set()

    def idle(self):
        """
        A Deferred firing once every sendmail started so far has exited
        (killed ones included).
        """
        return defer.DeferredList([defer.succeed(None)] + [
            ended for ended in self._running])

    def send(self, recipients, message, sender=None):
        """
        Submit C{message} (bytes) to C{recipients}.

        @return: a Deferred firing with C{None} once sendmail exited with
            status 0.
        @raise ValueError: an address is unusable (nothing is started).
        """
        arguments = sendmailArguments(self.program, recipients, sender)
        process = None

        def cancel(_):
            if process is not None:
                try:
                    process.signalProcess("KILL")
                except error.ProcessExitedAlready:
                    pass

        done = defer.Deferred(cancel)
        submission = _Submission(message, done)
        try:
            process = self.reactor.spawnProcess(
                submission, self.program, arguments,
                env={"PATH": "/usr/bin:/bin"})
        except OSError as e:
            return defer.fail(SendmailError(f"cannot run {self.program}: "
                                            f"{e}"))
        self._running.add(submission.ended)
        submission.ended.addBoth(self._ended, submission.ended)
        return done.addTimeout(self.timeout, self.reactor)

    def _ended(self, result, ended):
        self._running.discard(ended)
        return result
