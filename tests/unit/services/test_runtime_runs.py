"""Cutting a batch into runs of one event type: every partition keeps its order."""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise

from hypothesis import given, settings
from hypothesis import strategies as st

from services.runtime.runs import runs_by_type

# Derandomized: the same examples on every run, so a failure is reproducible by rerunning.
deterministic = settings(derandomize=True, database=None, max_examples=100, deadline=None)


@dataclass(frozen=True)
class Item:
    seq: int  # position in the batch, to tell equal-looking items apart
    partition: int
    event_type: str

    @property
    def partition_id(self) -> tuple[str, int]:
        return "thidua.initiatives.v1", self.partition


def batch_of(pairs: list[tuple[int, str]]) -> list[Item]:
    return [Item(seq, partition, event_type) for seq, (partition, event_type) in enumerate(pairs)]


batches = st.lists(
    st.tuples(st.integers(0, 3), st.sampled_from(["submitted", "reviewed", "registered"])),
    max_size=40,
).map(batch_of)


def per_partition(items: list[Item]) -> dict[int, list[Item]]:
    out: dict[int, list[Item]] = {}
    for item in items:
        out.setdefault(item.partition, []).append(item)
    return out


@deterministic
@given(batches)
def test_concatenating_each_partitions_items_across_runs_gives_the_input_order(batch):
    runs = list(runs_by_type(batch))
    concatenated = [item for _, run in runs for item in run]
    assert per_partition(concatenated) == per_partition(batch)


@deterministic
@given(batches)
def test_every_item_is_in_exactly_one_run_of_its_own_type(batch):
    runs = list(runs_by_type(batch))
    assert all(run and all(item.event_type == event_type for item in run)
               for event_type, run in runs)
    assert sorted(item.seq for _, run in runs for item in run) == list(range(len(batch)))


@deterministic
@given(batches)
def test_two_consecutive_runs_never_share_a_type(batch):
    types = [event_type for event_type, _ in runs_by_type(batch)]
    assert all(a != b for a, b in pairwise(types))


@deterministic
@given(st.lists(st.integers(0, 5), min_size=1, max_size=40))
def test_a_homogeneous_batch_is_a_single_run(partitions):
    batch = batch_of([(p, "submitted") for p in partitions])
    [(event_type, run)] = list(runs_by_type(batch))
    assert event_type == "submitted"
    assert per_partition(run) == per_partition(batch)


def test_an_empty_batch_has_no_runs():
    assert list(runs_by_type([])) == []


def test_a_type_change_on_one_partition_does_not_hold_back_other_partitions():
    batch = batch_of([(0, "submitted"), (0, "reviewed"), (1, "submitted"), (1, "submitted")])
    runs = [(event_type, [item.seq for item in run]) for event_type, run in runs_by_type(batch)]
    assert runs == [("submitted", [0, 2, 3]), ("reviewed", [1])]


def test_interleaved_types_on_one_partition_become_one_run_per_change():
    batch = batch_of([(0, "submitted"), (0, "reviewed"), (0, "reviewed"), (0, "submitted")])
    runs = [(event_type, [item.seq for item in run]) for event_type, run in runs_by_type(batch)]
    assert runs == [("submitted", [0]), ("reviewed", [1, 2]), ("submitted", [3])]
