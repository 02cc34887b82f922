"""
Allowed senders per recipient address from an LDAP directory, through
ldaptor: one search (base DN, a filter made from the address) per lookup,
on a fresh connection bounded like every service connection, with answers
kept in a bounded least-recently-used cache for a time.
"""

import collections
import urllib.parse

from ldaptor.protocols import pureldap
from twisted.internet import defer
from ldaptor.protocols.ldap import ldapclient, ldaperrors, ldapsyntax
from ldaptor.ldapfilter import InvalidLDAPFilter, parseFilter

from pyfilter.clients.base import ServiceClient, ServiceError


def parseURL(url):
    """
    C{host:port} from an C{ldap://host[:port]} URL; raise L{ValueError}
    for anything else.
    """
    parts = urllib.parse.urlsplit(url)
    if parts.scheme != "ldap" or not parts.hostname:
        raise ValueError("expected ldap://host[:port]")
    host = parts.hostname
    if ":" in host:
        host = f"[{host}]"
    return f"{host}:{parts.port or 389}"


def checkFilterTemplate(template):
    """
    Raise L{ValueError} unless C{template} (with C{%s} for the address) is
    a valid LDAP filter.
    """
    try:
        parseFilter(template.replace("%s", "x"))
    except InvalidLDAPFilter as e:
        raise ValueError(f"an invalid LDAP filter: {e}") from None
    return template


class TTLCache:
    """
    At most C{size} entries, each valid for C{ttl} seconds of C{clock}; the
    least recently used entry goes first.
    """

    _MISSING = object()

    def __init__(self, clock, ttl, size):
        self.clock = clock
        self.ttl = ttl
        self.size = size
        self.entries = collections.OrderedDict()

    def get(self, key, default=None):
        entry = self.entries.get(key, self._MISSING)
        if entry is self._MISSING:
            return default
        expires, value = entry
        if expires <= self.clock.seconds():
            del self.entries[key]
            return default
        self.entries.move_to_end(key)
        return value

    def put(self, key, value):
        if self.size <= 0:
            return
        self.entries[key] = (self.clock.seconds() + self.ttl, value)
        self.entries.move_to_end(key)
        while len(self.entries) > self.size:
            self.entries.popitem(last=False)


class LdapSource:
    """
    @param filterTemplate: an LDAP filter with C{%s} where the (escaped)
        recipient address goes, such as C{(mail=%s)}.
    @param attribute: the attribute listing the allowed senders.
    """

    _NOT_CACHED = object()

    def __init__(self, reactor, url, baseDN, filterTemplate, attribute,
                 bindDN=None, bindPassword="", timeout=10.0,
                 maxConnections=4, cacheTTL=300.0, cacheSize=1000):
        self.client = ServiceClient(reactor, "the LDAP server", parseURL(url),
                                    timeout, maxConnections)
        self.baseDN = baseDN
        self.filterTemplate = filterTemplate
        self.attribute = attribute
        self.bindDN = bindDN
        self.bindPassword = bindPassword
        self.cache = TTLCache(reactor, cacheTTL, cacheSize)

    def allowedSenders(self, address):
        """
        The senders allowed to write to C{address}, lower-cased: a
        frozenset, empty when the directory restricts nothing for it.

        @return: a Deferred; it fails with L{ServiceError} when the
            directory cannot answer.
        """
        key = address.lower()
        cached = self.cache.get(key, self._NOT_CACHED)
        if cached is not self._NOT_CACHED:
            return defer.succeed(cached)
        d = self.client.converse(ldapclient.LDAPClient(),
                                 lambda client: self._search(client, key))

        def remember(senders):
            self.cache.put(key, senders)
            return senders
        return d.addCallback(remember)

    async def _search(self, client, address):
        text = self.filterTemplate.replace("%s", pureldap.escape(address))
        try:
            if self.bindDN:
                await client.bind(self.bindDN, self.bindPassword)
            entries = await ldapsyntax.LDAPEntry(client, self.baseDN).search(
                filterText=text, attributes=[self.attribute])
        except ldaperrors.LDAPException as e:
            raise ServiceError(f"LDAP error: {e}") from e
        senders = set()
        for entry in entries:
            for value in entry.get(self.attribute, ()):
                if isinstance(value, bytes):
                    value = value.decode("utf-8", "replace")
                senders.add(value.strip().lower())
        return frozenset(senders)
