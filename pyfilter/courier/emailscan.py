"""
The names in a message as the standard library's email package itself
finds them: the attachments filter's path for the messages whose structure
pyfilter's own scanner (L{pyfilter.courier.mime}) cannot be sure of.

The data file is parsed as courier-pythonfilter parses it
(C{BytesParser().parse()}, i.e. C{email.message_from_binary_file}), once
with C{compat32} and once with C{policy.default}; every part of both walks,
multipart containers included, gives its names
(L{pyfilter.courier.filenames.partNames}).  A part with different C{Content-Type}
fields is refused: a client that reads another one than the email package
does sees other parts.  This costs about 100 times the scan
(see benchmarks/RESULTS.md), so it is bounded: a message larger than
L{MAX_BYTES} is not parsed; a parse that makes more than L{MAX_PARTS}
parts, nests deeper than the interpreter's recursion limit, decodes more
than L{MAX_DECODED_CHARACTERS} of name fields or fails (C{policy.default}'s
parser raises on some malformed fields) is abandoned.  Each of these,
and a part whose names the email package cannot read, gives a reason to
refuse the message, beside the names found.  Blocking: the filter runs it
in its thread pool.
"""

import email.message
import email.parser
import email.policy
import os
from dataclasses import dataclass

from pyfilter.courier import filenames
from pyfilter.courier import mime

#: Largest data file parsed (the email package holds about 3 times the
#: message in memory while it parses).
MAX_BYTES = 32 * 1024 * 1024
#: Most MIME entities one parse may make (10,000 empty parts cost
#: C{policy.default} about 3 s).
MAX_PARTS = mime.MAX_PARTS
#: Characters of name fields decoded in one message (with fields of at most
#: L{pyfilter.courier.filenames.MAX_FIELD_CHARACTERS}, a few seconds at worst).
MAX_DECODED_CHARACTERS = 1024 * 1024

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


def emailNames(path, maxBytes=None, maxParts=None, maxDecoded=None):
    """
    The names the email package finds in the message at C{path}, within
    the bounds given (by default L{MAX_BYTES}, L{MAX_PARTS},
    L{MAX_DECODED_CHARACTERS}).

    @return: an L{EmailNames}: the names of every part it could read, and
        the first reason it could not read one (or the whole message).
    """
    maxBytes = maxBytes or MAX_BYTES
    maxParts = maxParts or MAX_PARTS
    maxDecoded = maxDecoded or MAX_DECODED_CHARACTERS
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        if size > maxBytes:
            return EmailNames(frozenset(), f"{size} bytes is more than the "
                              f"{maxBytes} the email package may parse")
        names, refusals = set(), []
        decoded = 0
        for policy, messageClass in _POLICIES:
            if decoded > maxDecoded:
                break
            f.seek(0)
            parser = email.parser.BytesParser(
                _countingFactory(messageClass, maxParts), policy=policy)
            try:
                for part in parser.parse(f).walk():
                    found, characters = _partNames(part, refusals)
                    names.update(found)
                    decoded += characters
                    if decoded > maxDecoded:
                        refusals.append(f"encoded names longer than "
                                        f"{maxDecoded} characters in all")
                        break
            except _TooManyParts:
                refusals.append(f"more than {maxParts} MIME parts")
            except RecursionError:
                refusals.append("nested too deeply for the email package")
            except Exception as e:
                refusals.append(f"the email package ({policy!r}) fails on "
                                f"the message: {e!r}")
    return EmailNames(frozenset(names), refusals[0] if refusals else None)


def _partNames(part, refusals):
    """
    The names of one part and the characters decoded for them; a reason
    to refuse the message is added to C{refusals}.
    """
    named = filenames.nameFields(part.raw_items())
    if mime.conflictingTypes(mime.typeFields(named)):
        refusals.append("a part with different Content-Type fields")
    try:
        return filenames.namesOf(named)
    except filenames.UnreadableName as e:
        refusals.append(str(e))
        return frozenset(), 0
