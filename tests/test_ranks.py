"""cstool.base.ranks in one process (the launcher's variables absent or set): who writes, and the slices."""

from __future__ import annotations

import pytest

from cstool.base import ranks


@pytest.mark.parametrize("n", [0, 1, 5, 27, 100])
@pytest.mark.parametrize("count", [1, 2, 3, 8])
def test_shards_are_contiguous_in_order_and_even(n, count):
    parts = [ranks.shard(n, i, count) for i in range(count)]
    assert [i for p in parts for i in p] == list(range(n))
    assert max(map(len, parts)) - min(map(len, parts)) <= 1


def test_without_a_launcher_this_is_process_0_of_1(monkeypatch):
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    assert (ranks.rank(), ranks.world_size(), ranks.is_main()) == (0, 1, True)
    assert ranks.shard(7) == range(7) and ranks.local_device("cuda") == "cuda"
    assert ranks.all_sum([1.5, 2.0], "cpu") == [1.5, 2.0] and ranks.broadcast("x", "cpu") == "x"
    ranks.barrier("cpu")  # nothing to wait for


def test_under_a_launcher_process_1_of_2_does_not_write(monkeypatch):
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert not ranks.is_main() and ranks.shard(27) == range(13, 27)
    assert ranks.local_device("cuda") == "cuda:1" and ranks.local_device("cpu") == "cpu"
