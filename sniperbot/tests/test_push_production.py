"""Dashboard push in the production shape: the Redis channel layer holds an idle connection.

channels-redis waits for a message with BZPOPMIN for up to 5 s at a time; with redis-py 8's
default 5 s socket timeout that wait raised `TimeoutError: Timeout reading from ...` and
daphne dropped every dashboard WebSocket about every 6 s. Skipped without REDIS_URL.
"""

from __future__ import annotations

import asyncio
import time

import pytest
from django.conf import settings

pytestmark = pytest.mark.skipif(not settings.REDIS_URL, reason="REDIS_URL not set")

IDLE_S = 12  # more than two of channels-redis's 5 s blocking waits, past the old 5 s timeout


async def test_an_idle_receive_outlives_the_blocking_wait_and_gets_the_message():
    from channels_redis.core import RedisChannelLayer

    # Its own layer, built from the settings: the process-wide one may belong to another loop.
    layer = RedisChannelLayer(**settings.CHANNEL_LAYERS["default"]["CONFIG"])
    channel = await layer.new_channel()
    started = time.monotonic()

    async def send_late() -> None:
        await asyncio.sleep(IDLE_S)
        await layer.send(channel, {"type": "listing.created", "symbol": "LATEUSDT"})

    sender = asyncio.create_task(send_late())
    try:
        message = await asyncio.wait_for(layer.receive(channel), timeout=IDLE_S + 10)
    finally:
        sender.cancel()
        await layer.flush()
        await layer.close_pools()
    assert message == {"type": "listing.created", "symbol": "LATEUSDT"}
    assert time.monotonic() - started >= IDLE_S


def test_the_layer_reads_longer_than_it_blocks():
    host = settings.CHANNEL_LAYERS["default"]["CONFIG"]["hosts"][0]
    assert host["address"] == settings.REDIS_URL
    assert host["socket_timeout"] > 5  # channels-redis's BZPOPMIN timeout (brpop_timeout)
