"""
The services filters share (DNS resolver, state store, service clients,
the thread pool), kept across configuration reloads.

A service is named by a key holding every setting it is made from, such
as C{("clamd", address)}.  Each L{pyfilter.engine.context.Context} (one per
chain generation) asks for the services it needs; a reload's new context
asking for a key the running one holds gets the same object, so a store
connection or resolver cache whose settings did not change lives on.  A
service is released (its closers called) when the last context using it
closes: after the last message of the generation that used it.
"""

from twisted.internet import defer

#: The user of a service kept until the daemon stops (L{Resources.keep}).
_PROCESS = "the process"


class _Held:
    """
    One service: the object, its closers, and the contexts using it.
    """

    def __init__(self):
        self.value = None
        self.closers = []
        self.users = set()


class Resources:
    """
    The daemon's register of shared services.

    @ivar held: L{_Held} by key.
    """

    def __init__(self):
        self.held = {}
        self._creating = []

    def acquire(self, key, create, user):
        """
        The service named C{key} for C{user}: made by C{create()} if no
        context holds it yet.  Closers registered (L{collect}) while
        C{create()} runs belong to the service.
        """
        held = self.held.get(key)
        if held is None:
            held = _Held()
            self._creating.append(held)
            try:
                held.value = create()
            finally:
                self._creating.pop()
            self.held[key] = held
        held.users.add(user)
        return held.value

    def collect(self, closer):
        """
        Keep C{closer} for the service being created.

        @return: C{False} when no service is being created.
        """
        if not self._creating:
            return False
        self._creating[-1].closers.append(closer)
        return True

    def keep(self, key):
        """
        Keep the service named C{key} until L{closeAll}, whatever the
        generations: for holders that live as long as the process (a
        legacy module's TtlDb, made when it was first imported).
        """
        self.held[key].users.add(_PROCESS)

    def closeAll(self):
        """
        Close every service still held (the daemon stops).
        """
        for held in self.held.values():
            held.users.clear()
        return self.release(_PROCESS)

    def release(self, user):
        """
        C{user} no longer needs its services: close those nobody else uses,
        the most recently made first.

        @return: a Deferred firing when they are closed.
        """
        closers = []
        for key, held in list(self.held.items()):
            held.users.discard(user)
            if not held.users:
                del self.held[key]
                closers.extend(held.closers)
        return defer.DeferredList(
            [defer.maybeDeferred(closer) for closer in reversed(closers)],
            consumeErrors=True)
