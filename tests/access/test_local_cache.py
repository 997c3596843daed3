"""The embedded default's cache counts rate-limit hits in one step, in the entries the cache's
own calls read, expire and clear; any other cache Django is given counts them the generic way."""

import threading
import time

import pytest
from django.core.cache import cache, caches

from access.local_cache import LocalCache
from access.ratelimit import count_hit, peek, reset


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()
    yield
    cache.clear()


def test_the_default_cache_is_the_counting_one():
    assert isinstance(caches["default"], LocalCache)


def test_counts_from_many_threads_add_up():
    counter = caches["default"]

    def hit():
        for _ in range(500):
            counter.count([("rl:t:a", 61), ("rl:t:b", 61)])

    threads = [threading.Thread(target=hit) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert counter.count([("rl:t:a", 61), ("rl:t:b", 61)]) == [4001, 4001]


def test_a_counter_past_its_lifetime_starts_again(monkeypatch):
    now = [1_000_000.0]
    monkeypatch.setattr(time, "time", lambda: now[0])
    counter = caches["default"]

    assert counter.count([("rl:t:w", 5)]) == [1]
    assert counter.count([("rl:t:w", 5)]) == [2]
    now[0] += 5
    assert counter.count([("rl:t:w", 5)]) == [1]


def test_the_cache_reads_resets_and_clears_what_was_counted():
    assert [count_hit(bucket="login", who="1.2.3.4")[0] for _ in range(3)] == [1, 2, 3]
    assert peek(bucket="login", who="1.2.3.4", window=60)[0] == 3

    reset(bucket="login", who="1.2.3.4", window=60)
    assert peek(bucket="login", who="1.2.3.4", window=60)[0] == 0
    count_hit(bucket="login", who="1.2.3.4")
    cache.clear()
    assert peek(bucket="login", who="1.2.3.4", window=60)[0] == 0


def test_another_cache_counts_the_same_through_its_generic_calls(settings):
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "x"}
    }
    assert not isinstance(caches["default"], LocalCache)

    counts = [count_hit(bucket="login", who="5.6.7.8")[0] for _ in range(3)]

    assert counts == [1, 2, 3]
    assert peek(bucket="login", who="5.6.7.8", window=60)[0] == 3
    caches["default"].clear()
