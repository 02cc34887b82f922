"""
Runs one of the test suite's real services for the benchmark runner, on the
interpreter that has Twisted (the runner's Debian Python has not), and
keeps it until its stdin closes.

    /opt/pyfilter-test/bin/python benchmarks/service_host.py KIND PARENT

C{KIND} is C{postgres}, C{clamd}, C{spamd} or C{rspamd}; C{PARENT} the
directory the service's temporary directory goes in.  It prints one JSON
line describing the running service (or C{{"unavailable": REASON}} when
the machine cannot run it), then waits.
"""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(
    __file__))))

from twisted.trial.unittest import SkipTest  # noqa: E402

from tests import postgres, rspamd, services  # noqa: E402


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


def startRspamd(parent):
    daemon = rspamd.Rspamd().start()
    return daemon.stop, {"url": daemon.url(""), "pid": daemon.process.pid}


STARTERS = {"postgres": startPostgres, "clamd": startClamd,
            "spamd": startSpamd, "rspamd": startRspamd}


def main(kind, parent):
    try:
        stop, description = STARTERS[kind](parent)
    except (SkipTest, RuntimeError) as e:
        print(json.dumps({"unavailable": str(e)}), flush=True)
        return
    try:
        print(json.dumps(description), flush=True)
        sys.stdin.read()
    finally:
        stop()


if __name__ == "__main__":
    main(*sys.argv[1:])
