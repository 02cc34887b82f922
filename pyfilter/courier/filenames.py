"""
Every name a mail client might give a MIME part's content, for the
attachments filter to test.

Beyond the one C{get_filename()} picks (courier-pythonfilter's name: the
C{email} package's compat32 C{get_filename()}, RFC 2047 decoded), the
names are: C{get_filename()} under C{policy.default}; every C{filename}
and C{name} parameter of every C{Content-Disposition} and C{Content-Type}
field of the part, duplicates included, RFC 2231 encoded and continued
values decoded (taking the first and, separately, the last of repeated
sections), RFC 2047 encoded-words decoded, read with and without RFC 822
comments, and the C{email} package's own parameter readings (compat32's
C{get_params()} of each field and C{policy.default}'s C{params}); each name
also as a client may clean it up: unfolded, line ends as LF, surrounding
white space, quotes and angle brackets removed, trailing dots removed, cut
at a NUL.

Fields whose syntax is plain (a token, then C{token=token} or
C{token="text"} parameters in printable ASCII, no comment, encoded word,
backslash or RFC 2231 star) are read directly: for them every reading above
is the parameter's own value.  Others go through the C{email} package
(slower: L{needsDecoding} tells which).
"""

import email.message
import email.policy
import email.utils
import re
import urllib.parse

from pyfilter.courier import headerblock

#: The fields a file name can come from.
NAME_FIELDS = ("content-disposition", "content-type")
#: Longest name field decoded (C{policy.default}'s parser takes time
#: quadratic in a field's length: about 60 ms for this one); a longer one
#: makes the part unreadable.
MAX_FIELD_CHARACTERS = 16 * 1024

#: An RFC 2045 token.
TOKEN = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_PLAIN_FIELD = re.compile(
    r"(?!.*=\?)[ \t\r\n]*" + TOKEN + r"(?:/" + TOKEN + r")?"
    r"(?:[ \t\r\n]*;[ \t\r\n]*[!#$%&'+.^_`|~0-9A-Za-z-]+="
    r"(?:" + TOKEN + r"|\"[\x20\x21\x23-\x5b\x5d-\x7e\t]*\"))*"
    r"[ \t\r\n]*;?[ \t\r\n]*\Z", re.S)
_PLAIN_PARAMETER = re.compile(r';[ \t\r\n]*([^=;\s]+)=(?:"([^"]*)"|([^;\s]*))')
#: What a name must hold for L{variants} to differ from it.
_TIDY = re.compile(r'\A[\s"<]|[\s.>"]\Z|[\x00\r\n]|=\?')
_MAYBE_NAMED = re.compile(r"name|=\?|\\", re.IGNORECASE)
_SECTION = re.compile(r"(filename|name)(?:\*([0-9]+))?(\*)?", re.ASCII)
_PARAMETER_PIECE = re.compile(r'"(?:[^"\\]|\\.)*(?:"|\Z)|\\.|;|[^;"\\]+|\\',
                              re.S)


class UnreadableName(Exception):
    """
    The C{email} package fails on a part's name fields (or they are longer
    than L{MAX_FIELD_CHARACTERS}): what a client would call the part cannot
    be known.
    """


def nameFields(fields):
    """
    The name fields among a part's raw fields (C{(name, value)} as the
    C{email} package stores them).
    """
    return [(name, value) for name, value in fields
            if len(name) in (12, 19) and name.lower() in NAME_FIELDS]


def mayBeNamed(named):
    """
    Whether a part with these name fields can have a name at all.
    """
    return any(_MAYBE_NAMED.search(value) for _, value in named)


def isPlain(value):
    """
    Whether a field's raw value is plain (see the module docstring): all
    readings of it agree.
    """
    return _PLAIN_FIELD.match(value) is not None


def needsDecoding(named):
    """
    Whether the part's names need the C{email} package (some name field is
    not plain).
    """
    return not all(isPlain(value) for _, value in named)


def partNames(fields):
    """
    The set of names to test for a part with these raw fields.

    @raise UnreadableName: see there.
    """
    return namesOf(nameFields(fields))[0]


def namesOf(named):
    """
    The names to test for a part with these name fields (L{nameFields}).

    @return: C{(set of names, how many characters of fields went through
        the email package)}.
    @raise UnreadableName: see there.
    """
    if not mayBeNamed(named):
        return frozenset(), 0
    if needsDecoding(named):
        found = _decodedNames(named)
        decoded = sum(len(value) for _, value in named)
    else:
        found = {quoted or token for _, value in named
                 for key, quoted, token in _PLAIN_PARAMETER.findall(value)
                 if key.lower() in ("filename", "name")}
        decoded = 0
    return frozenset(variant for name in found if name
                     for variant in variants(name)), decoded


def referenceName(headers):
    """
    The name courier-pythonfilter tests: compat32 C{get_filename()} of the
    part's L{email.message.Message}, RFC 2047 decoded; C{None} if none.

    @raise UnreadableName: the C{email} package fails on it.
    """
    try:
        name = headers.get_filename()
    except Exception as e:
        raise UnreadableName(f"get_filename() fails: {e!r}") from None
    return None if name is None else headerblock.decodeWords(name)


def variants(name):
    """
    C{name} and the names a client may make of it (see the module
    docstring).
    """
    if _TIDY.search(name) is None:
        return {name}
    found = {name, headerblock.decodeWords(name)} if "=?" in name else {name}
    for text in list(found):
        found.add(text.replace("\r\n", "\n").replace("\r", "\n"))
        found.add(text.replace("\r", "").replace("\n", ""))
    for text in list(found):
        found.update(_tidied(text))
        if "\x00" in text:
            found.update(_tidied(text.split("\x00", 1)[0]))
    return found


def _tidied(text):
    """
    C{text} stripped of surrounding white space, then of each pair of
    surrounding quotes or angle brackets in turn, each also without
    trailing dots and blanks.
    """
    found = set()
    while True:
        text = text.strip()
        found.update((text, text.rstrip(". \t")))
        if len(text) < 2 or (text[0], text[-1]) not in (('"', '"'),
                                                        ("<", ">")):
            return found
        text = text[1:-1]


def _decodedNames(named):
    if any(len(value) > MAX_FIELD_CHARACTERS for _, value in named):
        raise UnreadableName(f"a name field is longer than "
                             f"{MAX_FIELD_CHARACTERS} characters")
    try:
        found = {_getFilename(named)}
        rendered = []
        for name, value in named:
            header = email.policy.default.header_fetch_parse(name, value)
            rendered.append((name, str(header)))
            found.update(value for key, value in header.params.items()
                         if key in ("filename", "name"))
            for text in {value, stripComments(value)}:
                found.update(_paramNames(name, text))
                found.update(_sectionNames(text))
        found.add(_getFilename(rendered))
    except Exception as e:
        raise UnreadableName(f"the email package cannot read a name: "
                             f"{e!r}") from None
    found.discard(None)
    return found


def _getFilename(named):
    """
    compat32's C{get_filename()} of a part with these name fields; of the
    fields as C{policy.default} renders them, it is C{policy.default}'s
    (which reads its parameters from that rendering).
    """
    message = email.message.Message()
    for name, value in named:
        message.set_raw(name, value)
    return message.get_filename()


def _paramNames(name, value):
    """
    The C{filename} and C{name} values compat32's C{get_params()} reads in
    one field.
    """
    message = email.message.Message()
    message.set_raw(name, value)
    return [email.utils.collapse_rfc2231_value(found)
            for key, found in message.get_params([], header=name)[1:]
            if key in ("filename", "name")]


def _sectionNames(value):
    """
    The C{filename} and C{name} values of one field read parameter by
    parameter, as a client other than the email package may: each value
    alone, and RFC 2231 sections joined keeping the first, then the last,
    of repeated section numbers.
    """
    found = []
    sections = {}
    for parameter in splitParameters(value)[1:]:
        key, equals, text = parameter.partition("=")
        match = _SECTION.fullmatch(key.strip().lower())
        if not equals or match is None:
            continue
        base, number, star = match.groups()
        text = _unquote(text.strip())
        if number is None:
            found.append(_decode2231(text) if star else text)
        else:
            sections.setdefault(base, []).append((int(number), bool(star),
                                                  text))
    for pieces in sections.values():
        for keep in (pieces[::-1], pieces):
            chosen = dict((number, (star, text))
                          for number, star, text in keep)
            found.append(_joinSections([chosen[n] for n in sorted(chosen)]))
    return found


def splitParameters(value):
    """
    C{value} cut at each semicolon outside quoted strings.
    """
    pieces = [[]]
    for match in _PARAMETER_PIECE.finditer(value):
        if match.group() == ";":
            pieces.append([])
        else:
            pieces[-1].append(match.group())
    return ["".join(piece) for piece in pieces]


def _unquote(text):
    if len(text) > 1 and text[0] == text[-1] == '"':
        return re.sub(r"\\(.)", r"\1", text[1:-1], flags=re.S)
    return text


def _joinSections(pieces):
    charset = None
    octets = b""
    for index, (star, text) in enumerate(pieces):
        if star:
            if index == 0 and text.count("'") >= 2:
                charset, _, text = text.split("'", 2)
            octets += urllib.parse.unquote_to_bytes(text)
        else:
            octets += text.encode("utf-8", "surrogateescape")
    return _decodeOctets(octets, charset)


def _decode2231(text):
    charset = None
    if text.count("'") >= 2:
        charset, _, text = text.split("'", 2)
    return _decodeOctets(urllib.parse.unquote_to_bytes(text), charset)


def _decodeOctets(octets, charset):
    try:
        return octets.decode(charset or "utf-8", "replace")
    except LookupError:
        return octets.decode("utf-8", "replace")


def stripComments(value):
    """
    C{value} without its RFC 822 comments (nested, with quoted pairs;
    quoted strings are kept as they are).
    """
    out = []
    depth = 0
    quoted = escaped = False
    for character in value:
        if escaped:
            escaped = False
        elif character == "\\":
            escaped = True
        elif depth == 0 and character == '"':
            quoted = not quoted
        elif not quoted and character == "(":
            depth += 1
            continue
        elif not quoted and depth and character == ")":
            depth -= 1
            continue
        if depth == 0:
            out.append(character)
    return "".join(out)
