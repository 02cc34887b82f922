"""
The reference's C{courier.config}: Courier's configuration and the modules
configuration, for filter modules written for courier-pythonfilter.

Everything is delegated to the objects the daemon uses itself (it calls
L{configure} at start-up), so legacy modules and pyfilter's filters see the
same answers.  Outside the daemon, Courier's layout is found with
C{courier-config} on first use, never at import.

Module values C{sysconfdir}, C{localstatedir}, C{bindir}, C{sbindir},
C{libexecdir}, C{mailuser}, C{mailgroup}, C{mailuid}, C{mailgid} and
C{version} are looked up on first access.  Assigning one takes effect as
it did with the reference, whose functions read these module values: after
C{courier.config.sysconfdir = DIR}, C{me()}, C{is_local()}, C{get_alias()}
and the rest read Courier's files in C{DIR}; an assigned C{version} is
what C{is_min_version} compares.  Assigning C{_standard_config_paths} (a
path or a list of paths, as the reference's own tests do) makes
C{get_module_config} read the first of them that exists.  The daemon's
L{configure} at start-up replaces any earlier assignment.

Differences from the reference, all fixes: C{is_min_version} compares
version numbers numerically (0.100 is newer than 0.99); module settings are
read with a safe evaluator, never C{eval}; C{apply_module_config} into a
module's C{globals()} only replaces the module's existing non-callable
settings, logging and ignoring any other option instead of creating or
overwriting arbitrary globals (into any other dictionary it copies every
option, as the reference did).
"""

import grp
import os
import pwd
import re
import subprocess
import sys
import threading
import types

from twisted.logger import Logger

from pyfilter.config.locations import MODULES_CONFIGS, firstExisting
from pyfilter.config.modulesfile import ModulesConfig
from pyfilter.courier.paths import discover
from pyfilter.courier.sysconf import CourierConfig

log = Logger()

_PATH_NAMES = ("sysconfdir", "localstatedir", "bindir", "sbindir",
               "libexecdir", "mailuser", "mailgroup")
#: The reference's (private) list of modules configuration files.
_MODULES_PATHS = "_standard_config_paths"
_VERSION_TIMEOUT = 10
_ABSENT = object()


class _Shared:
    """
    The configuration objects, given by the daemon or found on first use.
    """
    lock = threading.Lock()
    paths = None
    courier = None
    modules = None
    version = None


def configure(paths, courierConfig, modulesConfig):
    """
    Share the daemon's L{CourierPaths}, L{CourierConfig} and
    L{ModulesConfig} with legacy modules.
    """
    with _Shared.lock:
        _Shared.paths = paths
        _Shared.courier = courierConfig
        _Shared.modules = modulesConfig
        _Shared.version = None


def _paths():
    with _Shared.lock:
        if _Shared.paths is None:
            _Shared.paths = discover()
        return _Shared.paths


def _courier():
    paths = _paths()
    with _Shared.lock:
        if _Shared.courier is None:
            _Shared.courier = CourierConfig(paths.sysconfdir)
        return _Shared.courier


def _readModules(candidates):
    return ModulesConfig.read(firstExisting(candidates) if candidates
                              else None)


def _modules():
    with _Shared.lock:
        if _Shared.modules is None:
            _Shared.modules = _readModules(MODULES_CONFIGS)
        return _Shared.modules


def _assignPath(name, value):
    paths = _paths().overriding(**{name: value})
    with _Shared.lock:
        _Shared.paths = paths
        if name == "sysconfdir":
            _Shared.courier = None
        elif name == "sbindir":
            _Shared.version = None


def _assignModulesPaths(value):
    candidates = [value] if isinstance(value, (str, os.PathLike)) else value
    modules = _readModules([os.fspath(path) for path in candidates])
    with _Shared.lock:
        _Shared.modules = modules


def _assignVersion(value):
    with _Shared.lock:
        _Shared.version = value


class _ConfigModule(types.ModuleType):
    """
    This module, with assignments of the reference's module values taking
    effect.
    """

    def __setattr__(self, name, value):
        if name in _PATH_NAMES:
            _assignPath(name, value)
        elif name == _MODULES_PATHS:
            _assignModulesPaths(value)
        elif name == "version":
            _assignVersion(value)
        else:
            super().__setattr__(name, value)


sys.modules[__name__].__class__ = _ConfigModule


def _courierVersion():
    """
    The version C{courier --version} reports, or C{"unknown"}.
    """
    program = os.path.join(_paths().sbindir, "courier")
    try:
        result = subprocess.run([program, "--version"], capture_output=True,
                                text=True, timeout=_VERSION_TIMEOUT,
                                check=False)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    words = (result.stdout.splitlines() or [""])[0].split()
    if len(words) >= 2 and words[0] == "Courier":
        return words[1]
    return "unknown"


def _version():
    with _Shared.lock:
        known = _Shared.version
    if known is None:
        known = _courierVersion()
        with _Shared.lock:
            _Shared.version = known
    return known


def _mailId(lookup, name):
    try:
        return lookup(name)
    except KeyError:
        return None


def __getattr__(name):
    if name in _PATH_NAMES:
        return getattr(_paths(), name)
    if name == "sendmailProgram":
        return _paths().sendmailProgram
    if name == "mailuid":
        return _mailId(lambda user: pwd.getpwnam(user).pw_uid,
                       _paths().mailuser)
    if name == "mailgid":
        return _mailId(lambda group: grp.getgrnam(group).gr_gid,
                       _paths().mailgroup)
    if name == "version":
        return _version()
    if name == _MODULES_PATHS:
        path = _modules().path
        return [path] if path else []
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def read1line(name):
    """
    The first line of C{<sysconfdir>/<name>}, stripped; C{None} if the file
    cannot be read.
    """
    try:
        with open(os.path.join(_paths().sysconfdir, name), "rb") as f:
            line = f.readline()
    except OSError:
        return None
    return line.decode("utf-8", "replace").strip()


def me():
    return _courier().me()


def defaultdomain():
    return _courier().defaultdomain()


def dsnfrom():
    """
    The sender of Courier's delivery status notifications.
    """
    return _courier().dsnfrom()


def esmtphelo(sock=None):
    """
    The name Courier announces in HELO; C{sock} is accepted for
    compatibility, the name is always the configured one.
    """
    return _courier().esmtphelo()


def locallowercase():
    return 1 if _courier().locallowercase() else 0


def is_local(domain):
    return _courier().isLocal(domain)


def is_hosteddomain(domain):
    return _courier().isHostedDomain(domain)


def get_alias(address):
    """
    The target addresses of alias C{address} (a list), or C{None}.
    """
    return _courier().alias(address)


def smtpaccess(ip):
    """
    The smtpaccess.dat value that applies to C{ip}, or C{None}.
    """
    return _courier().smtpaccess(ip)


def get_smtpaccess_val(key, ip):
    """
    C{""} if the access value for C{ip} holds C{key}, the text after
    C{key=} if it holds C{key=...}, else C{None}.
    """
    return _courier().smtpaccessValue(key, ip)


def is_relayed(ip):
    return _courier().isRelayClient(ip)


def is_whiteblocked(ip):
    return _courier().isWhiteBlocked(ip)


def get_block_val(ip):
    return get_smtpaccess_val("BLOCK", ip)


def _versionNumbers(text):
    return tuple(int(match.group()) if match else 0
                 for match in (re.match(r"\d+", part)
                               for part in text.split(".")))


def is_min_version(requested):
    """
    C{True} if Courier's version is C{requested} or newer; C{False} when
    the version is unknown.
    """
    current = _version()
    if current == "unknown":
        return False
    return _versionNumbers(current) >= _versionNumbers(requested)


def get_module_config(section):
    """
    The options of C{section} of the modules configuration, evaluated
    safely; an empty dict if the section is absent.

    @raise pyfilter.engine.filter.ConfigError: a value is not a literal.
    """
    return _modules().section(section)


def _isModuleNamespace(namespace):
    """
    Whether C{namespace} is the globals of an imported module.
    """
    name = namespace.get("__name__") if isinstance(namespace, dict) else None
    module = sys.modules.get(name) if isinstance(name, str) else None
    return module is not None and vars(module) is namespace


def apply_module_config(section, namespace):
    """
    Set the options of C{section} in C{namespace}.  In a module's
    C{globals()}, only names the module already defines, and that are not
    functions, classes or modules, are set; others are logged and ignored.
    Any other dictionary receives every option.
    """
    options = get_module_config(section)
    if not _isModuleNamespace(namespace):
        for option, value in options.items():
            namespace[option] = value
        return
    for option, value in options.items():
        current = namespace.get(option, _ABSENT)
        if current is _ABSENT:
            log.warn("{where}: unknown option ignored",
                     where=_modules().where(section, option))
        elif callable(current) or isinstance(current, types.ModuleType):
            log.warn("{where}: would replace a function or module, ignored",
                     where=_modules().where(section, option))
        else:
            namespace[option] = value


isLocal = is_local
isHosteddomain = is_hosteddomain
getAlias = get_alias
getSmtpaccessVal = get_smtpaccess_val
isRelayed = is_relayed
isWhiteblocked = is_whiteblocked
getBlockVal = get_block_val
isMinVersion = is_min_version
getModuleConfig = get_module_config
applyModuleConfig = apply_module_config
