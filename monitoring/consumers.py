"""The dashboard's WebSocket: authenticated viewers receive every dashboard event as JSON."""

from __future__ import annotations

import asyncio

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from .events import DASHBOARD_GROUP, joined_on
from .permissions import is_viewer

# Close code for "not logged in / not allowed" (4000-4999 are the application's own).
CLOSE_UNAUTHORISED = 4401


class DashboardConsumer(AsyncJsonWebsocketConsumer):
    """Server push only: `{"event": "listing.created", "payload": {...}}` per message."""

    async def connect(self) -> None:
        user = self.scope.get("user")
        if not await database_sync_to_async(is_viewer)(user):
            await self.close(code=CLOSE_UNAUTHORISED)
            return
        await self.channel_layer.group_add(DASHBOARD_GROUP, self.channel_name)
        joined_on(asyncio.get_running_loop())
        await self.accept()

    async def disconnect(self, code: int) -> None:
        await self.channel_layer.group_discard(DASHBOARD_GROUP, self.channel_name)

    async def receive_json(self, content, **kwargs) -> None:
        if content == {"type": "ping"}:  # lets the page tell a live socket from a stale one
            await self.send_json({"event": "pong", "payload": {}})

    async def dashboard_event(self, message: dict) -> None:
        await self.send_json({"event": message["event"], "payload": message["payload"]})
