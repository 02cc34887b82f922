"""
Tests for the privateaddr filter: its static rules, and its LDAP source
against a real slapd (tests/fixtures/ldap).
"""

from twisted.internet import defer
from twisted.internet.task import Clock
from twisted.logger import capturedLogs
from twisted.trial import unittest

from pyfilter import testing
from pyfilter.config.errors import ConfigError
from pyfilter.clients.ldap import TTLCache
from pyfilter.engine.reply import Reply
from tests import services
from tests.helpers import writeMessage

REFUSED = Reply("517", "Sender is not allowed by privacy settings.")
STATIC = ("private_rcpts = {'help@example.test': "
          "['[^@]*@example\\\\.test', 'boss@partner\\\\.test']}\n")


def records(sender, *recipients):
    lines = [f"s{sender}"]
    for address, original in recipients:
        lines += [f"r{address}", f"R{original}", "N"]
    return lines


def decide(testCase, sender, *recipients, config=STATIC, courier=None):
    """
    The privateaddr filter's answer, started by L{testing.Harness} with
    C{config}, for mail from C{sender} to C{recipients} (C{(address,
    original)} pairs).
    """
    harness = testing.Harness(testCase, "privateaddr", config,
                              courier=courier)
    return harness.decide(harness.message(
        sender=sender, recipients=[(address, original, "")
                                   for address, original in recipients]))


class StaticTests(unittest.TestCase):
    def test_defaultEmpty(self):
        """With the default options nothing is private."""
        self.assertIsNone(decide(self, "x@evil.example",
                                 ("help@example.test", ""), config=""))

    def test_allowed(self):
        """A sender matching a pattern may write to a private address."""
        self.assertIsNone(decide(self, "alice@example.test",
                                 ("help@example.test", "")))

    def test_refused(self):
        """Another sender is refused, and the refusal is logged."""
        with capturedLogs() as events:
            reply = decide(self, "x@evil.example", ("bob@example.test", ""),
                           ("help@example.test", ""))
        self.assertEqual(reply, REFUSED)
        self.assertTrue([event for event in events if
                         "refused by privateaddr.py" in event["log_format"]])

    def test_fullMatch(self):
        """Patterns must match the whole sender, not only its start."""
        self.assertEqual(decide(self, "boss@partner.test.evil.example",
                                ("help@example.test", "")), REFUSED)

    def test_nullSender(self):
        """The null sender is refused for a private address."""
        self.assertEqual(decide(self, "", ("help@example.test", "")),
                         REFUSED)

    def test_originalRecipient(self):
        """The original recipient (R, without rfc822;) is what is checked."""
        self.assertEqual(decide(self, "x@evil.example",
                                ("alias-target@example.test",
                                 "rfc822;help@example.test")), REFUSED)

    def test_locallowercase(self):
        """With locallowercase the recipient is compared lower-cased."""
        recipient = ("Help@Example.TEST", "")
        self.assertIsNone(decide(self, "x@evil.example", recipient))
        self.assertEqual(decide(self, "x@evil.example", recipient,
                                courier={"locallowercase": ""}), REFUSED)

    def test_badPattern(self):
        """An invalid pattern is a configuration error."""
        self.assertRaises(ConfigError, testing.Harness, self, "privateaddr",
                          "private_rcpts = {'a@b': ['(']}")

    def test_badLdapFilter(self):
        """An invalid LDAP filter template is a configuration error."""
        self.assertRaises(ConfigError, testing.Harness, self, "privateaddr",
                          "ldap_url = 'ldap://localhost'\n"
                          "ldap_base_dn = 'dc=x'\nldap_filter = '(mail=%s'\n")


class TTLCacheTests(unittest.TestCase):
    def test_expires(self):
        """An entry is forgotten after its time to live."""
        clock = Clock()
        cache = TTLCache(clock, 10, 5)
        cache.put("a", 1)
        clock.advance(9)
        self.assertEqual(cache.get("a"), 1)
        clock.advance(1)
        self.assertIsNone(cache.get("a"))

    def test_bounded(self):
        """Beyond its size the least recently used entry goes."""
        cache = TTLCache(Clock(), 10, 2)
        cache.put("a", 1)
        cache.put("b", 2)
        cache.get("a")
        cache.put("c", 3)
        self.assertEqual([cache.get(k) for k in "abc"], [1, None, 3])


class LdapTests(unittest.TestCase):
    def setUp(self):
        self.slapd = services.shared(services.Slapd)

    def privateaddr(self, **options):
        options = dict({"ldap_url": self.slapd.url,
                        "ldap_base_dn": self.slapd.baseDN,
                        "ldap_attribute": "pyfilterAllowedSender",
                        "ldap_timeout": 2}, **options)
        text = "[privateaddr.py]\n" + "".join(
            f"{name} = {value!r}\n" for name, value in options.items())
        return services.serviceFilter(self, "privateaddr", text)

    def message(self, sender, recipient="help@example.test"):
        return writeMessage(self, records(sender, (recipient, "")))

    @defer.inlineCallbacks
    def test_allowedSenders(self):
        """Listed addresses (any case) and @domain entries may write."""
        privateaddr = self.privateaddr()
        for sender in ("staff@example.test", "boss@example.test",
                       "anyone@partner.test"):
            self.assertIsNone((yield privateaddr.consider(
                self.message(sender))))

    @defer.inlineCallbacks
    def test_refused(self):
        """Other senders are refused."""
        reply = yield self.privateaddr().consider(
            self.message("x@evil.example"))
        self.assertEqual(reply, REFUSED)

    @defer.inlineCallbacks
    def test_notPrivate(self):
        """Entries without the attribute, and unknown addresses, are open."""
        privateaddr = self.privateaddr()
        for recipient in ("alice@example.test", "nobody@example.test"):
            self.assertIsNone((yield privateaddr.consider(
                self.message("x@evil.example", recipient))))

    @defer.inlineCallbacks
    def test_bind(self):
        """A bind DN and password are used before searching."""
        reply = yield self.privateaddr(
            ldap_bind_dn=self.slapd.adminDN,
            ldap_bind_password=self.slapd.adminPassword).consider(
            self.message("x@evil.example"))
        self.assertEqual(reply, REFUSED)

    @defer.inlineCallbacks
    def test_badPassword(self):
        """A refused bind gives the configured 451."""
        reply = yield self.privateaddr(
            ldap_bind_dn=self.slapd.adminDN,
            ldap_bind_password="wrong").consider(
            self.message("x@evil.example"))
        self.assertEqual(reply.code, "451")

    @defer.inlineCallbacks
    def test_cachedThenDownThenBack(self):
        """Answers are cached; an uncached lookup with slapd down gives 451;
        a restarted slapd is used again."""
        privateaddr = self.privateaddr()
        self.assertEqual((yield privateaddr.consider(
            self.message("x@evil.example"))), REFUSED)
        self.slapd.pause()
        try:
            self.assertEqual((yield privateaddr.consider(
                self.message("x@evil.example"))), REFUSED)
            reply = yield privateaddr.consider(
                self.message("x@evil.example", "alice@example.test"))
        finally:
            self.slapd.start()
        self.assertEqual(reply, Reply(
            "451", "Cannot check privacy settings now, try again later"))
        self.assertIsNone((yield privateaddr.consider(
            self.message("x@evil.example", "alice@example.test"))))
