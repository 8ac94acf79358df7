"""A large JSON array decoded a slice at a time: the same items, and the loop keeps running."""

from __future__ import annotations

import asyncio
import json

import pytest

from mexc.jsonslices import array_items


async def items_of(document: str, key: str, **how) -> list:
    return [item async for item in array_items(document, key, **how)]


@pytest.mark.parametrize(
    "body",
    [
        {"timezone": "CST", "serverTime": 1, "symbols": [{"symbol": "A"}, {"symbol": "B"}]},
        {"symbols": [], "after": {"nested": ["]", "}", ","]}},
        {"rateLimits": [{"x": [1, 2, {"y": '"]}'}]}], "symbols": [1, "two", None, [3]]},
        {"exchangeFilters": [], "symbols": [{"s": 'A\u00e9"] \\', "f": [{"t": 1.5e-3}]}]},
    ],
)
async def test_the_items_are_those_json_loads_finds(body):
    for document in (json.dumps(body), json.dumps(body, indent=2)):  # compact and spaced
        assert await items_of(document, "symbols") == json.loads(document)["symbols"]


@pytest.mark.parametrize(
    "document",
    [
        '{"code": 700003, "msg": "Timestamp for this request is outside the recvWindow."}',
        '{"symbols": null}',
        '["symbols", []]',
        '{"symbols": [1, 2',
        '{"symbols": [1 2]}',
        "",
    ],
)
async def test_a_document_without_the_array_is_refused(document):
    with pytest.raises(ValueError):
        await items_of(document, "symbols")


async def test_other_tasks_run_between_slices():
    document = json.dumps({"symbols": list(range(1000))})
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    task = asyncio.create_task(ticker())
    await asyncio.sleep(0)
    seen = [ticks async for _ in array_items(document, "symbols", slice_size=100)]
    task.cancel()
    assert len(seen) == 1000
    assert len(set(seen)) >= 10  # the ticker ran after every slice of 100
    assert seen[:100] == [seen[0]] * 100  # and not within one
