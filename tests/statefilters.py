"""
Helpers for the stateful filters' tests: a filter on the memory store and a
L{Clock}, messages with a client address, and a store that fails.
"""

from twisted.internet import defer

from pyfilter.engine.loader import makeFilter
from tests.helpers import makeContext, writeMessage
from pyfilter.store import storeFor

START = 1_800_000_000.0


def startFilter(testCase, name, options=""):
    """
    The filter C{name} started on a memory store; C{options} is the text of
    its section.

    @return: C{(filter, clock)}.
    """
    context = makeContext(testCase, modulesText=(
        f"[ttldb]\ntype = 'memory'\n[{name}.py]\n{options}"))
    clock = context.reactor
    clock.advance(START)
    instance = makeFilter(name, context.modules, context)
    testCase.successResultOf(defer.maybeDeferred(instance.start))
    testCase.addCleanup(context.close)
    return instance, clock


def message(testCase, sender="sender@example.org",
            recipients=("rcpt@example.test",), ip="192.0.2.10", auth=None):
    records = [] if sender is None else [f"s{sender}"]
    for recipient in recipients:
        records += [f"r{recipient}", "R", "N"]
    if auth:
        records.append(f"i{auth}")
    if ip:
        records.append(f"OTCPREMOTEIP={ip}")
    return writeMessage(testCase, records)


def breakStore(instance):
    """
    Make every operation of C{instance}'s store fail, as a dead server.
    """
    def fail(*args):
        return defer.fail(ConnectionError("store down"))
    storeFor(instance.context)._execute = fail


def decide(testCase, instance, msg):
    """
    The filter's answer for C{msg}, which must be ready at once.
    """
    return testCase.successResultOf(
        defer.maybeDeferred(instance.consider, msg))
