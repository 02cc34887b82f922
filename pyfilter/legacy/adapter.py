"""
Running filter modules written for the reference.

Such a module has C{do_filter(body_path, control_paths)} (or the older
C{doFilter}) returning a reply string, C{''} to go on; optionally
C{init_filter()} (or C{initFilter()}), called once at start-up.  It runs
unchanged in the bounded thread pool, so its blocking code never stalls the
daemon, and the chain's timeout and failure handling apply to it as to any
filter.

A C{do_filter} returning C{None} (a bare C{return}) has no opinion, as with
the reference; it is logged once per module rather than once per message.
Any other result that is not a string is a failure: the chain answers 451.
"""

from twisted.logger import Logger

from pyfilter.legacy.pythonfilter import ttldb
from pyfilter.config.errors import ConfigError
from pyfilter.engine.filter import Filter
from pyfilter.engine.reply import Reply

log = Logger()


def entryPoint(module):
    """
    The module's filter function, or C{None} if it has none.
    """
    return getattr(module, "do_filter", None) or getattr(module, "doFilter",
                                                         None)


def initialise(name, module):
    """
    Run the module's start-up hook, if it has one.

    @raise ConfigError: the hook failed (including C{sys.exit}).
    """
    hook = getattr(module, "init_filter", None) or getattr(
        module, "initFilter", None)
    if hook is None:
        return
    try:
        hook()
    except BaseException as e:
        if isinstance(e, KeyboardInterrupt):
            raise
        raise ConfigError(f"legacy filter {name}: start-up hook failed: "
                          f"{type(e).__name__}: {e}") from e


def useContext(context):
    """
    Run the legacy modules imported from now on with C{context}: their
    C{pythonfilter.ttldb} databases live in its state store.
    """
    ttldb.useContext(context)


class LegacyFilter(Filter):
    """
    A reference-style module as a chain entry.
    """

    def __init__(self, name, module, context):
        super().__init__({}, context)
        self.name = name
        self.module = module
        self.function = entryPoint(module)
        self.loggedNone = False

    def consider(self, message):
        d = self.context.threads.run(self.function, message.dataPath,
                                     list(message.controlPaths))
        d.addCallback(self._toReply)
        return d

    def _toReply(self, result):
        if result is None:
            self._noteNone()
            return None
        if not isinstance(result, str):
            raise TypeError(f"{self.name}: do_filter returned "
                            f"{type(result).__name__}, not a string")
        return Reply.fromString(result) if result.strip() else None

    def _noteNone(self):
        if not self.loggedNone:
            self.loggedNone = True
            log.warn("legacy filter {name}: do_filter returned None, taken "
                     "as no opinion (as the reference does); not logged "
                     "again for this module", name=self.name)
