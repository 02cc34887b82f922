"""
privateaddr: only approved senders may write to private recipient
addresses.

A recipient is checked by its original address (the C{R} record, without
C{rfc822;}) when Courier has one, else by its address (C{r}), lower-cased
when Courier's C{locallowercase} exists.  When a recipient is private and
the envelope sender is not approved, the whole message is refused (Courier's
filters decide for all recipients at once), and the refusal is logged as
C{Message to <rcpt> from <sender> refused by privateaddr.py}.

Options (section C{[privateaddr.py]}):

  - C{private_rcpts}: recipient address to a list of regular expressions
    of the senders allowed.  A sender is allowed when a pattern matches all
    of it (courier-pythonfilter only anchored the start: write C{.*} where
    a prefix is meant), case-sensitively (use C{(?i)} otherwise).  Default
    C{{}}: nothing is private (the reference's default was one site's own
    policy).

  An LDAP directory can list the allowed senders too (it is used for the
  recipients not in C{private_rcpts}):

  - C{ldap_url}: C{'ldap://host[:port]'}; default C{None}, no directory.
  - C{ldap_base_dn}: where to search.  Default C{''}.
  - C{ldap_filter}: the search filter, C{%s} standing for the recipient
    address (escaped).  Default C{'(mail=%s)'}.
  - C{ldap_attribute}: the attribute of the found entries listing the
    allowed senders; a value is a whole address, or C{@domain} for every
    sender of that domain (case-insensitive).  A recipient is private when
    this attribute has values.  Default C{'allowedSender'}.
  - C{ldap_bind_dn}, C{ldap_bind_password}: a simple bind before searching;
    default C{None} (anonymous).
  - C{ldap_timeout}: seconds for a lookup, waiting included (default 10).
  - C{ldap_max_connections}: concurrent connections (default 4).
  - C{ldap_cache_ttl}: seconds an answer is kept (default 300).
  - C{ldap_cache_size}: answers kept at most (default 10000).
  - C{unavailable_reply}: the reply when the directory cannot answer;
    C{{reason}} is replaced by the reason.  Default
    C{'451 Cannot check privacy settings now, try again later'}.

Reply: C{517 Sender is not allowed by privacy settings.}
"""

import re

from twisted.internet import defer

from pyfilter.clients import ldap
from pyfilter.config.errors import ConfigError
from pyfilter.engine.filter import Filter
from pyfilter.engine.options import (
    Option,
    mapping,
    nonNegativeInteger,
    optional,
    positiveInteger,
    positiveNumber,
    string,
    stringList)
from pyfilter.engine.reply import Reply

REFUSED = Reply("517", "Sender is not allowed by privacy settings.")


def patternList(value):
    try:
        return [re.compile(pattern) for pattern in stringList(value)]
    except re.error as e:
        raise ValueError(f"an invalid regular expression: {e}") from None


def ldapURL(value):
    ldap.parseURL(string(value))
    return value


def recipientAddress(recipient, lowercase):
    original = recipient.original
    if original.lower().startswith("rfc822;"):
        original = original[len("rfc822;"):]
    address = original or recipient.address
    return address.lower() if lowercase else address


def senderAllowed(sender, allowed):
    """
    Whether C{sender} is in the directory's C{allowed} set (addresses and
    C{@domain} entries, lower-cased).
    """
    sender = sender.lower()
    return sender in allowed or (
        "@" in sender and "@" + sender.rpartition("@")[2] in allowed)


class PrivateAddr(Filter):
    options = {
        "private_rcpts": Option({}, mapping(string, patternList),
                                "recipient to allowed sender patterns"),
        "ldap_url": Option(None, optional(ldapURL), "ldap://host[:port]"),
        "ldap_base_dn": Option("", string, "search base"),
        "ldap_filter": Option("(mail=%s)", ldap.checkFilterTemplate,
                              "search filter, %s is the recipient"),
        "ldap_attribute": Option("allowedSender", string,
                                 "attribute listing allowed senders"),
        "ldap_bind_dn": Option(None, optional(string), "bind DN"),
        "ldap_bind_password": Option("", string, "bind password"),
        "ldap_timeout": Option(10.0, positiveNumber, "seconds for a lookup"),
        "ldap_max_connections": Option(4, positiveInteger,
                                       "concurrent LDAP connections"),
        "ldap_cache_ttl": Option(300.0, positiveNumber,
                                 "seconds an answer is kept"),
        "ldap_cache_size": Option(10000, nonNegativeInteger,
                                  "answers kept at most"),
    }
    onError = "451 Cannot check privacy settings now, try again later"

    def start(self):
        self.directory = None
        if self.config["ldap_url"]:
            if not self.config["ldap_base_dn"]:
                raise ConfigError("[privateaddr.py] ldap_base_dn must be set "
                                  "with ldap_url")
            self.directory = ldap.LdapSource(
                self.context.reactor, self.config["ldap_url"],
                self.config["ldap_base_dn"], self.config["ldap_filter"],
                self.config["ldap_attribute"], self.config["ldap_bind_dn"],
                self.config["ldap_bind_password"],
                self.config["ldap_timeout"],
                self.config["ldap_max_connections"],
                self.config["ldap_cache_ttl"], self.config["ldap_cache_size"])

    def match(self, message):
        sender = message.sender or ""
        lowercase = self.context.courier.locallowercase()
        rules = self.config["private_rcpts"]
        others = []
        for recipient in message.recipients:
            address = recipientAddress(recipient, lowercase)
            patterns = rules.get(address)
            if patterns is None:
                others.append(address)
            elif not any(p.fullmatch(sender) for p in patterns):
                return self._refuse(message, address, sender)
        if self.directory is None or not others:
            return None
        return defer.Deferred.fromCoroutine(
            self._askDirectory(message, others, sender))

    async def _askDirectory(self, message, addresses, sender):
        for address in dict.fromkeys(addresses):
            allowed = await self.directory.allowedSenders(address)
            if allowed and not senderAllowed(sender, allowed):
                return self._refuse(message, address, sender)
        return None

    def _refuse(self, message, address, sender):
        self.log.info("Message to {rcpt} from {sender} refused by "
                      "privateaddr.py", rcpt=address, sender=sender)
        return REFUSED


FILTER = PrivateAddr
