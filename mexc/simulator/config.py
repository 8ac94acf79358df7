"""Simulator configuration (one dataclass; the CLI maps its flags onto these fields)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from decimal import Decimal

#: Established markets seeded at start (symbol -> initial price) so the universe isn't empty.
DEFAULT_SEED_SYMBOLS: dict[str, str] = {
    "BTCUSDT": "65000.00",
    "ETHUSDT": "3200.00",
    "MXUSDT": "3.1000",
    "SOLUSDT": "150.00",
    "DOGEUSDT": "0.15000",
    "PEPEUSDT": "0.0000123",
}


def _default_balances() -> dict[str, Decimal]:
    return {"USDT": Decimal("10000")}


@dataclass
class SimulatorConfig:
    """Everything that shapes one simulator instance.

    ``SimulatorConfig()`` is quiet (no default scenario) because it is the library/test entry
    point; ``python -m mexc.simulator`` turns the default scenario on unless told otherwise.
    """

    host: str = "127.0.0.1"
    port: int = 8900  # 0 = ephemeral (tests)
    api_key: str = "sim-api-key"
    secret_key: str = "sim-secret-key"
    balances: dict[str, Decimal] = field(default_factory=_default_balances)
    clock_offset_ms: int = 0  # server clock = local clock + offset
    # Market data
    mini_tickers_interval_ms: int = 3000
    market_tick_ms: int = 1000  # random-walk step + synthetic trades
    seed_symbols: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_SEED_SYMBOLS))
    random_seed: int | None = None
    taker_commission: Decimal = Decimal("0.0005")
    # "received" (default): the fee is taken from the asset received (base for BUY), as MEXC
    # does. "quote": a BUY pays notional + fee in the quote asset, all within quoteOrderQty.
    fee_mode: str = "received"
    maker_commission: Decimal = Decimal("0")
    min_quote_amount: Decimal = Decimal("5")  # quoteAmountPrecision(Market): the 30002 floor
    max_quote_amount_market: Decimal = Decimal("100000")  # 30003 above this
    exchange_info_pre_open: bool = False  # list scheduled symbols in exchangeInfo, status "2"
    # exchangeInfo?symbols=A,B with one name not listed: the whole read refused with -1121
    # (True, harsher: undocumented for MEXC, Binance answers so) or the listed ones (False).
    exchange_info_batch_strict: bool = True
    # Every new order is invisible to GET order / openOrders / allOrders (-2013 / absent) for
    # this long after its creation: MEXC answers -2013 for orders it just accepted "quite often
    # and chaotically" (ccxt #21614); undocumented, so the harsher case by default. 0: kinder
    # (visible at once). The `lookup_lag` fault sets a longer lag for the next K orders.
    lookup_lag_ms: int = 100
    # A reused newClientOrderId: "accept" (default; MEXC documents no check) or "reject" (26).
    duplicate_client_ids: str = "accept"
    # A MARKET order by quoteOrderQty becomes a base quantity at a protective price (last/ask
    # x (1 + markup) for BUY, bid x (1 - markup) for SELL), as live acks show
    # (mexc-api-sdk #77, ccxt #14931). 0 = spend exactly quoteOrderQty.
    market_quote_markup: Decimal = Decimal("0.05")
    # Price shown by a MARKET order's ack and query: "zero" ("0") or "protect" (the price above).
    market_ack_price: str = "zero"
    # LIMIT/IOC/FOK/LIMIT_MAKER price band (percent around the last price) for listings that
    # don't set ``max_price_band_pct``; None = no band (MEXC publishes no width).
    default_price_band_pct: Decimal | None = None
    # The code a MARKET order gets during a listing's ``market_block_ms``: 30051 (live,
    # hummingbot #6932), 30019 (live in 2022, DOC-EN) or 30018 (DOC-EN "market order is disabled").
    market_block_code: int = 30051
    calendar_keep_ms: int = 86_400_000  # keep opened listings on the calendar this long
    # Rate limits (mexc-api.md §4): one shared bucket per IP and one per UID.
    rate_limit: int = 500  # weight per window; 0 disables
    rate_limit_window_s: float = 10.0
    rate_limit_ban_after: int = 5  # 429s within one window before the IP gets a 418 ban
    rate_limit_ban_s: float = 120.0  # real MEXC: 2 min .. 3 days (the shortest by default)
    # WebSocket (mexc-api.md §5.1)
    ws_idle_timeout_s: float = 30.0  # no subscription for this long -> disconnect
    ws_no_data_timeout_s: float = 60.0  # subscribed but no push for this long -> disconnect
    ws_max_age_s: float = 86_400.0
    listen_key_ttl_s: float = 3600.0  # a listenKey expires this long after creation/keep-alive
    max_listen_keys: int = 60
    max_connections_per_listen_key: int = 5
    ws_max_subscriptions: int = 30
    ws_max_messages_per_s: int = 100  # client->server; above -> disconnect
    # Scenario
    default_scenario: bool = False
    scenario_file: str | None = None
    scenario: dict | list | None = None  # inline scenario (same shape as the file)

    def __post_init__(self) -> None:
        self.balances = {k.upper(): Decimal(str(v)) for k, v in self.balances.items()}
        self.taker_commission = Decimal(str(self.taker_commission))
        self.maker_commission = Decimal(str(self.maker_commission))
        self.min_quote_amount = Decimal(str(self.min_quote_amount))
        self.max_quote_amount_market = Decimal(str(self.max_quote_amount_market))
        self.market_quote_markup = Decimal(str(self.market_quote_markup))
        if self.default_price_band_pct is not None:
            self.default_price_band_pct = Decimal(str(self.default_price_band_pct))
        self.validate()

    def validate(self) -> None:
        """ValueError on nonsense (also after a run-time change through ``/_sim/config``)."""
        if self.fee_mode not in ("quote", "received"):
            raise ValueError("fee_mode must be 'quote' or 'received'")
        if self.duplicate_client_ids not in ("accept", "reject"):
            raise ValueError("duplicate_client_ids must be 'accept' or 'reject'")
        if self.market_ack_price not in ("zero", "protect"):
            raise ValueError("market_ack_price must be 'zero' or 'protect'")
        if self.lookup_lag_ms < 0:
            raise ValueError("lookup_lag_ms must be >= 0")
        if not 0 <= self.market_quote_markup < 1:
            raise ValueError("market_quote_markup must be in [0, 1)")
        if self.default_price_band_pct is not None and not self.default_price_band_pct > 0:
            raise ValueError("default_price_band_pct must be > 0 (or null: no band)")
        if self.market_block_code not in MARKET_BLOCK_CODES:
            raise ValueError(f"market_block_code must be one of {sorted(MARKET_BLOCK_CODES)}")


#: MEXC's codes for a refused MARKET order (mexc-api.md sections 3 and 7), with their texts.
MARKET_BLOCK_CODES: dict[int, str] = {
    30018: "market order is disabled",
    30019: "api market order is disabled",
    30051: "api market order is disabled",
}


#: Config fields ``POST /_sim/config`` may change at run time, with their types.
RUNTIME_SWITCHES: dict[str, type] = {
    "duplicate_client_ids": str,
    "fee_mode": str,
    "market_quote_markup": Decimal,
    "market_ack_price": str,
    "exchange_info_pre_open": bool,
    "lookup_lag_ms": int,
    "exchange_info_batch_strict": bool,
    "rate_limit": int,
    "rate_limit_ban_after": int,
    "rate_limit_ban_s": float,
    "ws_idle_timeout_s": float,
    "ws_no_data_timeout_s": float,
    "listen_key_ttl_s": float,
    "taker_commission": Decimal,
    "maker_commission": Decimal,
    "min_quote_amount": Decimal,
    "default_price_band_pct": Decimal,  # null allowed: no band
    "market_block_code": int,
}
#: Run-time switches that accept JSON null.
NULLABLE_SWITCHES = frozenset({"default_price_band_pct"})


class Clock:
    """The exchange's clock: local wall clock plus a (mutable) offset."""

    def __init__(self, offset_ms: int = 0) -> None:
        self.offset_ms = offset_ms

    @property
    def offset_ms(self) -> int:
        return self._offset_ms

    @offset_ms.setter
    def offset_ms(self, value: int) -> None:
        self._offset_ms = int(value)
        self._offset_us = self._offset_ms * 1000

    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000 + self._offset_ms

    def now_us(self) -> int:
        """Microseconds, exchange time (one clock read, one add: cheap enough for stamps)."""
        return time.time_ns() // 1000 + self._offset_us
