"""
Runs one of the test suite's real services for the benchmark runner, on the
interpreter that has Twisted (the runner's Debian Python has not), and
keeps it until its stdin closes.

    /opt/pyfilter-test/bin/python benchmarks/service_host.py KIND PARENT

C{KIND} is C{postgres}, C{clamd} or C{spamd}; C{PARENT} the directory the
service's temporary directory goes in.  It prints one JSON line describing
the running service, then waits.
"""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(
    __file__))))

from tests import postgres, services  # noqa: E402


def startPostgres(parent):
    server = postgres.PostgresServer()
    server.start()
    return server.destroy, {
        "host": server.directory, "bin": server.bin, "user": server.user,
        "asUser": server.asUser,
        "postmasterPidFile": os.path.join(server.data, "postmaster.pid")}


def startClamd(parent):
    daemon = services.Clamd(parent=parent, streamMaxLength="20M").start()
    return daemon.stop, {"socket": daemon.socketPath}


def startSpamd(parent):
    daemon = services.Spamd(parent=parent, port=783).start()
    return daemon.stop, {"address": daemon.address}


STARTERS = {"postgres": startPostgres, "clamd": startClamd,
            "spamd": startSpamd}


def main(kind, parent):
    stop, description = STARTERS[kind](parent)
    try:
        print(json.dumps(description), flush=True)
        sys.stdin.read()
    finally:
        stop()


if __name__ == "__main__":
    main(*sys.argv[1:])
