"""
Running filter modules written for the reference.

Such a module has C{do_filter(body_path, control_paths)} (or the older
C{doFilter}) returning a reply string, C{''} to go on; optionally
C{init_filter()} (or C{initFilter()}), called once at start-up.  It runs
unchanged in the bounded thread pool, so its blocking code never stalls the
daemon, and the chain's timeout and failure handling apply to it as to any
filter.
"""

from pyfilter.filter import ConfigError, Filter
from pyfilter.reply import Reply


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
    A reference-style module as a chain entry.
    """

    def __init__(self, name, module, context):
        super().__init__({}, context)
        self.name = name
        self.module = module
        self.function = entryPoint(module)

    def consider(self, message):
        d = self.context.threads.run(self.function, message.dataPath,
                                     list(message.controlPaths))
        d.addCallback(self._toReply)
        return d

    def _toReply(self, result):
        if not isinstance(result, str):
            raise TypeError(f"{self.name}: do_filter returned "
                            f"{type(result).__name__}, not a string")
        return Reply.fromString(result) if result.strip() else None
