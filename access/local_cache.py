"""The cache of the embedded default (no REDIS_URL): Django's local-memory cache, with the rate
limits' counting done in one step.

Every API request adds one to two counters (`access.ratelimit`). Through the generic cache calls
each addition checks its key for memcached's sake, takes the lock and unpickles and pickles the
count, and a window's first hit takes three calls: about a fifth of a read by id's CPU on the
benchmark machine (bench/RESULTS.md, "Eighth session"). `count` adds to all of a request's
counters under one lock, in the same entries `get`, `delete` and `clear` see, so the limits read
and reset as before. The counters live in each process, as every local-memory entry does.
"""

import pickle
from typing import Any

from django.core.cache.backends.locmem import LocMemCache


class LocalCache(LocMemCache):
    """`LocMemCache` plus `count`."""

    def count(self, keys: list[tuple[str, int]]) -> list[int]:
        """Add one to each (key, seconds to live) counter, starting expired or missing ones at
        one with that lifetime, and return the new counts."""
        counts = []
        cache: Any = self  # LocMemCache's own storage and helpers, which the stubs leave out
        with cache._lock:
            for key, ttl in keys:
                full_key = self.make_key(key)
                if cache._has_expired(full_key):
                    count = 1
                    cache._set(full_key, pickle.dumps(count, self.pickle_protocol), ttl)
                else:
                    count = pickle.loads(cache._cache[full_key]) + 1
                    cache._cache[full_key] = pickle.dumps(count, self.pickle_protocol)
                    cache._cache.move_to_end(full_key, last=False)  # as `incr` keeps it fresh
                counts.append(count)
        return counts
