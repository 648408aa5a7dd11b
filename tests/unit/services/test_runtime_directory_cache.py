"""The directory's in-process cache: answers expire after their TTL; the least recently used
leave first when it is full; a cache of 0 seconds keeps nothing."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from services.runtime.directory import Directory
from services.runtime.directory.cache import MISSING, TtlCache
from services.runtime.directory.store import latest_by_key
from services.scoring.settings import ScoringSettings
from tests.support.events import unit_state


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_an_entry_is_served_until_its_ttl_has_passed():
    clock = Clock()
    cache = TtlCache(5.0, 10, clock)
    cache.put("a", ("a", "root"))
    clock.now += 4.999
    assert cache.get("a") == ("a", "root")
    clock.now += 0.001
    assert cache.get("a") is MISSING
    assert len(cache) == 0  # an expired entry is dropped when found


def test_none_is_a_value_a_miss_is_not():
    cache = TtlCache(5.0, 10, Clock())
    assert cache.get("unknown") is MISSING
    cache.put("unknown", None)
    assert cache.get("unknown") is None


def test_a_full_cache_drops_the_least_recently_used_entry():
    cache = TtlCache(60.0, 3, Clock())
    for key in "abc":
        cache.put(key, key.upper())
    assert cache.get("a") == "A"  # now the most recently used
    cache.put("d", "D")
    assert len(cache) == 3
    assert cache.get("b") is MISSING
    assert [cache.get(k) for k in "acd"] == ["A", "C", "D"]
    cache.put("c", "C2")  # a refresh does not grow the cache
    assert len(cache) == 3 and cache.get("c") == "C2"


def test_a_refreshed_entry_lives_a_full_ttl_again():
    clock = Clock()
    cache = TtlCache(5.0, 10, clock)
    cache.put("a", 1)
    clock.now += 4
    cache.put("a", 2)
    clock.now += 4
    assert cache.get("a") == 2


def test_zero_seconds_or_zero_size_keeps_nothing():
    for cache in (TtlCache(0, 10, Clock()), TtlCache(5.0, 0, Clock())):
        cache.put("a", 1)
        assert cache.get("a") is MISSING and len(cache) == 0


class CountingPool:
    """Answers the ancestors query with a fixed chain, counting the queries."""

    def __init__(self, chain: list[str]) -> None:
        self.chain = chain
        self.queries = 0

    async def fetch(self, sql: str, *args):
        self.queries += 1
        return [(unit,) for unit in self.chain]


async def test_directory_answers_from_the_cache_until_the_ttl_passes():
    clock, pool = Clock(), CountingPool(["g-1", "d-1", "c-1"])
    directory = Directory(pool, cache_seconds=5.0, cache_size=2, clock=clock)
    day = date(2025, 6, 30)
    assert await directory.inside("g-1", "d-1", day)
    assert await directory.inside("g-1", "c-1", day)
    assert await directory.ancestors("g-1", day) == ("g-1", "d-1", "c-1")
    assert pool.queries == 1
    await directory.ancestors("g-1", date(2025, 7, 1))  # another date, another entry
    assert pool.queries == 2
    clock.now += 5
    await directory.ancestors("g-1", day)
    assert pool.queries == 3
    # Size 2: a third key pushes the least recently used out.
    await directory.ancestors("g-2", day)
    await directory.ancestors("g-1", date(2025, 7, 1))
    assert pool.queries == 5


async def test_directory_without_a_cache_asks_every_time():
    pool = CountingPool(["g-1", "c-1"])
    directory = Directory(pool, cache_seconds=0)
    for _ in range(3):
        assert await directory.inside("g-1", "c-1", date(2025, 7, 1))
    assert pool.queries == 3


def test_a_batch_keeps_the_latest_recorded_state_per_key_the_later_on_a_tie():
    t = datetime(2025, 1, 1, tzinfo=UTC)
    day = date(2024, 1, 1)
    newer = unit_state("g-1", "d-1", day, member_count=75, time=t + timedelta(minutes=1))
    older = unit_state("g-1", "d-1", day, member_count=60, time=t)
    tie = unit_state("g-1", "d-1", day, member_count=80, time=t + timedelta(minutes=1))
    other_day = unit_state("g-1", "c-1", date(2025, 7, 1), time=t)

    def key(event):
        return (event.data.unit_id, event.data.effective_from)

    assert latest_by_key([newer, older, other_day], key) == [newer, other_day]
    assert latest_by_key([older, newer], key) == [newer]
    assert latest_by_key([newer, tie], key) == [tie]


def test_the_cache_is_set_per_service_by_its_prefixed_variables(monkeypatch):
    for name in ("SCORING_DIRECTORY_CACHE_SECONDS", "SCORING_DIRECTORY_CACHE_SIZE"):
        monkeypatch.delenv(name, raising=False)
    defaults = ScoringSettings.from_env()
    assert (defaults.directory_cache_seconds, defaults.directory_cache_size) == (5.0, 100_000)
    monkeypatch.setenv("SCORING_DIRECTORY_CACHE_SECONDS", "0.5")
    monkeypatch.setenv("SCORING_DIRECTORY_CACHE_SIZE", "1000")
    settings = ScoringSettings.from_env()
    assert (settings.directory_cache_seconds, settings.directory_cache_size) == (0.5, 1000)
