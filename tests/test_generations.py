"""
Chain generations and the services they share: the swap, in-flight
messages finishing on the old chain, its release after the last of them,
and shared services kept across a reload where their settings did not
change.
"""

from twisted.internet import defer
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from pyfilter.config.modulesfile import ModulesConfig
from pyfilter.courier.spool import Spool
from pyfilter.daemon.generations import Generations
from pyfilter.daemon.requests import RequestHandler
from pyfilter.engine.context import Context
from pyfilter.engine.reply import Reply
from pyfilter.engine.resources import Resources
from pyfilter.store import storeFor
from pyfilter.store.memory import MemoryStore
from pyfilter.store.opening import storeKey
from tests.helpers import makeContext

ACCEPT = Reply("200", "Ok")
REJECT = Reply("550", "No")


class HeldChain:
    """
    A chain whose answers the test gives: each message waits in C{held}.
    """

    entries = ()

    def __init__(self):
        self.held = []

    def decide(self, message, *args):
        d = defer.Deferred()
        self.held.append(d)
        return d


class Closing:
    """
    A context stand-in counting its closes.
    """

    threads = None

    def __init__(self):
        self.closed = 0

    def close(self):
        self.closed += 1
        return defer.succeed(None)


class GenerationsTests(SynchronousTestCase):
    def setUp(self):
        spool = self.mktemp()
        self.handler = RequestHandler(Spool(spool, spool + "/tmp"))
        self.generations = Generations(self.handler)

    def decide(self):
        return self.handler.chain.decide(object())

    def test_numberedFromOne(self):
        """The first chain is generation 1, each swap one more; the
        handler serves the latest."""
        first = self.generations.install(HeldChain(), Closing())
        second = self.generations.install(HeldChain(), Closing())
        self.assertEqual((first.number, second.number), (1, 2))
        self.assertIs(self.handler.chain, second)

    def test_inFlightFinishOnOldChain(self):
        """A message decided before the swap is answered by the old chain;
        the old context is closed only after its last message."""
        oldChain, oldContext = HeldChain(), Closing()
        old = self.generations.install(oldChain, oldContext)
        pending = self.decide()
        self.generations.install(HeldChain(), Closing())
        self.decide()
        self.assertEqual((old.inFlight, self.generations.inFlight()), (1, 2))
        self.assertEqual(self.generations.retiring, {old})
        self.assertEqual(oldContext.closed, 0)
        oldChain.held[0].callback(REJECT)
        self.assertIs(self.successResultOf(pending), REJECT)
        self.assertEqual(oldContext.closed, 1)
        self.assertEqual(self.generations.retiring, set())

    def test_idleGenerationRetiredAtOnce(self):
        """A generation with nothing in flight is released at the swap."""
        context = Closing()
        self.generations.install(HeldChain(), context)
        self.generations.install(HeldChain(), Closing())
        self.assertEqual(context.closed, 1)

    def test_closeReleasesAll(self):
        """When the daemon stops every generation's context is closed."""
        contexts = [Closing(), Closing()]
        oldChain = HeldChain()
        self.generations.install(oldChain, contexts[0])
        self.decide()
        self.generations.install(HeldChain(), contexts[1])
        self.successResultOf(self.generations.close())
        self.assertEqual([c.closed for c in contexts], [1, 1])


class SharedAcrossReloadTests(SynchronousTestCase):
    """
    Two contexts on one L{Resources}, as a reload makes them.
    """

    def contexts(self, first, second):
        resources = Resources()
        stateDir = self.mktemp()
        made = []
        self.closed = []
        self.patch(MemoryStore, "close",
                   lambda store: self.closed.append(store))
        for text in (first, second):
            context = makeContext(self, modulesText=text, stateDir=stateDir,
                                  resources=resources)
            made.append(context)
        return made

    def test_unchangedSettingsShared(self):
        """A service whose settings did not change is the same object in
        the new generation, and outlives the old one."""
        old, new = self.contexts("[ttldb]\ntype = 'memory'\n",
                                 "[ttldb]\ntype = 'memory'\n[x]\ny = 1\n")
        store = storeFor(old)
        self.assertIs(storeFor(new), store)
        self.successResultOf(old.close())
        self.assertEqual(self.closed, [])
        self.successResultOf(new.close())
        self.assertEqual(self.closed, [store])

    def test_changedSettingsReplaced(self):
        """A service whose settings changed is made anew beside the old
        one; the old one is closed with the old generation."""
        old, new = self.contexts("[ttldb]\ntype = 'memory'\n",
                                 "[ttldb]\ntype = 'memory'\npurge = 60\n")
        store = storeFor(old)
        replacement = storeFor(new)
        self.assertIsNot(replacement, store)
        self.successResultOf(old.close())
        self.assertEqual(self.closed, [store])

    def test_threadsKeptUnlessResized(self):
        """The thread pool is shared while C{threads} and C{thread_queue}
        stay the same."""
        resources = Resources()
        settings = {"threads": 2, "thread_queue": 4}
        build = lambda s: Context.build(
            Clock(), makeContext(self).paths, ModulesConfig(), s,
            self.mktemp(), resources=resources)
        first, second = build(settings), build(settings)
        third = build(dict(settings, threads=3))
        self.assertIs(first.threads, second.threads)
        self.assertIsNot(first.threads, third.threads)
        for context in (first, second, third):
            self.successResultOf(context.close())
        self.assertEqual(resources.held, {})

    def test_failedCreateHoldsNothing(self):
        """A service whose creation fails is not kept."""
        resources = Resources()

        def broken():
            raise ValueError("no")
        self.assertRaises(ValueError, resources.acquire, "k", broken, self)
        self.assertEqual(resources.held, {})
        self.assertFalse(resources.collect(lambda: None))

    def test_keptUntilCloseAll(self):
        """A service kept for the process (a legacy TtlDb's store) outlives
        every generation; closeAll closes it when the daemon stops."""
        old, new = self.contexts("[ttldb]\ntype = 'memory'\n",
                                 "[ttldb]\ntype = 'memory'\npurge = 60\n")
        store = storeFor(old)
        old.resources.keep(storeKey(old))
        self.successResultOf(old.close())
        self.successResultOf(new.close())
        self.assertEqual(self.closed, [])
        self.successResultOf(old.resources.closeAll())
        self.assertEqual(self.closed, [store])
        self.assertEqual(old.resources.held, {})
