"""
A module written as the reference's own filters are, in the admin's
pythonfilter package: C{from . import ttldb}, the database opened in
init_filter, a check-and-set under its lock.  A sender seen before is
answered with the time it was first seen; a new one is recorded and has no
opinion.
"""

import sys
import time

import courier.config
import courier.control

from . import ttldb

senders_ttl = 60 * 60


def init_filter():
    courier.config.apply_module_config("legacycorrespondents.py", globals())
    global _senders
    try:
        _senders = ttldb.TtlDb("correspondents", senders_ttl, 60)
    except ttldb.OpenError as e:
        sys.stderr.write("Could not open the correspondents TtlDb: %s\n" % e)
        sys.exit(1)


def do_filter(body_path, control_paths):
    sender = courier.control.get_sender(control_paths)
    _senders.purge()
    _senders.lock()
    try:
        if sender in _senders:
            return "250 Known sender since %d" % int(_senders[sender])
        _senders[sender] = time.time()
    finally:
        _senders.unlock()
    return ""
