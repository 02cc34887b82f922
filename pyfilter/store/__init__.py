"""
The state store: keys with a time to live, shared by the stateful filters
(greylist, comeagain, ratelimit, ratelimitauth, auto_whitelist).

Configured by the modules config's C{[ttldb]} section, as the reference's
TtlDb was:

  - absent, C{type = 'dbm'} or C{type = 'sqlite'}: the embedded SQLite store
    in the daemon's state directory (C{dir} is the reference's dbm
    directory; it is only read by C{pyfilter import-state});
  - C{type = 'psycopg2'} (or C{'pg'}): PostgreSQL, for several servers
    sharing one policy, with C{host} (a name, or a socket directory
    starting with C{/}), C{port}, C{db}, C{user}, C{password};
  - C{type = 'memory'}: in the daemon's memory only (tests).

pyfilter's own options in the section: C{timeout} (seconds any store
operation may take, default 5), C{purge_interval} (seconds between
background purges of expired entries, default 300), C{pool_size}
(PostgreSQL connections, default 8), C{count_interval} (seconds between
writes of the rate counters, default 1: each daemon counts in memory and
adds its counts to the store's in batches, L{pyfilter.store.counting}; 0
writes every event before answering).

Every operation returns a Deferred and fails with L{StoreError} when the
store cannot answer (down, too slow, busy); the store logs once when an
outage starts and once when it ends.  Expired entries are never returned,
whether or not the background purge has removed them yet.  Times come from
the store's clock (the reactor), so tests drive every window with a
L{twisted.internet.task.Clock}.
"""

from pyfilter.store.base import (
    REFERENCE_SUFFIX, STORE_UNAVAILABLE, Store, StoreError)
from pyfilter.store.keys import (
    clientNetwork, referenceKey, referenceNetwork, tupleKey)
from pyfilter.store.opening import storeFor, storeFromConfig
from pyfilter.store.table import Table

__all__ = ["REFERENCE_SUFFIX", "STORE_UNAVAILABLE", "Store", "StoreError",
           "Table", "clientNetwork", "referenceKey", "referenceNetwork",
           "storeFor", "storeFromConfig", "tupleKey"]
