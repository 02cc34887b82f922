"""
dialback: check that the envelope sender exists by calling back its domain's
mail servers.

For a sender C{user@domain} the filter looks up the domain's MX hosts (by
preference; the domain itself when it has no MX but an address), then asks
each in turn, over SMTP, whether it would accept mail for the sender:
C{HELO} (Courier's C{esmtphelo}, else C{me}), C{MAIL FROM:<postmaster_addr>},
C{RCPT TO:<sender>}, C{QUIT}.  No message is ever sent.  The answers are
remembered in the state store (tables C{goodsenders} and C{badsenders}), so
a sender is called back at most once per C{senders_ttl}; each later message
from it renews the entry (one store operation), except that a sender found
in the store within the last second is answered from memory (so its entry
is renewed at most once a second, and a change made through another server
shows within a second).  The null sender is never checked.  Call-outs are
considered abusive by many: enable this filter knowingly.

Its options and their defaults: C{pyfilter check --help-filter dialback}.
While the state store is unavailable the filter answers its C{on_error}
(the reference's name C{on_store_error} is read too); C{'continue'} lets
such mail through this filter.

Replies (courier-pythonfilter's):

  - C{517 Sender does not exist: <sender>}: a known bad sender;
  - C{517-MX server <host> said:} / C{517 Sender does not exist: <sender>}:
    the server refused the sender with a 5xx reply;
  - C{501 Envelope sender is invalid}: not exactly one C{@};
  - C{421 DNS failure resolving <domain>}: the domain has no MX and no
    address, or the lookup failed or timed out;
  - when no server gave a 2xx or 5xx answer to RCPT, the last host's
    outcome: C{421 <host> rejected the HELO command},
    C{421 <host> rejected the MAIL FROM command},
    C{421-Unable to validate sender address.} /
    C{421 MX server <host> provided unknown reply} (any other RCPT reply),
    C{400 SMTP class exception during connect} (also: C{HELO},
    C{MAIL command}, C{RCPT command}) for a refused, lost or timed-out
    connection; or C{421 No SMTP servers were available to authenticate
    sender} when none could be tried.
  - No opinion for a good sender.
"""

from twisted.internet import defer
from twisted.names import dns as names
from twisted.names import error

from pyfilter.clients import smtpcallout
from pyfilter.clients.dns import LOOKUP_FAILED, addressOf, answersOf, lookup
from pyfilter.engine.filter import Filter
from pyfilter.engine.options import (
    Option,
    nonNegativeInteger,
    optional,
    positiveNumber,
    string)
from pyfilter.engine.reply import Reply
from pyfilter.store import STORE_UNAVAILABLE, StoreError, Table, storeFor
from pyfilter.clients.dns import resolverFor

GOOD = 1
BAD = 0

#: Seconds a sender's verdict read from the store answers its next
#: messages from memory; at most L{MAX_RECENT} senders are kept.
RECENT_SECONDS = 1.0
MAX_RECENT = 4096

INVALID_SENDER = Reply("501", "Envelope sender is invalid")
NO_SERVERS = Reply(
    "421", "No SMTP servers were available to authenticate sender")

#: The reference's wording of the stage a call-out broke at.
STAGE_WORDS = {
    smtpcallout.CONNECT: "connect",
    smtpcallout.HELO: "HELO",
    smtpcallout.MAIL: "MAIL command",
    smtpcallout.RCPT: "RCPT command",
}


def port(value):
    nonNegativeInteger(value)
    if not 0 < value < 65536:
        raise ValueError("a port number")
    return value


def badSender(sender):
    return Reply("517", f"Sender does not exist: {sender}")


#: Seconds for the whole check of a message outside a chain.
DEFAULT_DEADLINE = 50


def verdictReply(verdict, sender):
    """
    The answer for a remembered sender: no opinion for a good one.
    """
    return None if verdict == GOOD else badSender(sender)


class Dialback(Filter):
    options = {
        "senders_ttl": Option(60 * 60 * 24 * 7, positiveNumber,
                              "seconds a good or bad sender is remembered "
                              "after its last message (a week)"),
        "senders_purge_interval": Option(60 * 60 * 12, positiveNumber,
                                         "accepted for compatibility; the "
                                         "state store drops expired entries "
                                         "itself ([ttldb] purge_interval)"),
        "smtp_timeout": Option(60, positiveNumber,
                               "seconds for the connection and for each "
                               "SMTP command"),
        "smtp_port": Option(25, port, "the port called on each host"),
        "postmaster_addr": Option(None, optional(string),
                                  "the call-out's MAIL FROM address; None: "
                                  "postmaster@ followed by Courier's me"),
        "dns_timeout": Option(10, positiveNumber,
                              "seconds for each DNS lookup"),
        "deadline": Option(None, optional(positiveNumber),
                           "seconds the whole check of a message may take, "
                           "lookups and call-outs together; None: the "
                           "filter's timeout less a margin, so the check "
                           "always answers before the chain gives up on "
                           "it; when it passes, the outcome so far is the "
                           "answer"),
    }
    onError = STORE_UNAVAILABLE

    def start(self):
        self.postmaster = (self.config["postmaster_addr"]
                           or "postmaster@" + self.context.courier.me())
        store = storeFor(self.context)
        self.good = Table(store, "goodsenders", reference=True)
        self.bad = Table(store, "badsenders", reference=True)
        self.recent = {}
        return defer.gatherResults([self.good.start(), self.bad.start()])

    def match(self, message):
        sender = message.sender
        if not sender:
            return None
        recent = self.recent.get(sender)
        if recent is not None and recent[1] > self.context.reactor.seconds():
            return verdictReply(recent[0], sender)
        left = self.timeLeft(message)
        seconds = min(filter(None, (self.config["deadline"], left)),
                      default=DEFAULT_DEADLINE)
        return self.check(sender, self.context.reactor.seconds() + seconds)

    def recall(self, sender, verdict):
        """
        Answer C{sender}'s messages of the next L{RECENT_SECONDS} with
        C{verdict} without asking the store.
        """
        if len(self.recent) >= MAX_RECENT:
            self.recent.clear()
        self.recent[sender] = (verdict, self.context.reactor.seconds()
                               + RECENT_SECONDS)

    @defer.inlineCallbacks
    def check(self, sender, deadline):
        known = yield self.remembered(sender)
        if known is not None:
            self.recall(sender, known)
            return verdictReply(known, sender)
        parts = sender.split("@")
        if len(parts) != 2:
            return INVALID_SENDER
        domain = parts[1]
        try:
            hosts = yield self.mailHosts(domain, deadline)
        except LOOKUP_FAILED as e:
            self.log.info("dialback: no mail host for {domain}: {error!r}",
                          domain=domain, error=e)
            return Reply("421", f"DNS failure resolving {domain}")
        return (yield self.callHosts(hosts, sender, deadline))

    @defer.inlineCallbacks
    def remembered(self, sender):
        """
        C{GOOD}, C{BAD} or C{None}; a remembered sender's entry is renewed
        (in the same store operation that finds it).
        """
        now = int(self.context.reactor.seconds())
        for table, verdict in ((self.good, GOOD), (self.bad, BAD)):
            if (yield table.refresh((sender,), now,
                                    self.config["senders_ttl"])):
                return verdict
            if (yield table.adopt((sender,))) is not None:
                yield self.remember(table, sender)
                return verdict
        return None

    def remember(self, table, sender):
        now = int(self.context.reactor.seconds())
        d = table.set((sender,), now, self.config["senders_ttl"])
        return d.addErrback(self._notRemembered, sender)

    def _notRemembered(self, failure, sender):
        failure.trap(StoreError)
        self.log.warn("dialback: could not remember {sender}: {error}",
                      sender=sender, error=failure.getErrorMessage())

    def _timeout(self, deadline):
        remaining = deadline - self.context.reactor.seconds()
        if remaining <= 0:
            raise defer.TimeoutError("dialback deadline passed")
        return min(self.config["dns_timeout"], remaining)

    @defer.inlineCallbacks
    def mailHosts(self, domain, deadline):
        """
        The MX host names of C{domain} by preference, else C{[domain]} when
        it has an address.

        @raise LOOKUP_FAILED: neither, or the lookups failed.
        """
        try:
            payload = yield lookup(resolverFor(self.context),
                                   "lookupMailExchange", domain,
                                   self._timeout(deadline),
                                   self.context.reactor)
        except error.DNSNameError:
            exchangers = []
        else:
            exchangers = sorted(
                (mx.preference, mx.name.name.decode("ascii", "replace"))
                for mx in answersOf(payload, names.MX))
        if exchangers:
            return [host for _, host in exchangers]
        yield self.address(domain, deadline)
        return [domain]

    @defer.inlineCallbacks
    def address(self, host, deadline):
        """
        The first IPv4 address of C{host}, else its first IPv6 address.

        @raise LOOKUP_FAILED: it has none, or the lookups failed.
        """
        for method, recordType in (("lookupAddress", names.A),
                                   ("lookupIPV6Address", names.AAAA)):
            try:
                payload = yield lookup(resolverFor(self.context), method, host,
                                       self._timeout(deadline),
                                       self.context.reactor)
            except error.DNSNameError:
                raise
            except LOOKUP_FAILED:
                continue
            records = answersOf(payload, recordType)
            if records:
                return addressOf(records[0])
        raise error.DomainError(f"no address for {host}")

    @defer.inlineCallbacks
    def callHosts(self, hosts, sender, deadline):
        outcome = NO_SERVERS
        for host in hosts:
            if self.context.reactor.seconds() >= deadline:
                self.log.info("dialback: deadline passed checking {sender}",
                              sender=sender)
                break
            outcome, final = yield self.callHost(host, sender, deadline)
            if final:
                break
        return outcome

    @defer.inlineCallbacks
    def callHost(self, host, sender, deadline):
        """
        Call back one host.

        @return: C{(outcome, final)}: the reply (or C{None}) and whether it
            settles the sender.
        """
        try:
            address = yield self.address(host, deadline)
            answer = yield smtpcallout.callout(
                self.context.reactor, address, self.config["smtp_port"],
                self.context.courier.esmtphelo(), self.postmaster, sender,
                self.config["smtp_timeout"], deadline)
        except smtpcallout.CalloutError as e:
            self.log.info("dialback: {host} for {sender}: {error}",
                          host=host, sender=sender, error=e)
            return Reply("400", "SMTP class exception during "
                         + STAGE_WORDS[e.stage]), False
        except LOOKUP_FAILED as e:
            self.log.info("dialback: cannot resolve {host}: {error!r}",
                          host=host, error=e)
            return Reply("400", "SMTP class exception during connect"), False
        return (yield self.judge(answer, host, sender))

    @defer.inlineCallbacks
    def judge(self, answer, host, sender):
        if answer.stage == smtpcallout.HELO:
            return Reply("421", f"{host} rejected the HELO command"), False
        if answer.stage == smtpcallout.MAIL:
            return (Reply("421", f"{host} rejected the MAIL FROM command"),
                    False)
        if answer.code // 100 == 2:
            yield self.remember(self.good, sender)
            self.recall(sender, GOOD)
            return None, True
        if answer.code // 100 == 5:
            yield self.remember(self.bad, sender)
            self.recall(sender, BAD)
            return Reply("517", f"MX server {host} said:",
                         f"Sender does not exist: {sender}"), True
        return Reply("421", "Unable to validate sender address.",
                     f"MX server {host} provided unknown reply"), False


FILTER = Dialback
