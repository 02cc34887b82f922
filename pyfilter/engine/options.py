"""
The typed options a filter declares, and the checks that convert or refuse
their values.

An L{Option} has the reference's default and a check: a function that
returns the value to use (converted where needed) or raises L{ValueError}
saying what was expected; the framework reports the file, section and
option around it.
"""

import re


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


def integer(value):
    _expect(isinstance(value, int) and not isinstance(value, bool),
            "an integer")
    return value


def nonNegativeInteger(value):
    _expect(isinstance(value, int) and not isinstance(value, bool)
            and value >= 0, "a non-negative integer")
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
