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
from pyfilter.legacy import aliases
from pyfilter.legacy.courier import config

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


class LegacyFilter(Filter):
    """
    A reference-style module as a chain entry: the subclass that
    L{LegacySupport.adapt} makes for each module sets C{module}.
    """

    module = None
    onError = None

    def __init__(self, config, context):
        super().__init__(config, context)
        self.function = entryPoint(self.module)
        self.loggedNone = False
        initialise(self.name, self.module)

    def match(self, message):
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


class LegacySupport:
    """
    What the loader needs to run modules written for the reference: the
    reference's C{courier} helper modules made importable (sharing the
    daemon's configuration objects, and its state store for
    C{pythonfilter.ttldb}), and a filter class for each module with a
    C{do_filter} function.

    @param context: the daemon's L{pyfilter.engine.context.Context}, or
        C{None} to find modules without running them.
    """

    def __init__(self, context):
        self.context = context
        self._prepared = False

    def prepareImport(self):
        """
        Make C{import courier.X} and C{pythonfilter.ttldb} work for the
        module about to be imported.
        """
        if not self._prepared:
            aliases.install()
            if self.context is not None:
                config.configure(self.context.paths, self.context.courier,
                                 self.context.modules)
                ttldb.useContext(self.context)
            self._prepared = True

    def adapt(self, name, module):
        """
        The filter class running C{module}, or C{None} when it has no
        C{do_filter} function.
        """
        if entryPoint(module) is None:
            return None
        return type(f"Legacy({name})", (LegacyFilter,),
                    {"module": module, "name": name})
