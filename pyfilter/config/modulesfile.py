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
                raise ConfigError(self.where(section, option) + f": {e}") from e
        return values

    def where(self, section, option=None):
        text = f"{self.path or '<no modules config>'}: [{section}]"
        return f"{text} {option}" if option else text

    def checkedSection(self, section, specs):
        """
        The options of C{section}, checked against C{specs} (option name to
        L{pyfilter.engine.filter.Option}), with defaults for those not given.

        @return: C{(values, unknown)}: the checked values, and the names of
            options in the section that C{specs} does not have.
        @raise ConfigError: a value is refused; the error names file,
            section and option.
        """
        given = self.section(section)
        values = {}
        for option, spec in specs.items():
            value = given.get(option, spec.default)
            try:
                values[option] = spec.check(value)
            except ValueError as e:
                raise ConfigError(self.where(section, option)
                                  + f": {e}, got {value!r}") from e
        return values, sorted(set(given) - set(specs))

    def filterOptions(self, name, specs):
        """
        The options of filter C{name}, from its section C{[name.py]}; see
        L{checkedSection}.
        """
        return self.checkedSection(f"{name}.py", specs)


def _newParser():
    parser = configparser.RawConfigParser(strict=True, interpolation=None)
    parser.optionxform = str
    return parser
