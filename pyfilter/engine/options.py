"""
The typed options a filter declares, and the checks that convert or refuse
their values.

An L{Option} has the reference's default and a check: a function that
returns the value to use (converted where needed) or raises L{ValueError}
saying what was expected; the framework reports the file, section and
option around it.
"""

import re

from pyfilter.engine.reply import CONTINUE, Reply


class Option:
    """
    A filter option: its default and a check that converts or refuses a
    value (raising L{ValueError} with what was expected).
    """

    def __init__(self, default, check, doc=""):
        self.default = default
        self.check = check
        self.doc = doc


def _expect(condition, expected):
    if not condition:
        raise ValueError(f"expected {expected}")


def nonNegativeInteger(value):
    _expect(isinstance(value, int) and not isinstance(value, bool)
            and value >= 0, "a non-negative integer")
    return value


def positiveInteger(value):
    _expect(isinstance(value, int) and not isinstance(value, bool)
            and value > 0, "a positive integer")
    return value


def number(value):
    _expect(isinstance(value, (int, float)) and not isinstance(value, bool),
            "a number")
    return value


def positiveNumber(value):
    _expect(isinstance(value, (int, float)) and not isinstance(value, bool)
            and value > 0, "a positive number")
    return value


def boolean(value):
    """
    Booleans, and the integers 0 and 1 the reference's configs also use.
    """
    _expect(isinstance(value, bool) or value in (0, 1), "True or False")
    return bool(value)


def string(value):
    _expect(isinstance(value, str), "a string")
    return value


def optional(check):
    def checkOptional(value):
        return None if value is None else check(value)
    return checkOptional


def stringList(value):
    _expect(isinstance(value, (list, tuple))
            and all(isinstance(item, str) for item in value),
            "a list of strings")
    return list(value)


def regex(flags=0):
    def checkRegex(value):
        _expect(isinstance(value, str), "a regular expression string")
        try:
            return re.compile(value, flags)
        except re.error as e:
            raise ValueError(f"an invalid regular expression: {e}") from None
    return checkRegex


def mapping(checkKey, checkValue):
    def checkMapping(value):
        _expect(isinstance(value, dict), "a dictionary")
        return {checkKey(k): checkValue(v) for k, v in value.items()}
    return checkMapping


def port(value):
    """
    A TCP port number.
    """
    _expect(isinstance(value, int) and not isinstance(value, bool)
            and 0 < value < 65536, "a port number")
    return value


def prefixLength(bits):
    """
    A network prefix length of at most C{bits} (32 for IPv4, 128 for IPv6).
    """
    def checkPrefix(value):
        _expect(isinstance(value, int) and not isinstance(value, bool)
                and 0 <= value <= bits, f"a prefix length of at most {bits}")
        return value
    return checkPrefix


def oneOf(*choices):
    """
    One of C{choices}.
    """
    def checkChoice(value):
        _expect(value in choices,
                " or ".join(repr(choice) for choice in choices))
        return value
    return checkChoice


def address(value):
    """
    A service address: an absolute UNIX socket path or C{host:port}
    (C{[v6address]:port} for IPv6).
    """
    _expect(isinstance(value, str), "a socket path or 'host:port'")
    if value.startswith("/"):
        return value
    match = _HOST_PORT.match(value)
    _expect(match is not None and 0 < int(match.group(2)) < 65536,
            "a socket path or 'host:port'")
    return value


_HOST_PORT = re.compile(r"^\[?([^\[\]]+?)\]?:(\d{1,5})$")


def hostAndPort(value):
    """
    The C{(host, port)} of a C{host:port} L{address}.
    """
    host, port = _HOST_PORT.match(value).groups()
    return host, int(port)


def reply(value):
    """
    A reply in the reference's form, C{"451 text"} (C{"517-first\\n517
    last"} for several lines), kept as text: fields such as C{{reason}} are
    filled in when it is given.
    """
    _expect(isinstance(value, str) and Reply.looksLikeReply(value),
            "a reply such as '451 text'")
    return value


def replyOr(*words):
    """
    A reply (see L{reply}) or one of C{words}.
    """
    def checkReplyOr(value):
        if value in words:
            return value
        _expect(isinstance(value, str) and Reply.looksLikeReply(value),
                "a reply such as '451 text', or "
                + " or ".join(repr(word) for word in words))
        return value
    return checkReplyOr


def onError(value):
    """
    What a filter answers when a service it needs cannot answer: a reply
    (see L{reply}; C{{reason}} is replaced by the reason), or C{'continue'}:
    no opinion, the chain goes on (the admin's explicit choice to let mail
    pass unchecked).
    """
    return replyOr(CONTINUE)(value)
