"""
Reading pythonfilter-modules.conf: per-module settings in INI sections
(C{[greylist.py]}, C{[ttldb]}, ...) whose values are Python literals.

Values are read with L{pyfilter.config.literals.evaluate}, never C{eval}; every
error names the file, the section and the option.
"""

import configparser

from pyfilter.config import literals
from pyfilter.config.errors import ConfigError, refuseWritableByOthers


class ModulesConfig:
    """
    The parsed file.  An absent file is an empty configuration (every
    filter then runs on its defaults, as with the reference).
    """

    def __init__(self, path=None, parser=None):
        self.path = path
        self.parser = parser or _newParser()

    @classmethod
    def read(cls, path):
        parser = _newParser()
        if path is None:
            return cls(None, parser)
        try:
            with open(path, encoding="utf-8") as f:
                refuseWritableByOthers(path, f)
                parser.read_file(f, source=path)
        except FileNotFoundError:
            return cls(path, parser)
        except OSError as e:
            raise ConfigError(f"{path}: cannot read: {e.strerror}") from e
        except (configparser.Error, UnicodeDecodeError) as e:
            raise ConfigError(f"{path}: {e}") from e
        return cls(path, parser)

    def hasSection(self, section):
        return self.parser.has_section(section)

    def section(self, section):
        """
        Every option of C{section}, evaluated; an empty dict when absent.
        """
        if not self.parser.has_section(section):
            return {}
        values = {}
        for option, text in self.parser.items(section):
            try:
                values[option] = literals.evaluate(text)
            except literals.LiteralError as e:
                where = self.where(section, option)
                raise ConfigError(f"{where}: {e}") from e
        return values

    def fingerprint(self, section):
        """
        C{section}'s text, option by option, in a form that compares equal
        exactly when the section is unchanged: part of the key of a shared
        service made from it (L{pyfilter.engine.context.Context.shared}).
        """
        if not self.parser.has_section(section):
            return ()
        return tuple(sorted(self.parser.items(section, raw=True)))

    def where(self, section, option=None):
        text = f"{self.path or '<no modules config>'}: [{section}]"
        return f"{text} {option}" if option else text

    def checkedSection(self, section, specs, renamed=None):
        """
        The options of C{section}, checked against C{specs} (option name to
        L{pyfilter.engine.options.Option}), with defaults for those not
        given.

        @param renamed: option name to C{{older name: translate}}: an
            option may be given under an older name, whose value
            C{translate(value)} is then used.
        @return: C{(values, unknown)}: the checked values, and the names of
            options in the section that C{specs} does not have.
        @raise ConfigError: a value is refused, or an option is given under
            more than one name; the error names file, section and option.
        """
        given = self.section(section)
        known = set(specs)
        values = {}
        for option, spec in specs.items():
            names = [option] if option in given else []
            value = given.get(option, spec.default)
            for old, translate in (renamed or {}).get(option, {}).items():
                known.add(old)
                if old in given:
                    names.append(old)
                    value = translate(given[old])
            if len(names) > 1:
                raise ConfigError(self.where(section, " and ".join(names))
                                  + f": give only {option}")
            try:
                values[option] = spec.check(value)
            except ValueError as e:
                raise ConfigError(self.where(section, names[0] if names
                                             else option)
                                  + f": {e}, got {value!r}") from e
        return values, sorted(set(given) - known)



def _newParser():
    parser = configparser.RawConfigParser(strict=True, interpolation=None)
    parser.optionxform = str
    return parser
