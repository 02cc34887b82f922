"""
A reference-style test module on the module path (no pythonfilter package
of its own) keeping state with C{from pythonfilter import ttldb}: the first
message of a sender is deferred, later ones pass, as a greylist copied
from the reference's filters does.
"""

import time

import courier.control
from pythonfilter import ttldb

_triplets = ttldb.TtlDb("legacygreylist", 60 * 60, 60 * 60 * 2)


def do_filter(body_path, control_paths):
    sender = courier.control.get_sender(control_paths)
    _triplets.lock()
    try:
        if _triplets.has_key(sender):
            return ""
        _triplets[sender] = time.time()
    finally:
        _triplets.unlock()
    return "451 4.7.1 Greylisted, try again later"
