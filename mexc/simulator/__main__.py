"""``python -m mexc.simulator``: serve the simulator until SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
from decimal import Decimal, InvalidOperation

from .app import Simulator
from .config import MARKET_BLOCK_CODES, SimulatorConfig


def _balance(text: str) -> tuple[str, Decimal]:
    asset, sep, amount = text.partition("=")
    try:
        if not sep or not asset:
            raise InvalidOperation
        return asset.upper(), Decimal(amount)
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"expected ASSET=AMOUNT, got {text!r}") from None


def parse_args(argv: list[str] | None = None) -> SimulatorConfig:
    d = SimulatorConfig()
    p = argparse.ArgumentParser(prog="python -m mexc.simulator", description=__doc__)
    p.add_argument("--host", default=d.host)
    p.add_argument("--port", type=int, default=d.port, help="0 = pick a free port")
    p.add_argument("--api-key", default=d.api_key)
    p.add_argument("--secret-key", default=d.secret_key)
    p.add_argument(
        "--balance",
        type=_balance,
        action="append",
        metavar="ASSET=AMOUNT",
        help="starting free balance (repeatable; default USDT=10000)",
    )
    p.add_argument("--clock-offset-ms", type=int, default=d.clock_offset_ms)
    p.add_argument("--mini-tickers-interval-ms", type=int, default=d.mini_tickers_interval_ms)
    p.add_argument("--market-tick-ms", type=int, default=d.market_tick_ms)
    p.add_argument("--rate-limit", type=int, default=d.rate_limit, help="weight per window; 0 off")
    p.add_argument("--rate-limit-window-s", type=float, default=d.rate_limit_window_s)
    p.add_argument("--rate-limit-ban-after", type=int, default=d.rate_limit_ban_after)
    p.add_argument("--rate-limit-ban-s", type=float, default=d.rate_limit_ban_s)
    p.add_argument("--ws-idle-timeout-s", type=float, default=d.ws_idle_timeout_s)
    p.add_argument("--ws-no-data-timeout-s", type=float, default=d.ws_no_data_timeout_s)
    p.add_argument("--ws-max-age-s", type=float, default=d.ws_max_age_s)
    p.add_argument(
        "--duplicate-client-ids",
        choices=("accept", "reject"),
        default=d.duplicate_client_ids,
        help="a reused newClientOrderId: a second order (accept) or code 26 (reject)",
    )
    p.add_argument("--fee-mode", choices=("received", "quote"), default=d.fee_mode)
    p.add_argument("--market-quote-markup", type=Decimal, default=d.market_quote_markup)
    p.add_argument("--market-ack-price", choices=("zero", "protect"), default=d.market_ack_price)
    p.add_argument(
        "--default-price-band-pct",
        type=Decimal,
        default=d.default_price_band_pct,
        metavar="PCT",
        help="price band for listings without max_price_band_pct (default: none)",
    )
    p.add_argument(
        "--market-block-code",
        type=int,
        choices=sorted(MARKET_BLOCK_CODES),
        default=d.market_block_code,
        help="code of a MARKET order refused during a listing's market_block_ms",
    )
    p.add_argument("--listen-key-ttl-s", type=float, default=d.listen_key_ttl_s)
    p.add_argument("--exchange-info-pre-open", action="store_true")
    p.add_argument(
        "--lookup-lag-ms",
        type=int,
        default=d.lookup_lag_ms,
        help="new orders invisible to lookups this long (ccxt #21614; 0: visible at once)",
    )
    p.add_argument("--random-seed", type=int, default=None)
    group = p.add_mutually_exclusive_group()
    group.add_argument("--scenario", metavar="FILE", help="scheduled listings (JSON)")
    group.add_argument("--no-scenario", action="store_true", help="no default scenario")
    p.add_argument("--log-level", default="WARNING")
    a = p.parse_args(argv)
    logging.basicConfig(level=a.log_level.upper(), format="%(asctime)s %(name)s %(message)s")
    return SimulatorConfig(
        host=a.host,
        port=a.port,
        api_key=a.api_key,
        secret_key=a.secret_key,
        balances=dict(a.balance) if a.balance else d.balances,
        clock_offset_ms=a.clock_offset_ms,
        mini_tickers_interval_ms=a.mini_tickers_interval_ms,
        market_tick_ms=a.market_tick_ms,
        rate_limit=a.rate_limit,
        rate_limit_window_s=a.rate_limit_window_s,
        rate_limit_ban_after=a.rate_limit_ban_after,
        rate_limit_ban_s=a.rate_limit_ban_s,
        ws_idle_timeout_s=a.ws_idle_timeout_s,
        ws_no_data_timeout_s=a.ws_no_data_timeout_s,
        ws_max_age_s=a.ws_max_age_s,
        duplicate_client_ids=a.duplicate_client_ids,
        fee_mode=a.fee_mode,
        market_quote_markup=a.market_quote_markup,
        market_ack_price=a.market_ack_price,
        default_price_band_pct=a.default_price_band_pct,
        market_block_code=a.market_block_code,
        listen_key_ttl_s=a.listen_key_ttl_s,
        exchange_info_pre_open=a.exchange_info_pre_open,
        lookup_lag_ms=a.lookup_lag_ms,
        random_seed=a.random_seed,
        default_scenario=not (a.no_scenario or a.scenario),
        scenario_file=a.scenario,
    )


async def serve(config: SimulatorConfig) -> None:
    sim = Simulator(config)
    await sim.start()
    print(
        f"MEXC simulator: REST {sim.rest_url}/api/v3  WS {sim.ws_url}  "
        f"calendar {sim.calendar_url}  control {sim.control_url}/state",
        flush=True,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await sim.stop()


def main(argv: list[str] | None = None) -> None:
    asyncio.run(serve(parse_args(argv)))


if __name__ == "__main__":
    main()
