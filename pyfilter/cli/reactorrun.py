"""
Running a command's work on the reactor until it is done, and giving its
exit status back to C{main()}: the part every asynchronous C{pyfilter}
command shares.
"""

from twisted.internet import defer, task


def runOnReactor(work, failed=1, reactor=None):
    """
    Call C{work(reactor)} (a Deferred, or a plain value, of the exit
    status), run the reactor until it is done, stop it.

    @param failed: the status when C{work} fails without one (its failure
        is reported by Twisted on the standard error).
    @param reactor: the reactor (tests give a fake one), else Twisted's.
    @return: the exit status.
    """
    outcome = []

    def react(reactor):
        d = defer.maybeDeferred(work, reactor)
        return d.addCallback(outcome.append)

    try:
        task.react(react, _reactor=reactor)
    except SystemExit:
        pass
    return outcome[0] if outcome else failed
