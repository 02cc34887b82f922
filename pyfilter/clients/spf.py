"""
SPF checks with pyspf, its DNS lookups answered by the daemon's twisted.names
resolver, without threads and without blocking the reactor.

pyspf asks its module-level C{DNSLookup} for every record it needs and waits
for the answer.  Here that function answers from the records fetched so far
and, for a record not fetched yet, stops the check by raising
L{_Unanswered}; the record is then fetched on the reactor and the check is
run again from the start.  An SPF evaluation depends only on its DNS answers,
so each run gets one step further, and the last one, with every record it
needs at hand, gives pyspf's result.  pyspf's processing limits (ten
DNS-querying mechanisms, two void lookups) bound the number of runs; the
C{queryTime} bounds their total time (RFC 7208 section 4.6.4).

One lookup may take C{lookupTimeout} seconds (L{DNS_TIMEOUT}, 5, by
default; pyspf's own default is 20): within them twisted.names asks again
after 1 and 4 seconds (the start of its usual 1, 3, 11, 45 s sequence), so
a lost datagram costs a second, and a dead server costs 5 s instead of the
whole check's 20.

Outside a check run here (a legacy module calling pyspf in a thread),
C{DNSLookup} keeps pyspf's own behaviour.
"""

import contextvars

import spf
from twisted.internet import defer
from twisted.names import dns as names
from twisted.names import error

from pyfilter.clients.dns import DEFAULT_TIMEOUT, LOOKUP_FAILED, addressOf

#: Seconds one lookup may take, and the whole check (RFC 7208 section
#: 4.6.4's least limit, as in pyspf).
DNS_TIMEOUT = 5
MAX_QUERY_TIME = 20

_pyspfLookup = spf.DNSLookup
_current = contextvars.ContextVar("pyfilterSpfAnswers", default=None)


def _hostName(name):
    """
    The text of a host name in an answer; bytes outside ASCII become U+FFFD,
    which no query can carry (such a name has no records, see L{_fetch}).
    """
    return name.name.decode("ascii", "replace")


#: pyspf's query types: the resolver method and how to give each answer.
_TYPES = {
    "A": ("lookupAddress", names.A, addressOf),
    "AAAA": ("lookupIPV6Address", names.AAAA, addressOf),
    "MX": ("lookupMailExchange", names.MX,
           lambda r: (r.preference, _hostName(r.name))),
    "PTR": ("lookupPointer", names.PTR, lambda r: _hostName(r.name)),
    "TXT": ("lookupText", names.TXT, lambda r: list(r.data)),
    "SPF": ("lookupSenderPolicy", names.SPF, lambda r: list(r.data)),
}


class _Unanswered(BaseException):
    """
    pyspf asked for a record that has not been fetched yet.  A
    BaseException, so that pyspf's own C{except Exception} clauses let it
    through.
    """


def _dispatchLookup(name, qtype, *args, **kwargs):
    answers = _current.get()
    if answers is None:
        return _pyspfLookup(name, qtype, *args, **kwargs)
    return answers.answer(name, qtype)


spf.DNSLookup = _dispatchLookup


def _key(name, qtype):
    return str(name).lower().rstrip("."), qtype


class _Answers:
    """
    The records fetched for one check: C{(name, qtype)} to pyspf's list of
    C{((name, qtype), value)} pairs, or to the text of a temporary error.
    """

    def __init__(self):
        self.known = {}
        self.missing = set()

    def answer(self, name, qtype):
        key = _key(name, qtype)
        if key not in self.known:
            self.missing.add(key)
            raise _Unanswered(key)
        known = self.known[key]
        if isinstance(known, str):
            raise spf.TempError(known)
        return known


def _evaluate(answers, ip, sender, helo):
    """
    One run of pyspf over the records fetched so far.

    @return: C{(result, explanation)}, or C{None} when a record is missing.
    """
    answers.missing = set()
    token = _current.set(answers)
    try:
        outcome = spf.check2(ip, sender, helo, querytime=0)
    except _Unanswered:
        return None
    finally:
        _current.reset(token)
    return None if answers.missing else outcome


def tries(seconds):
    """
    The twisted.names timeout sequence for a lookup of C{seconds}: Twisted's
    usual one, cut to add up to C{seconds}.
    """
    sequence = []
    for timeout in DEFAULT_TIMEOUT:
        if seconds - sum(sequence) <= timeout:
            break
        sequence.append(timeout)
    return tuple(sequence) + (seconds - sum(sequence),)


@defer.inlineCallbacks
def _fetch(resolver, reactor, key, seconds):
    """
    The records of C{key} for pyspf, or the text of a temporary error.  (Not
    L{pyfilter.clients.dns.lookup}, which sends the query once: here it is sent
    again within C{seconds}, see L{tries}.)  A name that cannot be put in a
    query (a label IDNA refuses, such as one with U+FFFD in an SMTPUTF8
    sender's domain) has no records.
    """
    name, qtype = key
    method, recordType, convert = _TYPES[qtype]
    try:
        payload = yield getattr(resolver, method)(
            name, timeout=tries(seconds)).addTimeout(seconds, reactor)
    except (error.DNSNameError, error.AuthoritativeDomainError, UnicodeError):
        return []
    except LOOKUP_FAILED as e:
        return f"DNS error looking up {name} {qtype}: {type(e).__name__}"
    answers, _, _ = payload
    return [(key, convert(record.payload)) for record in answers
            if record.type == recordType]


@defer.inlineCallbacks
def checkSPF(resolver, reactor, ip, sender, helo,
             lookupTimeout=DNS_TIMEOUT, queryTime=MAX_QUERY_TIME):
    """
    pyspf's C{check2(ip, sender, helo)} with the lookups done by
    C{resolver}.

    @param lookupTimeout: seconds one DNS lookup may take.
    @param queryTime: seconds the whole check may take.
    @return: a Deferred with pyspf's C{(result, explanation)}; a timeout is
        C{("temperror", ...)}, as in pyspf.
    """
    answers = _Answers()
    deadline = reactor.seconds() + queryTime
    while True:
        outcome = _evaluate(answers, ip, sender, helo or "")
        if outcome is not None:
            return outcome
        remaining = deadline - reactor.seconds()
        if remaining <= 0:
            return ("temperror", "SPF DNS lookups took too long")
        missing = sorted(answers.missing)
        fetched = yield defer.gatherResults(
            [_fetch(resolver, reactor, key, min(lookupTimeout, remaining))
             for key in missing])
        answers.known.update(zip(missing, fetched))
