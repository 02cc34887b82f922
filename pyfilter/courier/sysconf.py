"""
Courier's own configuration, answered the way Courier answers it.

L{CourierConfig} reads the files in Courier's sysconfdir (C{me},
C{defaultdomain}, C{locals}, C{hosteddomains}, C{aliases}, C{smtpaccess},
...).  Every answer comes from an in-memory table that is rebuilt only when
its files change: each call compares the files' C{os.stat} (inode, size,
mtime, ctime) with those seen at the last read, which is cheap; a table
read within two seconds of its file's last modification is read once more
two seconds later, so that a second change within the file system's
timestamp granularity is not missed.

The compiled C{.dat} tables (C{smtpaccess.dat}, C{hosteddomains.dat},
C{aliases.dat}) are GDBM databases, read with C{dbm.gnu}.  When this Python
has no C{dbm.gnu}, or cannot read the C{.dat}, the text sources they are
compiled from are parsed instead, with the rules of Courier's C{makedat} and
C{makealiases}; one log line says which source a table uses and why.

Domains are compared case-insensitively, C{locals} may be a file or a
directory of files, and the access table falls back to C{*} as
C{couriertcpd} does.
"""

import ipaddress
import os
import re
import socket
import time

from twisted.logger import Logger

try:
    import dbm.gnu as gdbm
except ImportError:
    gdbm = None

#: Seconds within which a file's mtime is too recent to trust for caching.
SETTLE_SECONDS = 2.0

#: What Courier's makedat -cidr hands to Net::CIDR: a netblock or a range.
_NETBLOCK = re.compile(r"^([a-fA-F0-9:.]+[-/][a-fA-F0-9:.]+)\s+(.*)$")


def _statKey(path):
    """
    What identifies a version of C{path}: inode, device, size, mtime,
    ctime; or C{None} when it does not exist.
    """
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_ino, st.st_dev, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def _sourceFiles(path, skip=lambda name: False):
    """
    The regular files that make up a Courier source C{path}: the file
    itself, or the files of the directory in name order (unreadable or
    missing sources give no files).
    """
    if os.path.isdir(path):
        try:
            names = sorted(os.listdir(path))
        except OSError:
            return []
        return [os.path.join(path, name) for name in names
                if not skip(name)
                and os.path.isfile(os.path.join(path, name))]
    return [path] if os.path.isfile(path) else []


def _watchPaths(path, skip):
    """
    The paths whose stat tells whether the source C{path} changed: the path
    itself and, for a directory, its files.
    """
    if os.path.isdir(path):
        return [path] + _sourceFiles(path, skip)
    return [path]


def _readLines(paths):
    """
    The lines of C{paths}, concatenated; unreadable files contribute none.
    """
    lines = []
    for path in paths:
        try:
            with open(path, "rb") as f:
                text = f.read().decode("utf-8", "replace")
        except OSError:
            continue
        lines.extend(text.split("\n"))
    return lines


def _skipMakedat(name):
    """
    Files that Courier's makedat leaves out of a source directory.
    """
    return name.endswith("~") or bool(re.search(r"\.dpkg-[a-z]*$", name))


def _skipDotFiles(name):
    """
    Files that a shell glob (makealiases, locals) leaves out.
    """
    return name.startswith(".")


class _Watched:
    """
    A value computed from some files, computed again when their stat
    changes.  A value computed while the newest file was too recent for its
    mtime to show a later change is computed once more, L{SETTLE_SECONDS}
    later (a file dated in the future thus costs one read per period).
    """

    def __init__(self, now, paths, compute):
        self.now = now
        self.paths = paths
        self.compute = compute
        self.signature = None
        self.readAt = None
        self.trusted = False
        self.value = None

    def get(self):
        signature = tuple((path, _statKey(path)) for path in self.paths())
        if signature == self.signature and (
                self.trusted or self.now() < self.readAt + SETTLE_SECONDS):
            return self.value
        self.readAt = self.now()
        self.value = self.compute()
        self.signature = signature
        newest = max((key[3] for _, key in signature if key), default=0)
        self.trusted = self.readAt >= newest / 1e9 + SETTLE_SECONDS
        return self.value


def _firstLine(path):
    """
    The first line of C{path}, stripped; C{None} if unreadable or empty.
    """
    try:
        with open(path, "rb") as f:
            line = f.readline().decode("utf-8", "replace").strip()
    except OSError:
        return None
    return line or None


def parseMakedat(lines, cidr=False):
    """
    The table Courier's makedat builds from source C{lines}: a line C{.}
    ends the input; lines starting with C{#} and empty lines are skipped;
    the key ends at the first tab and the rest is the value (C{"1"} without a
    tab).  With C{cidr}, a leading netblock (C{a.b.c.d/n}, C{a-b}, IPv6 too)
    is expanded into the octet (IPv4) or 16-bit group (IPv6) prefixes
    couriertcpd looks up.  Later duplicates are ignored (makedat refuses
    them).

    @return: key text to value text.
    """
    table = {}
    for line in lines:
        if line == ".":
            break
        match = _NETBLOCK.match(line) if cidr else None
        if match:
            entries = [(key, match.group(2))
                       for key in _netblockKeys(match.group(1))]
        elif not line or line.startswith("#"):
            continue
        else:
            key, tab, value = line.partition("\t")
            entries = [(key, value if tab else "1")]
        for key, value in entries:
            if key:
                table.setdefault(key, value)
    return table


def _netblockKeys(text):
    """
    Access-file keys covering a netblock C{a/n} or a range C{a-b}, as Courier's
    makedat -cidr (Net::CIDR's cidr2octets) writes them; none if C{text}
    is not a valid netblock.
    """
    try:
        if "/" in text:
            networks = [ipaddress.ip_network(text, strict=False)]
        else:
            first, last = text.split("-", 1)
            networks = list(ipaddress.summarize_address_range(
                ipaddress.ip_address(first), ipaddress.ip_address(last)))
    except (ValueError, TypeError):
        return []
    keys = []
    for network in networks:
        unit = 8 if network.version == 4 else 16
        aligned = max(unit, -(-network.prefixlen // unit) * unit)
        for subnet in network.subnets(new_prefix=aligned):
            keys.append(_addressKey(subnet.network_address, aligned // unit))
    return keys


def _addressKey(address, parts):
    """
    The access-file key of the first C{parts} octets (IPv4) or groups (IPv6,
    with Courier's leading C{:}) of C{address}.
    """
    if address.version == 4:
        return ".".join(str(address).split(".")[:parts])
    return ":" + ":".join(address.exploded.split(":")[:parts])


def accessKeys(ip):
    """
    The access-file keys couriertcpd tries for C{ip}, most specific first,
    ending with C{*}.
    """
    if ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.version == 6:
        exploded = ip.exploded
        return [":" + exploded[:5 * parts - 1]
                for parts in range(8, 0, -1)] + ["*"]
    key = str(ip)
    keys = [key]
    while "." in key:
        key = key.rpartition(".")[0]
        keys.append(key)
    keys.append("*")
    return keys


def parseAliases(lines, defaultDomain):
    """
    The alias table Courier's makealiases builds from C{lines}: C{name:
    target, target}, continuation lines start with white space, C{#}
    comments, C{:include:/path} reads targets from a file; unqualified names
    and targets get C{@defaultDomain}; domains are lower-cased; entries for
    the same name are merged in order; names without targets are left out;
    targets that are aliases are expanded.
    Program and file targets (C{|prog}, C{/path}) are kept as written.

    @return: address to list of target addresses.
    """
    definitions = []
    for line in lines:
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if line[0] in " \t" and definitions:
            definitions[-1][1].append(line)
        elif ":" in line:
            name, _, rest = line.partition(":")
            definitions.append((name.strip(), [rest]))
    table = {}
    for name, parts in definitions:
        targets = []
        for item in ",".join(parts).split(","):
            item = item.strip()
            if item.startswith(":include:"):
                targets.extend(_includedTargets(item[len(":include:"):]))
            elif item:
                targets.append(item)
        targets = [_qualify(target, defaultDomain) for target in targets]
        if name and targets:
            table.setdefault(_qualify(name, defaultDomain), []).extend(targets)
    return {name: _expandAlias(name, table, {name}) for name in table}


def _expandAlias(name, table, expanding):
    """
    The final targets of alias C{name} as makealiases stores them: targets
    that are aliases replaced by their own targets, an alias naming itself
    kept as an address, loops cut, duplicates dropped.  (In a loop of
    aliases, the targets' order may differ from Courier's.)
    """
    targets = []
    for target in table[name]:
        if target == name or target not in table:
            targets.append(target)
        elif target not in expanding:
            targets.extend(_expandAlias(target, table, expanding | {target}))
    return list(dict.fromkeys(targets))


def _includedTargets(path):
    return [item.strip() for line in _readLines([path.strip()])
            if not line.lstrip().startswith("#")
            for item in line.split(",") if item.strip()]


def _qualify(address, defaultDomain):
    """
    C{address} with its domain lower-cased, or C{@defaultDomain} added when
    it has none; program and file targets unchanged.
    """
    if address.startswith(("|", "/")):
        return address
    local, at, domain = address.rpartition("@")
    if not at:
        return f"{address}@{defaultDomain.lower()}"
    return f"{local}@{domain.lower()}"


def readGdbm(path):
    """
    All of a GDBM file as a dict of text; raises L{OSError} or the dbm
    error when it cannot be read.
    """
    table = {}
    db = gdbm.open(path, "ru")
    try:
        key = db.firstkey()
        while key is not None:
            table[key.decode("utf-8", "replace")] = db[key].decode(
                "utf-8", "replace")
            key = db.nextkey(key)
    finally:
        db.close()
    return table


class _CompiledTable:
    """
    One of Courier's compiled tables: its C{.dat} read with C{dbm.gnu}, or
    its text source when that cannot be done.
    """

    log = Logger()

    def __init__(self, config, name, parseSource, skip, convert):
        self.name = name
        self.datPath = os.path.join(config.sysconfdir, name + ".dat")
        self.sourcePath = os.path.join(config.sysconfdir, name)
        self.parseSource = parseSource
        self.skip = skip
        self.convert = convert
        self.reported = None
        self.usingSource = gdbm is None
        self.watched = _Watched(config.now, self._paths, self._load)

    def _paths(self):
        paths = [] if gdbm is None else [self.datPath]
        if self.usingSource:
            paths += _watchPaths(self.sourcePath, self.skip)
        return paths

    def _load(self):
        if gdbm is None:
            return self._fromSource("this Python has no dbm.gnu")
        if not os.path.exists(self.datPath):
            self.usingSource = False
            self._report(f"{self.datPath} (absent: the table is empty)")
            return {}
        try:
            table = readGdbm(self.datPath)
        except Exception as e:
            return self._fromSource(f"{self.datPath} is unreadable ({e})")
        self.usingSource = False
        self._report(self.datPath)
        return self.convert(table)

    def _fromSource(self, reason):
        self.usingSource = True
        self._report(f"the text source {self.sourcePath}, because {reason}")
        return self.parseSource(_readLines(
            _sourceFiles(self.sourcePath, self.skip)))

    def _report(self, source):
        if source != self.reported:
            self.reported = source
            self.log.info("Courier {table}: using {source}", table=self.name,
                          source=source)

    def get(self):
        return self.watched.get()


class CourierConfig:
    """
    Courier's configuration in C{sysconfdir}.

    @param clock: what gives the time: the C{time} module, or a reactor
        such as L{twisted.internet.task.Clock}.
    """

    log = Logger()

    def __init__(self, sysconfdir, clock=time):
        self.sysconfdir = sysconfdir
        self.now = getattr(clock, "seconds", None) or clock.time
        self._lines = {}
        self._locals = self._watch(self._localsPaths, self._loadLocals)
        self._hosted = _CompiledTable(
            self, "hosteddomains", self._parseHosted, _skipMakedat,
            self._convertHosted)
        self._aliases = _CompiledTable(
            self, "aliases", self._parseAliases, _skipDotFiles,
            self._convertAliases)
        self._access = _CompiledTable(
            self, "smtpaccess", lambda lines: parseMakedat(lines, cidr=True),
            _skipMakedat, lambda table: table)

    def _path(self, name):
        return os.path.join(self.sysconfdir, name)

    def _watch(self, paths, compute):
        return _Watched(self.now, paths, compute)

    def _firstLine(self, name):
        """
        The first line of the file C{name}, stripped, or C{None}.
        """
        watched = self._lines.get(name)
        if watched is None:
            path = self._path(name)
            watched = self._lines[name] = self._watch(
                lambda: [path], lambda: _firstLine(path))
        return watched.get()

    def me(self):
        """
        This host's mail name: the first line of C{me}, else the host name.
        """
        return self._firstLine("me") or socket.gethostname()

    def defaultdomain(self):
        """
        The domain of unqualified addresses: C{defaultdomain}, else C{me}.
        """
        return self._firstLine("defaultdomain") or self.me()

    def dsnfrom(self):
        """
        The From of Courier's delivery reports.
        """
        return (self._firstLine("dsnfrom")
                or f'"Courier mail server at {self.me()}" <@>')

    def esmtphelo(self):
        """
        The HELO name: the first line of C{esmtphelo}, else C{me}; C{*}
        (reverse DNS of the local address) is given as C{me} here.
        """
        helo = self._firstLine("esmtphelo")
        return self.me() if helo in (None, "*") else helo

    def locallowercase(self):
        """
        Whether Courier folds local mailbox names to lower case.
        """
        return os.path.exists(self._path("locallowercase"))

    def _localsPaths(self):
        return _watchPaths(self._path("locals"), _skipDotFiles)

    def _loadLocals(self):
        """
        The C{locals} rules as rule text to (order, verdict), or C{None}
        when there is no C{locals}.
        """
        path = self._path("locals")
        if not os.path.exists(path):
            return None
        rules = {}
        for line in _readLines(_sourceFiles(path, _skipDotFiles)):
            line = line.strip().lower()
            if line and not line.startswith("#"):
                rules.setdefault(line, (len(rules),
                                        not line.startswith("!")))
        return rules

    def isLocal(self, domain):
        """
        Whether C{domain} is delivered locally per C{locals} (C{!domain}
        excludes, C{.suffix} covers subdomains, the first matching line
        wins); without C{locals}, whether it is C{me}.
        """
        domain = domain.lower()
        rules = self._locals.get()
        if rules is None:
            return domain == self.me().lower()
        labels = domain.split(".")
        candidates = ["!" + domain, domain] + [
            "." + ".".join(labels[i:]) for i in range(1, len(labels))]
        found = [rules[c] for c in candidates if c in rules]
        return min(found)[1] if found else False

    @staticmethod
    def _parseHosted(lines):
        return {key.lower(): value
                for key, value in parseMakedat(lines).items()}

    @staticmethod
    def _convertHosted(table):
        return {key.lower(): value for key, value in table.items()}

    def isHostedDomain(self, domain):
        """
        Whether C{domain}, or a C{.suffix} of it, is in C{hosteddomains}.
        """
        domain = domain.lower()
        hosted = self._hosted.get()
        if domain in hosted:
            return True
        labels = domain.split(".")
        return any("." + ".".join(labels[i:]) in hosted
                   for i in range(1, len(labels)))

    def _parseAliases(self, lines):
        return parseAliases(lines, self.defaultdomain())

    @staticmethod
    def _convertAliases(table):
        return {key: [line.strip() for line in value.strip().split("\n")]
                for key, value in table.items()}

    def alias(self, address):
        """
        The targets of the alias C{address}, or C{None}.  An unqualified
        address is taken in the default domain; for a local domain the
        address is also tried with C{me} and the default domain.
        """
        local, at, domain = address.rpartition("@")
        if not at:
            local, domain = address, self.defaultdomain()
        domain = domain.lower()
        candidates = [f"{local}@{domain}"]
        if not at or self.isLocal(domain):
            candidates += [f"{local}@{self.me().lower()}",
                           f"{local}@{self.defaultdomain().lower()}"]
        aliases = self._aliases.get()
        for candidate in candidates:
            if candidate in aliases:
                return list(aliases[candidate])
        return None

    def smtpaccess(self, ip):
        """
        The access-file value for C{ip} (an C{ipaddress} address or text):
        that of the most specific key, else that of C{*}, else C{None}.
        """
        if isinstance(ip, str):
            try:
                ip = ipaddress.ip_address(ip.strip())
            except ValueError:
                self.log.warn("Couldn't break {ip!r} into parts", ip=ip)
                return None
        table = self._access.get()
        for key in accessKeys(ip):
            value = table.get(key)
            if value is not None:
                return value
        return None

    def smtpaccessValue(self, key, ip):
        """
        The setting C{key} in C{ip}'s access value: C{''} for a bare C{KEY},
        the text after C{KEY=}, or C{None} when absent.
        """
        value = self.smtpaccess(ip)
        if value is None:
            return None
        prefix = key + "="
        for item in value.split(","):
            if item == key:
                return ""
            if item.startswith(prefix):
                return item[len(prefix):]
        return None

    def isRelayClient(self, ip):
        """
        Whether C{ip}'s access entry sets C{RELAYCLIENT}.
        """
        return self.smtpaccessValue("RELAYCLIENT", ip) is not None

    def isWhiteBlocked(self, ip):
        """
        Whether C{ip}'s access entry sets C{BLOCK} to nothing (exempts it
        from DNS block lists).
        """
        return self.smtpaccessValue("BLOCK", ip) == ""
