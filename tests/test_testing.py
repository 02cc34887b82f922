"""
Tests for pyfilter.testing, and for the filters written on pyfilter.bases
with it (dnsbl, whitelist_dnswl).
"""

import os

from twisted.trial import unittest

import pyfilter
from pyfilter import testing
from pyfilter.engine.reply import OK, Reply

LISTED = "2.2.0.192.bl.example"


class HarnessTests(unittest.TestCase):
    def test_messageEnvelope(self):
        """A message has the envelope it was given, as Courier records it."""
        harness = testing.Harness(self, "whitelist_auth")
        message = harness.message(
            sender="a@example.org", recipients=["b@example.test",
                                                ("c@example.test", "rfc822;x",
                                                 "F")],
            ip="192.0.2.2", helo="mx.example.org", auth="alice")
        self.assertEqual(message.sender, "a@example.org")
        self.assertEqual([r.triple for r in message.recipients],
                         [("b@example.test", "", ""),
                          ("c@example.test", "rfc822;x", "F")])
        self.assertEqual(str(message.remoteIP), "192.0.2.2")
        self.assertEqual(message.helo, "mx.example.org")
        self.assertEqual(message.authUser, "alice")

    def test_messageFromEml(self):
        """A saved message becomes the data file."""
        eml = self.mktemp()
        with open(eml, "wb") as f:
            f.write(b"Subject: saved\n\nbody\n")
        harness = testing.Harness(self, "whitelist_auth")
        message = harness.message(eml=eml)
        self.assertEqual(message.header("Subject"), ["saved"])

    def test_localMail(self):
        """Without ip, the message is local: no client address."""
        harness = testing.Harness(self, "whitelist_auth")
        self.assertIsNone(harness.message().remoteIP)

    def test_temporaryFilesRemoved(self):
        """Closing the harness removes its files."""
        harness = testing.Harness(None, "whitelist_auth")
        path = harness.message().dataPath
        harness.close()
        self.assertFalse(os.path.exists(path))

    def test_sysconfdir(self):
        """An existing Courier configuration directory is read as it is
        and left in place; it replaces the courier files, so giving both
        is an error."""
        sysconfdir = self.mktemp()
        os.makedirs(sysconfdir)
        with open(os.path.join(sysconfdir, "me"), "w") as f:
            f.write("mx.example.org\n")
        harness = testing.Harness(None, "whitelist_auth",
                                  sysconfdir=sysconfdir)
        self.assertEqual(harness.context.courier.me(), "mx.example.org")
        harness.close()
        self.assertTrue(os.path.exists(os.path.join(sysconfdir, "me")))
        self.assertRaises(ValueError, testing.Harness, self,
                          "whitelist_auth", courier={"me": "x\n"},
                          sysconfdir=sysconfdir)

    def test_all(self):
        """pyfilter and pyfilter.testing export what their __all__ lists,
        and every class and function pyfilter.testing defines is listed."""
        for module in (pyfilter, testing):
            for name in module.__all__:
                self.assertTrue(hasattr(module, name), name)
        defined = {name for name, value in vars(testing).items()
                   if not name.startswith("_") and callable(value)
                   and value.__module__ == testing.__name__}
        self.assertLessEqual(defined, set(testing.__all__))


class DNSBLTests(unittest.TestCase):
    def harness(self, zones="{'bl.example': None}", dns=None, extra=""):
        return testing.Harness(self, "dnsbl", f"zones = {zones}\n{extra}",
                               dns=dns)

    def test_listed(self):
        """A client listed in a zone gets the default reply."""
        harness = self.harness(dns={LISTED: ["127.0.0.2"]})
        reply = harness.decide(harness.message(ip="192.0.2.2"))
        self.assertEqual(reply, Reply(
            "554", "5.7.1 Service unavailable; client [192.0.2.2] blocked "
            "using bl.example"))

    def test_notListed(self):
        """A client no zone lists gets no opinion; so does local mail."""
        harness = self.harness()
        self.assertIsNone(harness.decide(harness.message(ip="192.0.2.2")))
        self.assertIsNone(harness.decide(harness.message()))

    def test_zoneReplyAndOrder(self):
        """The first listing zone in the configured order gives its own
        reply, with the fields filled in; all zones are asked at once."""
        harness = self.harness(
            "{'first.example': '550 {ip} in {zone} as {answer}', "
            "'bl.example': None}",
            dns={LISTED: ["127.0.0.2"],
                 "2.2.0.192.first.example": ["127.0.0.4"]})
        reply = harness.decide(harness.message(ip="192.0.2.2"))
        self.assertEqual(reply, Reply("550", "192.0.2.2 in first.example as "
                                      "127.0.0.4"))
        self.assertEqual(len(harness.resolver.asked), 2)

    def test_ipv6(self):
        """An IPv6 client is looked up by its reversed nibbles."""
        name = ".".join(reversed("20010db8000000000000000000000001")) \
            + ".bl.example"
        harness = self.harness(dns={name: ["127.0.0.2"]})
        reply = harness.decide(harness.message(ip="2001:db8::1"))
        self.assertEqual(reply.code, "554")

    def test_answersOutsideLoopbackIgnored(self):
        """Answers outside 127.0.0.0/8, and the lists' error codes in
        127.255.255.0/24, list nobody."""
        harness = self.harness(dns={LISTED: ["192.0.2.99",
                                             "127.255.255.254"]})
        self.assertIsNone(harness.decide(harness.message(ip="192.0.2.2")))

    def test_failureContinuesByDefault(self):
        """A zone that fails lists nobody: no opinion, unless another zone
        lists the client."""
        harness = self.harness(
            "{'broken.example': None, 'bl.example': None}",
            dns={"2.2.0.192.broken.example": testing.SERVFAIL})
        self.assertIsNone(harness.decide(harness.message(ip="192.0.2.2")))
        harness.resolver.records[LISTED] = ["127.0.0.2"]
        self.assertEqual(
            harness.decide(harness.message(ip="192.0.2.2")).code, "554")

    def test_onError(self):
        """on_error applies when no zone lists and one failed."""
        harness = self.harness(
            dns={LISTED: testing.SERVFAIL},
            extra="on_error = '451 4.7.1 DNSBL unavailable: {reason}'")
        reply = harness.decide(harness.message(ip="192.0.2.2"))
        self.assertEqual(reply.code, "451")
        self.assertIn("DNSBL unavailable: DNS lookup of " + LISTED,
                      reply.lines[0])

    def test_silentServerBoundedByDnsTimeout(self):
        """A server that never answers costs at most dns_timeout seconds."""
        harness = self.harness(dns={LISTED: testing.SILENT},
                               extra="on_error = '451 no answer'")
        reply = harness.decide(harness.message(ip="192.0.2.2"))
        self.assertEqual(reply, Reply("451", "no answer"))
        self.assertEqual(harness.clock.seconds(), 5)

    def test_testingMode(self):
        """In testing mode a listed client gets no opinion."""
        harness = self.harness(dns={LISTED: ["127.0.0.2"]},
                               extra="testing = True")
        self.assertIsNone(harness.decide(harness.message(ip="192.0.2.2")))

    def test_noZonesIsConfigError(self):
        """dnsbl without zones does not start."""
        self.assertRaises(pyfilter.ConfigError, testing.Harness, self,
                          "dnsbl")


class WhitelistDNSWLTests(unittest.TestCase):
    def decide(self, answers, config=""):
        harness = testing.Harness(
            self, "whitelist_dnswl", config,
            dns={"2.2.0.192.list.dnswl.org": answers})
        return harness.decide(harness.message(ip="192.0.2.2"))

    def test_listed(self):
        """A listed client is accepted."""
        self.assertEqual(self.decide(["127.0.10.0"]), OK)

    def test_refused(self):
        """127.0.0.255 (query refused) does not whitelist."""
        self.assertIsNone(self.decide(["127.0.0.255"]))

    def test_minTrust(self):
        """min_trust is the lowest last octet that whitelists."""
        self.assertIsNone(self.decide(["127.0.10.1"], "min_trust = 2"))
        self.assertEqual(self.decide(["127.0.10.2"], "min_trust = 2"), OK)

    def test_failure(self):
        """A DNS failure gives no opinion."""
        self.assertIsNone(self.decide(testing.SERVFAIL))


class DocumentationTests(unittest.TestCase):
    def test_dnsblExampleIsTheFilter(self):
        """The filter docs/writing-filters.md builds is filters/dnsbl.py
        (its code, after the module's docstring), well under 40 lines."""
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        with open(os.path.join(root, "docs", "writing-filters.md")) as f:
            document = f.read()
        example = document.split("```python\n", 1)[1].split("```", 1)[0]
        with open(os.path.join(root, "filters", "dnsbl.py")) as f:
            source = f.read()
        code = source.split('"""', 2)[2].lstrip("\n")
        self.assertEqual(example, code)
        lines = [line for line in code.splitlines() if line.strip()]
        self.assertLess(len(lines), 30)
