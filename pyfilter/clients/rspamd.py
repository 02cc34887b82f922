"""
A client of rspamd's HTTP protocol (as rspamd 3.4 speaks it): C{/checkv2}
on the normal worker, which scans a message and answers its verdict in JSON
(L{CheckResult}), and the controller's C{/learnspam} and C{/learnham},
which train its Bayes classifier (L{LearnResult}).

The envelope travels as request headers (L{Envelope}).  The message is
streamed from its file, or handed over by path with rspamd's C{File} header
(C{handOver="file"}), which makes rspamd read the file itself: it must run
on this host and be able to read it.

Every request is bounded: at most C{maxConnections} at once and
C{maxWaiting} waiting for a turn, connecting within C{connectTimeout}
seconds, the whole request (the wait for a turn included) within
C{timeout}, a reply of at most L{RspamdClient.maxReply} bytes; cancelling a
request's Deferred aborts its connection.  Connections are not kept for
another request: rspamd 3.4's workers close every connection after their
reply (whatever the request asks), and a POST on a kept connection that
the server closed meanwhile would fail rather than be retried.

Failures reach the caller as L{RspamdError} (a L{ServiceError}): its text
is the reason, its C{cause} the exception behind it.
"""

import json
import os
import urllib.parse
from dataclasses import dataclass, field

from twisted.internet import defer, error
from twisted.internet.protocol import Protocol
from twisted.web.client import (
    Agent, FileBodyProducer, RequestTransmissionFailed, ResponseDone,
    ResponseFailed, ResponseNeverReceived)
from twisted.web.http import PotentialDataLoss
from twisted.web.http_headers import Headers
from twisted.web.iweb import IAgentEndpointFactory
from treq.client import HTTPClient
from zope.interface import implementer

from pyfilter.clients.base import ServiceError, endpointFor

#: Where rspamd's normal worker and its controller listen by default.
DEFAULT_WORKER = "http://127.0.0.1:11333"
DEFAULT_CONTROLLER = "http://127.0.0.1:11334"

#: The actions rspamd 3.4 gives, mildest first.  A configuration may add
#: its own (C{discard}, C{quarantine} or any name), which come as they are.
ACTIONS = ("no action", "greylist", "add header", "rewrite subject",
           "soft reject", "reject")


class RspamdError(ServiceError):
    """
    rspamd could not answer, or answered something unusable.

    @ivar cause: the exception behind it, or C{None}.
    """

    service = "rspamd"

    def __init__(self, reason, cause=None):
        ServiceError.__init__(self, reason)
        self.cause = cause


@dataclass(frozen=True)
class Envelope:
    """
    What the MTA knows of a message beside its content, each field sent as
    the rspamd request header named (none when C{None}), in UTF-8 (bytes
    that are not, escaped as surrogates, sent as they were).

    @ivar ip: the client's IP address (C{IP}).
    @ivar helo: its HELO/EHLO name (C{Helo}).
    @ivar hostname: its host name as resolved from its address
        (C{Hostname}).
    @ivar sender: the envelope sender, C{""} for the null sender (C{From}).
    @ivar recipients: the envelope recipients (a C{Rcpt} header each).
    @ivar queueId: the MTA's queue id, used in rspamd's logs (C{Queue-Id}).
    @ivar user: the authenticated user (C{User}): rspamd's signing modules
        sign authenticated mail.
    @ivar mtaName: this MTA's host name, for Authentication-Results
        (C{MTA-Name}).
    @ivar extra: further headers as C{(name, value)} pairs, such as
        C{("Settings-Id", "outbound")}.
    """

    ip: str = None
    helo: str = None
    hostname: str = None
    sender: str = None
    recipients: tuple = ()
    queueId: str = None
    user: str = None
    mtaName: str = None
    extra: tuple = ()

    def headers(self):
        """
        The request headers.

        @rtype: L{Headers}
        """
        sender = "<>" if self.sender == "" else self.sender
        pairs = [("IP", self.ip), ("Helo", self.helo),
                 ("Hostname", self.hostname), ("From", sender)]
        pairs += [("Rcpt", recipient) for recipient in self.recipients]
        pairs += [("Queue-Id", self.queueId), ("User", self.user),
                  ("MTA-Name", self.mtaName)]
        pairs += list(self.extra)
        headers = Headers()
        for name, value in pairs:
            if value is not None:
                headers.addRawHeader(
                    name, value.encode("utf-8", "surrogateescape"))
        return headers


@dataclass(frozen=True)
class Symbol:
    """
    A rule that matched: its name, its score and its options.
    """

    name: str
    score: float
    options: tuple = ()


@dataclass(frozen=True)
class HeaderAddition:
    """
    A header field rspamd asks to add: its name, its value (as rspamd
    folded it, with the line ends of the message it scanned) and where
    (its C{order}, or C{index} as rspamd's milter also reads it):
    C{order} 0 or more inserts it as the field of that index, counting
    from the top at the time of insertion; -1 (also when rspamd gave no
    order, or a bare string) appends it to the header; less than -1
    counts from the end (rspamd's milter inserts it at index
    C{fields + order + 2}, C{fields} counting those the MTA showed it).
    """

    name: str
    value: str
    order: int = -1


@dataclass(frozen=True)
class MilterBlock:
    """
    The changes rspamd asks for (its reply's C{milter} object).

    @ivar addHeaders: L{HeaderAddition}s in the reply's order; one name may
        come several times.
    @ivar removeHeaders: C{(name, index)} pairs: index 0 removes every field
        of that name, N > 0 the Nth from the top, N < 0 the -Nth from the
        bottom.
    @ivar extra: the block's other entries as rspamd gave them
        (C{change_from}, C{add_rcpt}, C{del_rcpt}, C{reject}, C{spam_header},
        C{no_action}).
    """

    addHeaders: tuple = ()
    removeHeaders: tuple = ()
    extra: dict = field(default_factory=dict)


@dataclass(frozen=True)
class CheckResult:
    """
    rspamd's verdict on a message.

    @ivar action: one of L{ACTIONS}, or a configured action's name.
    @ivar score: the message's score; C{requiredScore}: the reject
        threshold (as changed by settings).
    @ivar isSkipped: rspamd skipped its rules (settings, GTUBE).
    @ivar symbols: name to L{Symbol}, in the reply's order.
    @ivar messages: rspamd's messages (C{smtp_message}: the text for the
        SMTP reply).
    @ivar subject: the new Subject (C{rewrite subject}), or C{None}.
    @ivar milter: the L{MilterBlock} (empty when the reply had none).
    @ivar dkimSignatures: the values of the DKIM-Signature fields rspamd's
        signing made, when it does not put them in the milter block
        (C{dkim_signing}'s default); the field name is not included.
    @ivar messageId: the Message-ID rspamd saw (C{"undef"} without one).
    """

    action: str
    score: float
    requiredScore: float
    isSkipped: bool = False
    symbols: dict = field(default_factory=dict)
    messages: dict = field(default_factory=dict)
    subject: str = None
    milter: MilterBlock = MilterBlock()
    dkimSignatures: tuple = ()
    messageId: str = None

    @property
    def smtpMessage(self):
        """
        rspamd's text for the SMTP reply, or C{None}.
        """
        return self.messages.get("smtp_message")


@dataclass(frozen=True)
class LearnResult:
    """
    What the controller did with a message to learn: C{learned}, or not
    and why (C{reason}: already learned as that class, too few tokens).
    """

    learned: bool
    reason: str = None


def _bad(what):
    return RspamdError(f"rspamd's reply has {what}")


def _number(value, what):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _bad(f"a bad {what}")
    return float(value)


def _text(value, what, optional=True):
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise _bad(f"a bad {what}")
    return value


def _object(value, what):
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _bad(f"a bad {what}")
    return value


def _symbols(reply):
    symbols = {}
    for name, found in _object(reply.get("symbols"), "symbols").items():
        found = _object(found, f"symbol {name}")
        options = found.get("options", [])
        if not (isinstance(options, list)
                and all(isinstance(option, str) for option in options)):
            raise _bad(f"bad options of symbol {name}")
        symbols[name] = Symbol(name, _number(found.get("score"),
                                             f"score of symbol {name}"),
                               tuple(options))
    return symbols


def _addition(name, entry):
    if isinstance(entry, str):
        return HeaderAddition(name, entry)
    entry = _object(entry, f"header to add {name}")
    order = entry.get("order", entry.get("index", -1))
    if isinstance(order, float) and order.is_integer():
        order = int(order)
    if isinstance(order, bool) or not isinstance(order, int):
        raise _bad(f"a bad order of header {name}")
    return HeaderAddition(name, _text(entry.get("value"), f"value of "
                                      f"header {name}", optional=False),
                          order)


def _milter(reply):
    block = dict(_object(reply.get("milter"), "milter block"))
    additions = []
    for name, entries in _object(block.pop("add_headers", None),
                                 "add_headers").items():
        for entry in entries if isinstance(entries, list) else [entries]:
            additions.append(_addition(name, entry))
    removals = []
    for name, index in _object(block.pop("remove_headers", None),
                               "remove_headers").items():
        if isinstance(index, bool) or not isinstance(index, int):
            raise _bad(f"a bad index of header to remove {name}")
        removals.append((name, index))
    return MilterBlock(tuple(additions), tuple(removals), block)


def _signatures(reply):
    found = reply.get("dkim-signature")
    signatures = ([] if found is None else [found] if isinstance(found, str)
                  else found)
    if not (isinstance(signatures, list)
            and all(isinstance(value, str) for value in signatures)):
        raise _bad("a bad dkim-signature")
    return tuple(signatures)


def parseCheckReply(body):
    """
    The L{CheckResult} in the JSON reply C{body} (bytes) of C{/checkv2}.

    @raise RspamdError: it is not JSON, or lacks an action or a score, or
        has a part of the wrong type (nothing of a malformed reply is
        used: rspamd's changes are applied whole or not at all).
    """
    try:
        reply = json.loads(body)
    except ValueError as e:
        raise RspamdError(f"rspamd's reply is not JSON: {e}", e) from e
    if not isinstance(reply, dict) or not isinstance(reply.get("action"),
                                                     str):
        raise _bad("no action")
    return CheckResult(
        action=reply["action"],
        score=_number(reply.get("score"), "score"),
        requiredScore=_number(reply.get("required_score"), "required_score"),
        isSkipped=reply.get("is_skipped") is True,
        symbols=_symbols(reply),
        messages=_object(reply.get("messages"), "messages"),
        subject=_text(reply.get("subject"), "subject"),
        milter=_milter(reply),
        dkimSignatures=_signatures(reply),
        messageId=_text(reply.get("message-id"), "message-id"))


def errorText(body, phrase):
    """
    The reason in an error reply: rspamd's C{{"error": ...}} when C{body}
    has one, else the status line's C{phrase}.
    """
    try:
        reason = json.loads(body)["error"]
    except (ValueError, TypeError, KeyError):
        reason = None
    if not isinstance(reason, str):
        reason = phrase.decode("utf-8", "replace")
    return reason


#: Learning replies that are not errors: nothing was learned, and why.
_NOT_LEARNED = (204, 208)


@implementer(IAgentEndpointFactory)
class _Endpoints:
    """
    The one endpoint of an L{RspamdClient}, whatever the URL.
    """

    def __init__(self, reactor, where, timeout):
        self.endpoint = endpointFor(reactor, where, timeout)

    def endpointForURI(self, uri):
        return self.endpoint


class _Body(Protocol):
    """
    Collects a response body of at most C{limit} bytes into C{done}.
    """

    def __init__(self, limit):
        self.limit = limit
        self.chunks = []
        self.size = 0
        self.done = defer.Deferred(lambda _: self.transport.stopProducing())

    def dataReceived(self, data):
        if self.done.called:
            return
        self.size += len(data)
        if self.size > self.limit:
            self.transport.stopProducing()
            self.done.errback(RspamdError(
                f"rspamd's reply is longer than {self.limit} bytes"))
            return
        self.chunks.append(data)

    def connectionLost(self, reason):
        if self.done.called:
            return
        if reason.check(ResponseDone, PotentialDataLoss):
            self.done.callback(b"".join(self.chunks))
        else:
            self.done.errback(reason)


def _cancelled(e):
    """
    Whether the Twisted web client failure C{e} is the request's
    cancellation.
    """
    return any(reason.check(defer.CancelledError) for reason in e.reasons)


class RspamdClient:
    """
    One rspamd worker at C{where} (C{host:port}, or a UNIX socket path):
    the normal worker for L{check}, the controller (with its C{password}:
    the C{enable_password} if it has one) for L{learn}.
    """

    maxReply = 4 * 1024 * 1024

    def __init__(self, reactor, where, timeout=30.0, connectTimeout=5.0,
                 maxConnections=8, maxWaiting=None, password=None):
        self.reactor = reactor
        # A URL (http://host:port) names the same place.
        where = where.split("://", 1)[-1].rstrip("/")
        self.where = where
        self.timeout = timeout
        self.password = password
        self.maxWaiting = (maxWaiting if maxWaiting is not None
                           else 8 * maxConnections)
        self.slots = defer.DeferredSemaphore(maxConnections)
        self.http = HTTPClient(Agent.usingEndpointFactory(
            reactor, _Endpoints(reactor, where, connectTimeout)))
        host = "localhost" if where.startswith("/") else where
        self.baseURL = f"http://{host}"

    def check(self, path, envelope=Envelope(), handOver="stream"):
        """
        Have rspamd check the message in the file at C{path}.

        @param handOver: C{"stream"} sends the file's content; C{"file"}
            sends its absolute path (rspamd reads it: it must be able to).
        @return: a cancellable Deferred of a L{CheckResult}; it fails with
            L{RspamdError}.
        """
        headers = envelope.headers()
        if handOver == "file":
            headers.addRawHeader("File", urllib.parse.quote(
                os.path.abspath(path)))
            bodyPath = None
        elif handOver == "stream":
            bodyPath = path
        else:
            raise ValueError(f"unknown hand-over {handOver!r}")
        d = self._post("/checkv2", headers, bodyPath)
        return d.addCallback(self._checked)

    @staticmethod
    def _checked(answer):
        code, phrase, body = answer
        if code != 200:
            raise RspamdError(f"rspamd answered {code}: "
                              f"{errorText(body, phrase)}")
        return parseCheckReply(body)

    def learn(self, path, spam):
        """
        Have the controller learn the message in the file at C{path} as
        spam (C{spam} true) or ham.

        @return: a cancellable Deferred of a L{LearnResult}; it fails with
            L{RspamdError} (a wrong password among the reasons).
        """
        headers = Headers()
        if self.password is not None:
            headers.addRawHeader("Password", self.password)
        d = self._post("/learnspam" if spam else "/learnham", headers, path)
        return d.addCallback(self._learned)

    @staticmethod
    def _learned(answer):
        code, phrase, body = answer
        if code == 200:
            return LearnResult(True)
        reason = errorText(body, phrase)
        if code in _NOT_LEARNED:
            return LearnResult(False, reason)
        raise RspamdError(f"rspamd answered {code}: {reason}")

    def _post(self, urlPath, headers, bodyPath):
        """
        POST to C{urlPath} with C{headers} and the content of the file at
        C{bodyPath} (none when C{None}).

        @return: a Deferred of the reply's C{(code, phrase, body)}.
        """
        d = defer.Deferred.fromCoroutine(
            self._exchange(urlPath, headers, bodyPath))
        d.addTimeout(self.timeout, self.reactor)
        return d.addErrback(self._timedOut)

    def _timedOut(self, failure):
        failure.trap(defer.TimeoutError)
        raise RspamdError(f"rspamd did not answer within {self.timeout:g} "
                          "seconds", failure.value)

    async def _exchange(self, urlPath, headers, bodyPath):
        if len(self.slots.waiting) >= self.maxWaiting:
            raise RspamdError("too many requests waiting for rspamd")
        await self.slots.acquire()
        file = body = None
        try:
            if bodyPath is not None:
                file = open(bodyPath, "rb")
                body = FileBodyProducer(file)
            response = await self.http.request(
                "POST", self.baseURL + urlPath, headers=headers, data=body,
                allow_redirects=False, unbuffered=True,
                reactor=self.reactor)
            collector = _Body(self.maxReply)
            response.deliverBody(collector)
            return response.code, response.phrase, await collector.done
        except error.ConnectingCancelledError:
            raise defer.CancelledError() from None
        except (error.ConnectError, error.DNSLookupError) as e:
            raise RspamdError(
                f"cannot connect to rspamd at {self.where}: "
                f"{str(e).strip().rstrip('.')}", e) from e
        except (ResponseFailed, ResponseNeverReceived,
                RequestTransmissionFailed) as e:
            if _cancelled(e):
                raise defer.CancelledError() from None
            raise RspamdError(f"rspamd at {self.where} failed: "
                              f"{_describe(e)}", e) from e
        finally:
            if file is not None:
                file.close()
            self.slots.release()


def _describe(e):
    """
    A short text for a failure of Twisted's web client (its reasons are a
    list of failures).
    """
    return "; ".join(reason.getErrorMessage() or reason.type.__name__
                     for reason in e.reasons) or type(e).__name__
