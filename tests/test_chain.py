from twisted.internet import defer
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from pyfilter.engine.chain import CONFIG_ERROR, DEADLINE, SKIPPED, Chain, Entry, StaticChain
from pyfilter.courier.control import ControlFileError
from pyfilter.engine.reply import CONTROL_FAILURE, OK, Reply
from tests.helpers import sampleMessage


class Answer:
    """A filter that answers a fixed outcome and counts its calls."""

    def __init__(self, outcome):
        self.outcome = outcome
        self.calls = 0

    def consider(self, message):
        self.calls += 1
        if isinstance(self.outcome, Exception):
            raise self.outcome
        return self.outcome


class Pending:
    """A filter whose answer is a Deferred the test fires."""

    def __init__(self):
        self.deferreds = []
        self.cancelled = 0

    def consider(self, message):
        d = defer.Deferred(lambda _: self._cancel())
        self.deferreds.append(d)
        return d

    def _cancel(self):
        self.cancelled += 1


class ChainTests(SynchronousTestCase):
    def setUp(self):
        self.clock = Clock()
        self.message = sampleMessage("a-plain")
        self.observed = []

    def decide(self, *entries, deadline=300):
        chain = Chain(list(entries), self.clock, deadline)
        return chain.decide(self.message, lambda entry, *a: self.observed.append((entry.name,) + a))

    def test_emptyChain(self):
        """With no filter every message gets 200 Ok."""
        self.assertEqual(self.successResultOf(self.decide()), OK)

    def test_noOpinionContinues(self):
        """None goes on; the end of the chain answers 200 Ok."""
        first, second = Answer(None), Answer(None)
        reply = self.successResultOf(self.decide(Entry("a", first),
                                                 Entry("b", second)))
        self.assertEqual(reply, OK)
        self.assertEqual((first.calls, second.calls), (1, 1))

    def test_acceptStopsChain(self):
        """A 2xx reply ends the chain and is the answer."""
        later = Answer(Reply("554", "no"))
        reply = self.successResultOf(self.decide(
            Entry("a", Answer(Reply("200", "Ok"))), Entry("b", later)))
        self.assertEqual(reply.code, "200")
        self.assertEqual(later.calls, 0)

    def test_zeroStopsChain(self):
        """A 0xx reply ends the chain and is passed on as it is."""
        later = Answer(Reply("554", "no"))
        reply = self.successResultOf(self.decide(
            Entry("a", Answer(Reply("050", "OK"))), Entry("b", later)))
        self.assertEqual(reply, Reply("050", "OK"))
        self.assertEqual(later.calls, 0)

    def test_rejectStopsChain(self):
        """4xx and 5xx replies end the chain."""
        for code in ("451", "554"):
            later = Answer(None)
            reply = self.successResultOf(self.decide(
                Entry("a", Answer(Reply(code, "x"))), Entry("b", later)))
            self.assertEqual(reply.code, code)
            self.assertEqual(later.calls, 0)

    def test_bypassOnAccept(self):
        """A 2xx from an entry with a for-list skips those filters and goes on."""
        skipped, runs = Answer(Reply("554", "no")), Answer(Reply("451", "x"))
        reply = self.successResultOf(self.decide(
            Entry("whitelist", Answer(Reply("200", "Ok")), {"attachments"}),
            Entry("attachments", skipped), Entry("greylist", runs)))
        self.assertEqual(reply.code, "451")
        self.assertEqual(skipped.calls, 0)
        self.assertIn(("attachments", SKIPPED, 0.0), self.observed)

    def test_bypassEndsWithOk(self):
        """When every later filter is bypassed the answer is 200 Ok."""
        reply = self.successResultOf(self.decide(
            Entry("w", Answer(Reply("200", "Ok")), {"a"}),
            Entry("a", Answer(Reply("554", "no")))))
        self.assertEqual(reply, OK)

    def test_bypassIgnoredOnReject(self):
        """A rejection from an entry with a for-list still ends the chain."""
        later = Answer(None)
        reply = self.successResultOf(self.decide(
            Entry("w", Answer(Reply("550", "no")), {"a"}), Entry("b", later)))
        self.assertEqual(reply.code, "550")
        self.assertEqual(later.calls, 0)

    def test_exceptionTempFails(self):
        """A filter that raises gives 451, never an accept, and is logged."""
        reply = self.successResultOf(self.decide(
            Entry("broken", Answer(ZeroDivisionError("x")))))
        self.assertEqual(reply.code, "451")
        self.assertIn("broken", reply.lines[0])
        self.assertEqual(len(self.flushLoggedErrors(ZeroDivisionError)), 1)

    def test_failedDeferredTempFails(self):
        """A filter whose Deferred fails gives 451."""
        reply = self.successResultOf(self.decide(
            Entry("broken", Answer(defer.fail(ValueError("x"))))))
        self.assertEqual(reply.code, "451")
        self.assertEqual(len(self.flushLoggedErrors(ValueError)), 1)

    def test_controlFileError(self):
        """An unusable control file value gives the reference's 451."""
        reply = self.successResultOf(self.decide(
            Entry("w", Answer(ControlFileError("bad ip")))))
        self.assertEqual(reply, CONTROL_FAILURE)

    def test_wrongTypeTempFails(self):
        """A filter answering something other than a Reply gives 451."""
        reply = self.successResultOf(self.decide(Entry("odd", Answer(42))))
        self.assertEqual(reply.code, "451")
        self.flushLoggedErrors(TypeError)

    def test_stringAnswers(self):
        """Reference-style strings are read as replies; '' goes on."""
        reply = self.successResultOf(self.decide(
            Entry("a", Answer("")), Entry("b", Answer("517 no"))))
        self.assertEqual(reply, Reply("517", "no"))

    def test_asynchronousAnswer(self):
        """A Deferred answer is waited for."""
        pending = Pending()
        d = self.decide(Entry("slow", pending), Entry("b", Answer(None)))
        self.assertNoResult(d)
        pending.deferreds[0].callback(Reply("554", "no"))
        self.assertEqual(self.successResultOf(d).code, "554")

    def test_filterTimeout(self):
        """A filter that does not answer in time is cancelled; 451."""
        pending = Pending()
        d = self.decide(Entry("hung", pending, timeout=10))
        self.clock.advance(9.9)
        self.assertNoResult(d)
        self.clock.advance(0.2)
        reply = self.successResultOf(d)
        self.assertEqual(reply.code, "451")
        self.assertIn("hung", reply.lines[0])
        self.assertEqual(pending.cancelled, 1)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_messageDeadline(self):
        """The chain as a whole is bounded by the message deadline."""
        first, second = Pending(), Pending()
        d = self.decide(Entry("a", first, timeout=30),
                        Entry("b", second, timeout=30), deadline=40)
        self.clock.advance(25)
        first.deferreds[0].callback(None)
        self.clock.advance(14.9)
        self.assertNoResult(d)
        self.clock.advance(0.2)
        self.assertEqual(self.successResultOf(d), DEADLINE)
        self.assertEqual(second.cancelled, 1)

    def test_answerCancelsTimer(self):
        """An answer in time leaves no timer behind."""
        pending = Pending()
        d = self.decide(Entry("a", pending, timeout=10))
        pending.deferreds[0].callback(None)
        self.assertEqual(self.successResultOf(d), OK)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_staticChain(self):
        """A broken configuration answers 451 to every message."""
        chain = StaticChain(CONFIG_ERROR, "unknown filter x")
        self.assertEqual(self.successResultOf(chain.decide(self.message)),
                         CONFIG_ERROR)
        self.assertEqual(CONFIG_ERROR.code, "451")
