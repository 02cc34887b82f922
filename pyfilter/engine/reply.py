"""
SMTP-style replies sent back to courierfilter.

A filter answers ``None`` (no opinion: go on with the chain) or a L{Reply}.
Replies are always well formed on the wire: a three-digit code on every
line, ``-`` continuation markers on all but the last line, no control
characters inside the text (so a sender address embedded in a reply can
never inject a line into Courier's answer).
"""

import re

_CODE = re.compile(r"^(\d{3})([ -]?)(.*)$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def clean(text):
    """
    Remove control characters (CR, LF, NUL, ...) from text that is about to
    be embedded in a reply.
    """
    return _CONTROL.sub("", text)


class Reply:
    """
    A reply of one or more lines sharing one three-digit code.

    @ivar code: the code as text, such as C{"451"} or C{"050"}.
    @ivar lines: the text of each line, without code.
    """

    __slots__ = ("code", "lines")

    def __init__(self, code, *lines):
        code = str(code)
        if not (len(code) == 3 and code.isdigit()):
            raise ValueError(f"reply code must be three digits: {code!r}")
        self.code = code
        self.lines = tuple(clean(line) for line in lines) or ("",)

    @classmethod
    def fromString(cls, text):
        """
        Parse a reply in the reference's string form (``"451 text"`` or
        ``"517-first\\n517 last"``); the code of the first line applies to
        every line.  Text without a leading code becomes a 451 reply carrying
        that text, since it cannot be passed to Courier as it is.
        """
        rawLines = [line for line in text.replace("\r", "").split("\n")
                    if line.strip()]
        if not rawLines:
            raise ValueError("empty reply")
        first = _CODE.match(rawLines[0])
        if first is None:
            return cls("451", *rawLines)
        code = first.group(1)
        lines = [first.group(3)]
        for line in rawLines[1:]:
            match = _CODE.match(line)
            lines.append(match.group(3) if match else line)
        return cls(code, *lines)

    @staticmethod
    def looksLikeReply(text):
        """
        C{True} when C{text} starts with a three-digit code followed by a
        space, a dash or its end: a reply in the reference's form.
        """
        match = _CODE.match(text.split("\n", 1)[0])
        return match is not None and bool(match.group(2) or not match.group(3))

    @classmethod
    def fromTemplate(cls, template, **fields):
        """
        The reply of a configured template such as C{"451 {reason}"}: each
        C{{name}} of C{fields} is replaced by its value, cleaned of control
        characters so that a value (a sender's domain, say) can never add a
        line; other braces are left alone, so an admin's text can never
        break the formatting.
        """
        for name, value in fields.items():
            template = template.replace("{" + name + "}", clean(str(value)))
        return cls.fromString(template)

    @property
    def digit(self):
        return self.code[0]

    @property
    def accepts(self):
        """
        C{True} for 2xx and 0xx replies: Courier accepts the message.
        """
        return self.digit in "02"

    def toBytes(self):
        last = len(self.lines) - 1
        return "".join(
            f"{self.code}{' ' if i == last else '-'}{line}\n"
            for i, line in enumerate(self.lines)).encode("utf-8")

    def __str__(self):
        return self.toBytes().decode("utf-8").rstrip("\n").replace("\n", " | ")

    def __repr__(self):
        return f"Reply({self.code!r}, {', '.join(map(repr, self.lines))})"

    def __eq__(self, other):
        if not isinstance(other, Reply):
            return NotImplemented
        return (self.code, self.lines) == (other.code, other.lines)

    def __hash__(self):
        return hash((self.code, self.lines))


OK = Reply("200", "Ok")

#: An option value meaning "no opinion, go on with the chain" where a reply
#: could be configured (C{on_error = 'continue'}).
CONTINUE = "continue"

#: The reference's answer when a control file cannot be read or holds an
#: unusable value (for example a malformed client address).
CONTROL_FAILURE = Reply("451", "Internal failure locating control files")
