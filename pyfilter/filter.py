"""
The base class of pyfilter's filters and the typed options they declare.

A filter module in C{filters/} defines one subclass of L{Filter} and names it
C{FILTER}.  The class lists its options (those of the reference's
C{[NAME.py]} section, with the reference's defaults) as L{Option}s; the
framework reads the section, checks every value and hands the filter a plain
dictionary.  C{consider(message)} answers C{None} (no opinion), a
L{pyfilter.reply.Reply}, or a Deferred firing with either.  Exceptions and
timeouts are the chain's business, not the filter's.
"""

import os
import re
import stat

from twisted.logger import Logger


class ConfigError(Exception):
    """
    A configuration problem found at start-up; the message says where.
    """


def refuseWritableByOthers(path, f):
    """
    Refuse a configuration file that any user may change: whoever can write
    it decides what the daemon lets through.

    @param f: the open file.
    @raise ConfigError: it is writable by others.
    """
    if os.fstat(f.fileno()).st_mode & stat.S_IWOTH:
        raise ConfigError(f"{path}: writable by any user, refusing to use "
                          f"it (chmod o-w {path})")


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


class Filter:
    """
    Base of every filter.

    @cvar name: the filter's chain name (its module name).
    @cvar options: option name to L{Option}, the reference's defaults.
    @ivar config: the checked option values.
    @ivar context: the daemon's L{pyfilter.context.Context}.
    """

    name = None
    options = {}
    log = Logger()

    def __init__(self, config, context):
        self.config = config
        self.context = context

    def start(self):
        """
        Prepare anything asynchronous (connections, stores); may return a
        Deferred.  A failure here is a configuration error.
        """

    def stop(self):
        """
        Release what L{start} acquired; may return a Deferred.
        """

    def consider(self, message):
        """
        Decide about C{message}: C{None}, a Reply, or a Deferred of either.
        """
        raise NotImplementedError()
