"""``procs.ahead``: the next chunk of a file made by a thread while this one is used.

Its promises: the items in order; an error raised in its place, after the items before it; at most
``depth`` items made beyond the one in use; the thread stopped and waited for however the block is
left. And a run whose chunks are read ahead writes what the same run writes without."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from medins import procs


class Made:
    """Items 0, 1, 2 … that count how many are made and not yet done with."""

    def __init__(self, count: int, fail_at: int | None = None) -> None:
        self.count, self.fail_at = count, fail_at
        self.alive = self.most = self.made = 0
        self.lock = threading.Lock()

    def __iter__(self) -> Iterator[int]:
        for k in range(self.count):
            if k == self.fail_at:
                raise ValueError(f"item {k} is bad")
            time.sleep(0.002)
            with self.lock:
                self.alive += 1
                self.made += 1
                self.most = max(self.most, self.alive)
            yield k

    def done(self) -> None:
        with self.lock:
            self.alive -= 1


@pytest.mark.parametrize("depth", [1, 2, 4])
def test_items_come_in_order_with_at_most_depth_made_beyond_the_one_in_use(depth: int) -> None:
    made = Made(40)
    got = []
    with procs.ahead(made, depth) as items:
        for k in items:
            time.sleep(0.004)  # slower than the maker: it would run ahead if it could
            got.append(k)
            made.done()
    assert got == list(range(40))
    assert 2 <= made.most <= depth + 1  # made ahead; the one in use and ``depth`` more at most


def test_an_error_making_an_item_is_raised_in_its_place() -> None:
    got = []
    with pytest.raises(ValueError, match="item 5 is bad"), procs.ahead(Made(10, fail_at=5)) as items:
        for k in items:
            got.append(k)
    assert got == [0, 1, 2, 3, 4]


def test_leaving_early_stops_the_thread_and_waits_for_it() -> None:
    made = Made(1000)
    before = threading.active_count()
    with pytest.raises(RuntimeError), procs.ahead(made) as items:
        for k in items:
            if k == 3:
                raise RuntimeError("the consumer stops")
    assert threading.active_count() == before  # joined, not left running
    assert made.made <= 3 + 1 + 1 + 1  # 0…3, the one ahead, at most the one it was making


def test_depth_zero_makes_each_item_as_it_is_used_without_a_thread() -> None:
    made = Made(5)
    before = threading.active_count()
    with procs.ahead(made, 0) as items:
        for k in items:
            assert threading.active_count() == before
            assert made.made == k + 1  # nothing made ahead
            made.done()
    assert made.most == 1
