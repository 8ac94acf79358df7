"""Safe entry, live on the simulator: an IOC at a cap over the first price, never the spike
blind; nothing bought that could not be sold; the dry run fills as the exchange would."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from listings.tests.factories import ListingFactory
from risk.services import config_update
from trading.entry import Rules, at_max_price, entry_for, max_price_in, walk_asks
from trading.models import Trade, TradeStatus
from trading.services import trade_arm, trade_fire, trade_snipe

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_push")]


def announced(exchange, symbol, *, open_in_ms=300, **listing):
    listed = exchange.list_symbol(symbol=symbol, open_in_ms=open_in_ms, **listing)
    return datetime.fromtimestamp(listed["open_at_ms"] / 1000, UTC), listed


def test_an_announced_spike_is_bought_with_one_ioc_at_most_twenty_percent_over_its_open(
    exchange, live
):
    open_at, _ = announced(exchange, "SPIKEUSDT", price="0.5", path="spike", seed=7)
    trade = trade_fire(trade_arm(symbol="SPIKEUSDT", quote_asset="USDT", open_at=open_at))
    (order,) = exchange.orders()
    assert order["type"] == "IMMEDIATE_OR_CANCEL"
    assert Decimal(order["price"]) <= Decimal("0.5") * Decimal("1.2")  # the open price x 1.2
    assert trade.status in (TradeStatus.FILLED, TradeStatus.PARTIALLY_FILLED)
    assert trade.avg_price <= trade.price_cap and trade.reference_price == Decimal("0.5")


def test_a_price_already_past_the_cap_buys_nothing_and_says_so(exchange, live):
    """The operator's max entry price is far under where the listing trades: the IOC at
    the cap finds no ask under it, and the exchange cancels it unfilled."""
    open_at, _ = announced(exchange, "RANUSDT", price="2")
    armed = trade_arm(
        symbol="RANUSDT", quote_asset="USDT", open_at=open_at, max_entry_price=Decimal("1")
    )
    trade = trade_fire(armed)
    assert (trade.status, trade.reason_code) == (TradeStatus.CANCELED, "price_ran_away")
    assert "cap 1.2" in trade.error_message and "reference 1" in trade.error_message
    assert trade.executed_qty == 0 and not trade.quote_spent
    (order,) = exchange.accepted_orders()
    assert order["type"] == "IMMEDIATE_OR_CANCEL"


def test_a_buy_only_listing_is_refused_before_any_order(exchange, live):
    exchange.list_symbol(symbol="ONEWAYUSDT", open_in_ms=0, price="1", trade_side_type=2)
    trade = trade_snipe(listing_id=ListingFactory(symbol="ONEWAYUSDT").pk)
    assert (trade.status, trade.reason_code) == (TradeStatus.REJECTED, "not_tradable")
    assert "tradeSideType is 2" in trade.error_message
    assert exchange.orders() == []


def test_a_leveraged_token_is_refused_by_the_default_deny_patterns(exchange, live):
    exchange.list_symbol(symbol="BTC3LUSDT", open_in_ms=0, price="1")
    trade = trade_snipe(listing_id=ListingFactory(symbol="BTC3LUSDT").pk)
    assert (trade.status, trade.reason_code) == (TradeStatus.REJECTED, "symbol_denied")
    assert "*3LUSDT" in trade.error_message and exchange.orders() == []


def test_a_30010_maximum_under_the_cap_is_retried_once_at_it(exchange, live):
    exchange.list_symbol(symbol="BANDUSDT", open_in_ms=0, price="1", max_price_band_pct=5)
    trade = trade_snipe(listing_id=ListingFactory(symbol="BANDUSDT").pk)
    orders = exchange.orders()
    assert [o["error_code"] for o in orders] == [30010, None]
    assert Decimal(orders[1]["price"]) < Decimal(orders[0]["price"])
    assert Decimal(orders[1]["price"]) <= Decimal("1.05")
    assert trade.status in (TradeStatus.FILLED, TradeStatus.PARTIALLY_FILLED)


def test_a_dry_run_of_a_spike_fills_as_the_live_order_did(exchange, live):
    prices = {}
    for symbol in ("TWINAUSDT", "TWINBUSDT"):
        exchange.list_symbol(symbol=symbol, open_in_ms=0, price="0.5", path="flat", seed=3)
    live_trade = trade_snipe(listing_id=ListingFactory(symbol="TWINAUSDT").pk)
    config_update(actor=None, changes={"auto_trade": False}, reason="rehearse")
    dry_trade = trade_snipe(listing_id=ListingFactory(symbol="TWINBUSDT").pk)
    assert dry_trade.mode == "dry_run" and live_trade.mode == "live"
    for trade in (live_trade, dry_trade):
        trade.refresh_from_db()
        prices[trade.mode] = (trade.status, trade.avg_price, trade.quote_spent)
    assert prices["dry_run"][0] == prices["live"][0]
    assert prices["dry_run"][1] == pytest.approx(prices["live"][1], rel=Decimal("0.01"))
    assert prices["dry_run"][2] == pytest.approx(prices["live"][2], rel=Decimal("0.02"))
    assert len(exchange.orders()) == 1 and Trade.objects.count() == 2


# --- the pure entry rules ----------------------------------------------------------------------

RULES = Rules(
    status="1",
    spot_allowed=True,
    order_types=("LIMIT", "MARKET"),
    trade_side_type=1,
    price_decimals=4,
    qty_decimals=2,
)


def test_the_cap_and_quantity_round_down_to_the_symbols_precision():
    entry = entry_for(
        entry_order_type="limit_ioc",
        quote=Decimal("20"),
        reference=Decimal("0.123456"),
        slippage_pct=Decimal("20"),
        rules=RULES,
    )
    assert entry.cap == Decimal("0.1481")  # 0.1481472 down to 4 decimals
    assert entry.quantity == Decimal("135.04")  # 20 / 0.1481 = 135.044..., down to 2
    assert entry.quantity * entry.cap <= Decimal("20")


def test_a_30010_maximum_is_read_with_or_without_the_space_and_used_only_under_the_cap():
    assert max_price_in("Order price cannot exceed 0.55USDT") == Decimal("0.55")
    assert max_price_in("Order price cannot exceed 1.2 USDT") == Decimal("1.2")
    assert max_price_in("Order price too high") is None
    entry = entry_for(
        entry_order_type="limit_ioc",
        quote=Decimal("20"),
        reference=Decimal("1"),
        slippage_pct=Decimal("20"),
        rules=RULES,
    )
    assert at_max_price(entry, Decimal("1.3"), RULES) is None  # over the cap: stop
    lower = at_max_price(entry, Decimal("1.05"), RULES)
    assert lower.cap == Decimal("1.05") and lower.quantity == Decimal("19.04")


def test_the_dry_run_walks_the_asks_up_to_the_cap():
    asks = [(Decimal("1.0"), Decimal("5")), (Decimal("1.1"), Decimal("5")), (Decimal("2"), 99)]
    assert walk_asks(asks, cap=Decimal("1.05"), quote=Decimal("100")) == (Decimal("5"), 5)
    qty, spent = walk_asks(asks, cap=Decimal("1.1"), quote=Decimal("8"))
    assert spent == Decimal("8") and qty == Decimal("5") + Decimal("3") / Decimal("1.1")
    assert walk_asks(asks, cap=Decimal("0.9"), quote=Decimal("8")) == (0, 0)


@pytest.mark.parametrize("rules_before_the_open", [True, False])
def test_an_announced_listing_is_priced_from_the_first_price_its_stream_shows(
    exchange, live, rules_before_the_open
):
    """No book and no operator price before the open: the entry takes the first price the
    monitor's stream of the symbol shows (here 0.45, the first trade pushed), not a later REST
    answer; with the rules known before the open (exchangeInfo lists it, status "2") it goes
    at once, without them once exchangeInfo answers."""
    from trading.prices import first_prices

    config = {"exchange_info_pre_open": rules_before_the_open}
    assert exchange.control("POST", "/_sim/config", json=config).status_code == 200
    open_at, _ = announced(exchange, "FIRSTUSDT", price="0.5")
    first_prices.offer("FIRSTUSDT", Decimal("0.45"))  # as the monitor does on the push
    try:
        trade = trade_fire(trade_arm(symbol="FIRSTUSDT", quote_asset="USDT", open_at=open_at))
    finally:
        first_prices.forget("FIRSTUSDT")
    (order,) = exchange.orders()
    assert order["type"] == "IMMEDIATE_OR_CANCEL"
    assert Decimal(order["price"]) == Decimal("0.54")  # 0.45 x 1.2
    assert trade.reference_price == Decimal("0.45") and trade.price_cap == Decimal("0.54")
    assert trade.status in (TradeStatus.FILLED, TradeStatus.PARTIALLY_FILLED)
    assert order["received_at_us"] >= open_at.timestamp() * 1e6  # fired at the open


def test_a_first_price_wakes_the_entry_waiting_for_it():
    import threading

    from trading.prices import FirstPrices

    prices = FirstPrices()
    got = []
    waiter = threading.Thread(target=lambda: got.append(prices.wait("AUSDT", 30)))
    waiter.start()
    prices.offer("AUSDT", Decimal("2"))
    prices.offer("AUSDT", Decimal("3"))  # a later price: the first one is kept
    waiter.join(5)
    assert got == [Decimal("2")] and prices.wait("AUSDT", 0) == Decimal("2")
    assert prices.wait("BUSDT", 0) is None


def test_an_announced_trade_refused_its_prices_before_the_open_is_rejected_never_left_pending(
    exchange, live
):
    """MEXC (or the client's own IP-weight budget) refuses the reads before the open: the
    trade says so and nothing is sent; it is never left claimed and unsent."""
    open_at, _ = announced(exchange, "BUSYUSDT", price="0.5")
    exchange.fault(kind="http_429", count=3, ms=2000, path="/api/v3/exchangeInfo")
    trade = trade_fire(trade_arm(symbol="BUSYUSDT", quote_asset="USDT", open_at=open_at))
    assert (trade.status, trade.reason_code) == (TradeStatus.REJECTED, "exchange_rate_limited")
    assert "before the open" in trade.error_message
    assert exchange.orders() == []


def test_an_announced_market_buy_of_what_could_not_be_sold_is_refused_at_the_open(exchange, live):
    """The symbol is absent from exchangeInfo before its open (the simulator's default), so
    nothing can be checked ahead: the MARKET waits for the rules at the open, and a buy-only
    listing is refused before any order."""
    config_update(actor=None, changes={"entry_order_type": "market"}, reason="market entry")
    open_at, _ = announced(exchange, "ONEWAYMUSDT", price="1", trade_side_type=2)
    trade = trade_fire(trade_arm(symbol="ONEWAYMUSDT", quote_asset="USDT", open_at=open_at))
    assert (trade.status, trade.reason_code) == (TradeStatus.REJECTED, "not_tradable")
    assert "tradeSideType is 2" in trade.error_message
    assert exchange.orders() == []
