"""
C{pyfilter import-state}: copy the reference's dbm state files into
pyfilter's state store, so that an admin switching over keeps greylist
triplets, auto-whitelist pairs, comeagain correspondents and dialback
results.

The files are the reference's TtlDb databases (C{greylist_Passed},
C{greylist_NotPassed}, C{auto_whitelist}, C{correspondents},
C{goodsenders}, C{badsenders}) in its C{[ttldb] dir}, in whichever dbm
flavour wrote them (GNU dbm, ndbm or Python's dumb dbm).  Each entry keeps
its value (a time) and expires at that time plus the lifetime the filter's
options give (the reference's defaults unless the modules config says
otherwise); expired entries are skipped.

The reference keyed its entries by the MD5 of texts concatenated without
separator, which cannot be turned back into the texts.  Entries are
therefore stored under the reference's key in a table of their own
(C{<name>.reference}); the filters look there when their own key is not
found and move what they find to their own key.  Run the import before
starting pyfilter: filters check for imported entries when they start.
"""

import argparse
import dbm
import os
import sys

from twisted.internet import defer

from pyfilter.config import locations
from pyfilter.config.errors import ConfigError
from pyfilter.config.modulesfile import ModulesConfig
from pyfilter.store import REFERENCE_SUFFIX, StoreError, storeFromConfig
from pyfilter.cli.reactorrun import runOnReactor

#: Database name to the filter option giving its lifetime, and its default.
LIFETIMES = {
    "greylist_Passed": ("greylist", "senders_passed_ttl", 60 * 60 * 24 * 36),
    "greylist_NotPassed": ("greylist", "senders_not_passed_ttl", 60 * 60 * 24),
    "auto_whitelist": ("auto_whitelist", "whitelist_ttl", 60 * 60 * 24 * 30),
    "correspondents": ("comeagain", "senders_ttl", 60 * 60 * 24 * 30),
    "goodsenders": ("dialback", "senders_ttl", 60 * 60 * 24 * 7),
    "badsenders": ("dialback", "senders_ttl", 60 * 60 * 24 * 7),
}

DEFAULT_DIR = "/var/lib/pythonfilter"
CONCURRENT_WRITES = 32


def lifetime(modules, name):
    filterName, option, default = LIFETIMES[name]
    return modules.section(f"{filterName}.py").get(option, default)


def readEntries(path):
    """
    The C{(key, time)} pairs of the dbm database at C{path}, or C{None}
    when there is none.  Malformed entries are skipped.
    """
    if not dbm.whichdb(path):
        return None
    entries = []
    with dbm.open(path, "r") as db:
        for rawKey in db.keys():
            try:
                entries.append((rawKey.decode("ascii"), int(db[rawKey])))
            except (UnicodeDecodeError, ValueError):
                continue
    return entries


@defer.inlineCallbacks
def importDatabase(store, name, entries, ttl, out):
    now = store.now()
    live = [(key, value) for key, value in entries if value + ttl > now]
    semaphore = defer.DeferredSemaphore(CONCURRENT_WRITES)
    yield defer.gatherResults(
        [semaphore.run(store.set, name + REFERENCE_SUFFIX, key, value,
                       value + ttl - now)
         for key, value in live], consumeErrors=True)
    out.write(f"{name}: imported {len(live)} entries, skipped "
              f"{len(entries) - len(live)} expired\n")


@defer.inlineCallbacks
def run(reactor, arguments, out):
    modules = ModulesConfig.read(arguments.modules_config)
    directory = (arguments.source or modules.section("ttldb").get("dir")
                 or DEFAULT_DIR)
    store = storeFromConfig(modules, arguments.state_dir, reactor)
    try:
        found = 0
        for name in LIFETIMES:
            entries = readEntries(os.path.join(directory, name))
            if entries is None:
                out.write(f"{name}: no database in {directory}\n")
                continue
            found += 1
            yield importDatabase(store, name, entries,
                                 lifetime(modules, name), out)
    finally:
        yield store.close()
    return found


def main(argv):
    parser = argparse.ArgumentParser(
        prog="pyfilter import-state",
        description="Import the reference's dbm state files into the "
                    "state store.")
    parser.add_argument("--modules-config",
                        default=locations.firstExisting(locations.MODULES_CONFIGS),
                        help="the modules config ([ttldb] says which store)")
    parser.add_argument("--state-dir", default=locations.STATE_DIR,
                        help="pyfilter's state directory (embedded store)")
    parser.add_argument("source", nargs="?",
                        help="the reference's dbm directory (default: "
                             f"[ttldb] dir, else {DEFAULT_DIR})")
    arguments = parser.parse_args(argv)
    return runOnReactor(lambda reactor: _importAll(reactor, arguments))


def _importAll(reactor, arguments):
    def found(databases):
        if not databases:
            sys.stderr.write("pyfilter import-state: no database found\n")
            return 1
        return 0

    def failed(failure):
        failure.trap(ConfigError, StoreError, OSError, dbm.error[0])
        sys.stderr.write(f"pyfilter import-state: "
                         f"{failure.getErrorMessage()}\n")
        return 1

    d = run(reactor, arguments, sys.stdout)
    return d.addCallbacks(found, failed)
