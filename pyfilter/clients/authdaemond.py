"""
A client of courier-authdaemond: C{PRE . <service> <user>} on its UNIX
socket answers the account's C{KEY=value} lines ending with C{.}, or
C{FAIL} for an unknown account.

Filters share one client per daemon, configured by the modules config's
section C{[authdaemon.py]}:

  - C{socket_path}: authdaemond's socket.  Default
    C{/var/spool/authdaemon/socket} (the reference's); when that does not
    exist and the option is not set, Debian's C{/run/courier/authdaemon/socket}
    (logged).
  - C{timeout}: seconds for a lookup, waiting included (default 10).
  - C{max_connections}: concurrent connections (default 5, authdaemond's
    default number of worker processes); at most eight times as many
    lookups wait for one.
"""

import os

from twisted.internet import defer

from pyfilter.engine.options import Option, positiveInteger, positiveNumber
from pyfilter.clients.base import Exchange, ServiceClient

REFERENCE_SOCKET = "/var/spool/authdaemon/socket"
DEBIAN_SOCKET = "/run/courier/authdaemon/socket"



def absolutePath(value):
    if not (isinstance(value, str) and value.startswith("/")):
        raise ValueError("expected an absolute path")
    return value


OPTIONS = {
    "socket_path": Option(REFERENCE_SOCKET, absolutePath,
                          "authdaemond's socket"),
    "timeout": Option(10.0, positiveNumber, "seconds for a lookup"),
    "max_connections": Option(5, positiveInteger,
                              "concurrent connections to authdaemond"),
}


def parseReply(data, closed):
    """
    The account in authdaemond's reply C{data} (a dict, or C{None} for
    C{FAIL}), or C{None} while incomplete, wrapped in a 1-tuple.
    """
    complete = (data.endswith(b"\n.\n") or data == b".\n"
                or data.endswith(b"FAIL\n"))
    if not (complete or (closed and data)):
        return None
    lines = data.decode("utf-8", "surrogateescape").split("\n")
    if "FAIL" in lines:
        return (None,)
    account = {}
    for line in lines:
        key, equals, value = line.partition("=")
        if equals:
            account[key] = value
    return (account,)


def askable(user):
    """
    Whether C{user} can be put in a request line (authdaemond's protocol
    has no quoting).
    """
    return bool(user) and not any(c.isspace() or ord(c) < 32 or c == "\x7f"
                                  for c in user)


def accountName(courier, address):
    """
    The name authdaemond knows the account at C{address} by: the local part
    in a local domain, the whole address in a hosted domain; C{None} for
    other addresses and for text that is not one C{local@domain}.
    """
    parts = address.split("@")
    if len(parts) != 2:
        return None
    local, domain = parts
    if courier.isLocal(domain):
        return local
    if courier.isHostedDomain(domain):
        return address
    return None


class _Lookup(Exchange):
    service = "authdaemond"

    def __init__(self, service, user):
        Exchange.__init__(self)
        self.line = f"PRE . {service} {user}\n".encode("utf-8",
                                                       "surrogateescape")

    def sendRequest(self):
        self.transport.write(self.line)
        self.requestSent = True

    def parseReply(self, data, closed):
        return parseReply(data, closed)


class AuthdaemonClient(ServiceClient):
    def __init__(self, reactor, socketPath, timeout=10.0, maxConnections=5):
        ServiceClient.__init__(self, reactor, "authdaemond", socketPath,
                               timeout, maxConnections)

    def userInfo(self, user, service="smtp"):
        """
        Look up C{user} for C{service}.

        @return: a Deferred of the account's fields (C{HOME}, C{MAILDIR},
            C{QUOTA}, ...) or C{None} when authdaemond does not know the
            user (or the name cannot be asked for: whitespace or control
            characters).
        """
        if not askable(user):
            self.log.info("authdaemon: not asking for {user!r}, it cannot "
                          "be an account name", user=user)
            return defer.succeed(None)
        d = self.converse(_Lookup(service, user))
        return d.addCallback(lambda result: result[0])


def clientFor(context):
    """
    The daemon's one L{AuthdaemonClient}, configured from
    C{[authdaemon.py]}.
    """
    return context.shared(
        ("authdaemond", context.modules.fingerprint("authdaemon.py")),
        lambda: _create(context))


def _create(context):
    """
    An L{AuthdaemonClient} configured from C{[authdaemon.py]}; Debian's
    socket when the reference's does not exist and none is set.
    """
    config, unknown = context.modules.checkedSection("authdaemon.py", OPTIONS)
    for option in unknown:
        AuthdaemonClient.log.warn("{where}: unknown option", where=(
            context.modules.where("authdaemon.py", option)))
    path = config["socket_path"]
    given = "socket_path" in context.modules.section("authdaemon.py")
    if not given and not os.path.exists(path):
        path = DEBIAN_SOCKET
        AuthdaemonClient.log.info(
            "authdaemon: {reference} does not exist, using Debian's "
            "{debian}", reference=REFERENCE_SOCKET, debian=path)
    return AuthdaemonClient(context.reactor, path, config["timeout"],
                            config["max_connections"])
