"""Live views: one poller per key however many follow it, state loaded only when the version
moved, and a bound on followers answered with 503 before a stream starts."""

from __future__ import annotations

import asyncio

import pytest

from servicekit.errors import Unavailable
from servicekit.streams import Watch


async def test_followers_of_one_key_share_one_poller_and_see_each_change() -> None:
    versions = {"q": 1}
    loads: list[int] = []

    def load(key: str) -> dict[str, int]:
        loads.append(versions[key])
        return {"v": versions[key]}

    watch = Watch(lambda key: versions[key], load, interval=0.01, limit=3)
    a, b = watch.follow("q"), watch.follow("q")
    assert (await a.__anext__(), await b.__anext__()) == ({"v": 1}, {"v": 1})
    versions["q"] = 2
    assert await asyncio.wait_for(a.__anext__(), 1) == {"v": 2}
    assert await asyncio.wait_for(b.__anext__(), 1) == {"v": 2}
    assert loads == [1, 2]  # once per change, not once per follower
    assert watch.followers == 2
    watch.admit()  # a third may come
    c = watch.follow("q")
    await c.__anext__()
    with pytest.raises(Unavailable):
        watch.admit()  # a fourth may not
    for it in (a, b, c):
        await it.aclose()
    assert watch.followers == 0
