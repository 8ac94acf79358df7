"""listenKeys of the private user-data stream (DOC-EN "Websocket User Data Streams").

A key is valid for ``listen_key_ttl_s`` (60 min) after its creation or last keep-alive (PUT);
DELETE invalidates it. At most ``max_listen_keys`` (60) valid keys at once. Times come from
the exchange's clock.
"""

from __future__ import annotations

import secrets

from .config import Clock, SimulatorConfig
from .errors import ApiError


def unknown_key() -> ApiError:
    # MEXC documents no code for this; -1125 is Binance's "This listenKey does not exist."
    return ApiError(-1125, "This listenKey does not exist.")


class ListenKeys:
    def __init__(self, config: SimulatorConfig, clock: Clock) -> None:
        self.config = config
        self.clock = clock
        self.expires_at_ms: dict[str, int] = {}

    def reset(self) -> None:
        self.expires_at_ms = {}

    def _ttl_ms(self) -> int:
        return int(self.config.listen_key_ttl_s * 1000)

    def is_valid(self, key: str | None) -> bool:
        if not key:
            return False
        expires = self.expires_at_ms.get(key)
        return expires is not None and self.clock.now_ms() < expires

    def valid(self) -> list[str]:
        self.expires_at_ms = {k: v for k, v in self.expires_at_ms.items() if self.is_valid(k)}
        return list(self.expires_at_ms)

    def create(self) -> str:
        if len(self.valid()) >= self.config.max_listen_keys:
            raise ApiError(
                700007, f"Too many listenKeys (at most {self.config.max_listen_keys} per UID)."
            )
        key = secrets.token_hex(32)
        self.expires_at_ms[key] = self.clock.now_ms() + self._ttl_ms()
        return key

    def keep_alive(self, key: str) -> None:
        if not self.is_valid(key):
            raise unknown_key()
        self.expires_at_ms[key] = self.clock.now_ms() + self._ttl_ms()

    def close(self, key: str) -> None:
        if not self.is_valid(key):
            raise unknown_key()
        del self.expires_at_ms[key]

    def remaining_s(self, key: str) -> float:
        return max(0.0, (self.expires_at_ms.get(key, 0) - self.clock.now_ms()) / 1000)
