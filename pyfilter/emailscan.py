"""
The names in a message as the standard library's email package itself
finds them: the attachments filter's path for the messages whose structure
pyfilter's own scanner (L{pyfilter.mime}) cannot be sure of.

The data file is parsed as courier-pythonfilter parses it
(C{BytesParser().parse()}, i.e. C{email.message_from_binary_file}), once
with C{compat32} and once with C{policy.default}; every part of both walks,
multipart containers included, gives its names
(L{pyfilter.filenames.partNames}).  This costs about 100 times the scan
(see benchmarks/RESULTS.md), so it is bounded: a message larger than
L{MAX_BYTES} is not parsed, a parse that makes more than L{MAX_PARTS} parts
or nests deeper than the interpreter's recursion limit is abandoned, and so
is one whose names the email package cannot read.  Each gives a refusal
reason instead of names.  Blocking: the filter runs it in its thread pool.
"""

import email.message
import email.parser
import email.policy
import os
from dataclasses import dataclass

from pyfilter import filenames, mime

#: Largest data file parsed (the email package holds about 3 times the
#: message in memory while it parses).
MAX_BYTES = 32 * 1024 * 1024
#: Most MIME entities one parse may make.
MAX_PARTS = 2 * mime.MAX_PARTS

_POLICIES = ((email.policy.compat32, email.message.Message),
             (email.policy.default, email.message.EmailMessage))


@dataclass
class EmailNames:
    """
    @ivar names: every name found (a set of strings).
    @ivar refused: C{None}, or why the message could not be read whole.
    """
    names: frozenset
    refused: str = None


class _TooManyParts(Exception):
    pass


def _countingFactory(messageClass, limit):
    """
    A message factory for the parser that fails past C{limit} messages.
    """
    made = [0]

    def factory(policy):
        made[0] += 1
        if made[0] > limit + 1:
            raise _TooManyParts()
        return messageClass(policy=policy)
    return factory


def emailNames(path, maxBytes=MAX_BYTES, maxParts=MAX_PARTS):
    """
    The names the email package finds in the message at C{path}.

    @return: an L{EmailNames}.
    """
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        if size > maxBytes:
            return EmailNames(frozenset(), f"{size} bytes is more than the "
                              f"{maxBytes} the email package may parse")
        names = set()
        for policy, messageClass in _POLICIES:
            f.seek(0)
            parser = email.parser.BytesParser(
                _countingFactory(messageClass, maxParts), policy=policy)
            try:
                for part in parser.parse(f).walk():
                    names.update(filenames.partNames(part.raw_items()))
            except _TooManyParts:
                return EmailNames(frozenset(names), f"more than {maxParts} "
                                  f"MIME parts")
            except RecursionError:
                return EmailNames(frozenset(names), "nested too deeply for "
                                  "the email package")
            except filenames.UnreadableName as e:
                return EmailNames(frozenset(names), str(e))
    return EmailNames(frozenset(names))
