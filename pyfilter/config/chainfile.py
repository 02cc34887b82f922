"""
Reading the chain file (the reference's pythonfilter.conf format).

One filter per line, in execution order: C{NAME}, or C{NAME for A B C} to
skip filters A, B and C for a message when NAME answers 2xx.  Lines that are
blank (whitespace included) or whose first non-blank character is C{#} are
comments.  C{NAME testing} runs NAME in testing (shadow) mode: its answer
is logged and counted but never given to Courier, the same as its option
C{testing = True}.  The reference ignores that trailing word, so the file
stays valid for it.  Other trailing words are ignored, as the reference
ignores them.
"""

from dataclasses import dataclass

from pyfilter.config.errors import ConfigError, refuseWritableByOthers


TESTING_MARKER = "testing"


@dataclass(frozen=True)
class ChainLine:
    name: str
    bypass: frozenset
    lineNumber: int
    testing: bool = False


def parseChain(text, source="<chain>"):
    """
    Parse the chain file's text.

    @return: C{(lines, warnings)}: the L{ChainLine}s in order and the warnings
        to log (bypass names that no later line has).
    """
    lines = []
    for number, raw in enumerate(text.splitlines(), 1):
        words = raw.split()
        if not words or words[0].startswith("#"):
            continue
        bypass = frozenset(words[2:]) if words[1:2] == ["for"] else frozenset()
        testing = words[1:2] == [TESTING_MARKER]
        lines.append(ChainLine(words[0], bypass, number, testing))
    warnings = []
    for index, line in enumerate(lines):
        later = {other.name for other in lines[index + 1:]}
        for name in sorted(line.bypass - later):
            warnings.append(f"{source}:{line.lineNumber}: {line.name} bypasses "
                            f"{name!r}, which is not a later filter")
    return lines, warnings


def readChain(path):
    try:
        with open(path, encoding="utf-8") as f:
            refuseWritableByOthers(path, f)
            text = f.read()
    except OSError as e:
        raise ConfigError(f"{path}: cannot read the chain file: "
                          f"{e.strerror or e}") from e
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path}: not UTF-8 text: {e}") from e
    return parseChain(text, path)
