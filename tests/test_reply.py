from twisted.trial.unittest import SynchronousTestCase

from pyfilter.engine.reply import Reply


class ReplyTests(SynchronousTestCase):
    def test_singleLine(self):
        """A one-line reply is the code, a space, the text and a newline."""
        self.assertEqual(Reply("451", "later").toBytes(), b"451 later\n")

    def test_multiLine(self):
        """Every line but the last carries a '-' continuation marker."""
        self.assertEqual(Reply("517", "a", "b", "c").toBytes(),
                         b"517-a\n517-b\n517 c\n")

    def test_controlCharactersRemoved(self):
        """CR, LF and other control characters never reach the reply."""
        reply = Reply("517", "Sender does not exist: evil\r\n250 ok\x00")
        self.assertEqual(reply.toBytes(),
                         b"517 Sender does not exist: evil250 ok\n")

    def test_badCode(self):
        """A code that is not three digits is refused."""
        for code in ("45", "4511", "abc", ""):
            self.assertRaises(ValueError, Reply, code, "x")

    def test_fromStringMultiLine(self):
        """The reference's multi-line strings keep every line."""
        reply = Reply.fromString("517-MX server mx said:\n517 Sender does "
                                 "not exist: a@b")
        self.assertEqual(reply, Reply("517", "MX server mx said:",
                                      "Sender does not exist: a@b"))

    def test_fromStringMalformedContinuation(self):
        """Lines without a code are kept under the first line's code."""
        reply = Reply.fromString(
            "421-Unable to validate sender address.421 MX server mx "
            "provided unknown reply\n")
        self.assertEqual(reply.code, "421")
        self.assertEqual(reply.toBytes().count(b"\n"), 1)

    def test_fromStringNoCode(self):
        """Text without a code becomes a temporary failure."""
        self.assertEqual(Reply.fromString("hello").code, "451")

    def test_classes(self):
        """2xx and 0xx accept."""
        self.assertTrue(Reply("200", "Ok").accepts)
        self.assertTrue(Reply("050", "OK").accepts)
        self.assertFalse(Reply("451", "x").accepts)


class TemplateTests(SynchronousTestCase):
    def test_looksLikeReply(self):
        """A reply starts with three digits and a space, a dash or its
        end."""
        for text in ("451 text", "517-first\n517 last", "250"):
            self.assertTrue(Reply.looksLikeReply(text), text)
        for text in ("", "45 x", "4510 x", "451x", "text", "continue"):
            self.assertFalse(Reply.looksLikeReply(text), text)

    def test_fromTemplate(self):
        """Named fields are filled in; other braces are left alone."""
        self.assertEqual(
            Reply.fromTemplate("451 {reason} {other} {", reason="down"),
            Reply("451", "down {other} {"))
