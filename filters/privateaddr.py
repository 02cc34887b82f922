"""
privateaddr: only approved senders may write to private recipient
addresses.

A recipient is checked by its original address (the C{R} record, without
C{rfc822;}) when Courier has one, else by its address (C{r}), lower-cased
when Courier's C{locallowercase} exists.  When a recipient is private and
the envelope sender is not approved, the whole message is refused (Courier's
filters decide for all recipients at once), and the refusal is logged as
C{Message to <rcpt> from <sender> refused by privateaddr.py}.

An LDAP directory (C{ldap_url}) can list the allowed senders too; it is
used for the recipients not in C{private_rcpts}.  Its options and their
defaults: C{pyfilter check --help-filter privateaddr}.  When the directory
cannot answer the filter answers its C{on_error}, C{{reason}} replaced by
the reason (the reference's name C{unavailable_reply} is read too).

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
        "private_rcpts": Option(
            {}, mapping(string, patternList),
            "recipient address to a list of regular expressions of the "
            "senders allowed; a sender is allowed when a pattern matches "
            "all of it (courier-pythonfilter only anchored the start: write "
            ".* where a prefix is meant), case-sensitively (use (?i) "
            "otherwise); the default makes nothing private (the "
            "reference's was one site's own policy)"),
        "ldap_url": Option(None, optional(ldapURL),
                           "'ldap://host[:port]' of the directory; None: "
                           "no directory"),
        "ldap_base_dn": Option("", string,
                               "where to search (required with ldap_url)"),
        "ldap_filter": Option("(mail=%s)", ldap.checkFilterTemplate,
                              "the search filter, %s standing for the "
                              "recipient address (escaped)"),
        "ldap_attribute": Option("allowedSender", string,
                                 "the attribute of the found entries "
                                 "listing the allowed senders: a whole "
                                 "address, or @domain for every sender of "
                                 "that domain (case-insensitive); a "
                                 "recipient is private when it has values"),
        "ldap_bind_dn": Option(None, optional(string),
                               "DN of a simple bind before searching; "
                               "None: anonymous"),
        "ldap_bind_password": Option("", string,
                                     "password of the simple bind"),
        "ldap_timeout": Option(10.0, positiveNumber,
                               "seconds for a lookup, waiting included"),
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
