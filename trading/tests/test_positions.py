"""Positions on the simulator, live and dry: what reached the exchange, what the rows say."""

import time
from decimal import Decimal

import pytest

from risk.services import config_update
from trading.models import Position, PositionStatus, Trade, TradeSide, TradeStatus
from trading.positions import PositionNotOpen, SellRequest, position_close, position_sell
from trading.services import trade_manual

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_push")]


def bought(exchange, symbol="POSUSDT", quote="20", price="1", live=True) -> Position:
    exchange.list_symbol(symbol=symbol, open_in_ms=0, price=price)
    trade = trade_manual(symbol=symbol, quote_qty=Decimal(quote), live=live)
    assert trade.status in (TradeStatus.FILLED, TradeStatus.PARTIALLY_FILLED), trade.error_message
    return Position.objects.get(buy_trade=trade)


def balances(exchange) -> dict:
    state = exchange.control("GET", "/_sim/state").json()["balances"]
    return {asset: Decimal(b["free"]) for asset, b in state.items()}


def sells(exchange) -> list[dict]:
    return [o for o in exchange.accepted_orders() if o["side"] == "SELL"]


def test_a_live_fill_opens_a_position_with_the_rules_of_its_config(exchange, live):
    config_update(actor=None, changes={"stop_loss_pct": Decimal("15")}, reason="test")
    position = bought(exchange)
    buy = position.buy_trade
    assert position.status == PositionStatus.OPEN and position.mode == "live"
    assert position.cost_quote == buy.quote_spent
    assert position.quantity == position.initial_qty < buy.executed_qty  # net of the fee
    assert abs(position.entry_price - buy.quote_spent / position.initial_qty) < Decimal("1e-12")
    assert Decimal(position.rules["stop_loss_pct"]) == Decimal("15")
    assert buy.position_id == position.pk
    config_update(actor=None, changes={"stop_loss_pct": Decimal("30")}, reason="test")
    position.refresh_from_db()
    assert Decimal(position.rules["stop_loss_pct"]) == Decimal("15")  # kept


def test_a_stop_loss_sells_everything_free_and_realizes_the_loss(exchange, live):
    position = bought(exchange)
    exchange.control("POST", "/_sim/trades", json={"symbol": "POSUSDT", "price": "0.7"})
    done = position_sell(position.pk, SellRequest(reason="stop_loss"))
    assert done.status == PositionStatus.CLOSED and done.exit_reason == "stop_loss"
    [order] = sells(exchange)
    assert order["type"] == "IMMEDIATE_OR_CANCEL" and order["status"] == "FILLED"
    sell = Trade.objects.get(side=TradeSide.SELL)
    assert sell.client_order_id == order["clientOrderId"] and sell.position_id == position.pk
    assert done.proceeds_quote < done.cost_quote and done.realized_pnl < 0
    assert done.realized_pnl == done.proceeds_quote - done.cost_quote
    assert balances(exchange).get("POS", 0) < Decimal("0.01")


def test_a_ladder_step_sells_its_fraction_and_the_position_stays_open(exchange, live):
    position = bought(exchange)
    half = (position.initial_qty / 2).quantize(Decimal("0.01"))
    exchange.control("POST", "/_sim/trades", json={"symbol": "POSUSDT", "price": "1.6"})
    done = position_sell(position.pk, SellRequest(reason="take_profit", qty=half, ladder_done=1))
    assert done.status == PositionStatus.OPEN and done.ladder_done == 1
    assert done.sold_qty == half and done.quantity == position.quantity - half
    assert done.realized_pnl > 0
    [order] = sells(exchange)
    assert Decimal(order["quantity"]) == half


def test_a_position_is_sold_once_while_a_sell_is_in_flight(exchange, live):
    position = bought(exchange)
    Position.objects.filter(pk=position.pk).update(status=PositionStatus.CLOSING)
    with pytest.raises(PositionNotOpen):
        position_close(position.pk, by="olga")
    assert sells(exchange) == []


def test_less_in_the_account_than_recorded_sells_what_is_free(exchange, live):
    position = bought(exchange)
    exchange.control("POST", "/_sim/balances", json={"POS": str(position.quantity / 2)})
    done = position_sell(position.pk, SellRequest(reason="manual"))
    [order] = sells(exchange)
    assert Decimal(order["quantity"]) <= position.quantity / 2
    assert done.status == PositionStatus.CLOSED


def test_a_remainder_below_the_minimum_is_dust(exchange, live):
    position = bought(exchange)
    exchange.control("POST", "/_sim/balances", json={"POS": "0.001"})
    done = position_sell(position.pk, SellRequest(reason="manual"))
    assert sells(exchange) == []
    assert (done.status, done.dust_qty, done.quantity) == (
        PositionStatus.CLOSED,
        Decimal("0.001"),
        0,
    )


def test_a_sell_whose_outcome_is_unknown_is_never_sent_twice(exchange, live):
    position = bought(exchange)
    exchange.fault(kind="timeout", count=1, ms=1500, path="/api/v3/order", effect="after")
    exchange.fault(kind="lookup_lag", ms=5000, count=1)
    done = position_sell(position.pk, SellRequest(reason="manual"), sleep=lambda s: None)
    assert len(sells(exchange)) == 1
    sell = Trade.objects.get(side=TradeSide.SELL)
    assert sell.status == TradeStatus.UNKNOWN
    assert done.status == PositionStatus.CLOSING  # the reconciler settles it


def test_a_dry_run_position_is_bought_and_sold_against_the_book(exchange):
    config_update(actor=None, changes={"auto_trade": True}, reason="test: dry")
    position = bought(exchange, live=False)
    assert position.mode == "dry_run"
    exchange.control("POST", "/_sim/trades", json={"symbol": "POSUSDT", "price": "1.3"})
    done = position_close(position.pk, by="olga")
    assert done.status == PositionStatus.CLOSED and done.exit_reason == "manual"
    assert done.realized_pnl > 0 and sells(exchange) == []
    from monitoring.models import AuditEvent

    assert AuditEvent.objects.filter(action="position.close", actor_label="olga").exists()


def test_a_sell_sent_before_a_crash_is_settled_by_the_reconciler(exchange, live):
    from datetime import timedelta

    from django.utils import timezone

    from risk.selectors import config_current_version
    from trading.reconcile import trades_reconcile
    from trading.runtime import get_gateway, get_guards

    position = bought(exchange)
    Position.objects.filter(pk=position.pk).update(status=PositionStatus.CLOSING)
    sell = Trade.objects.create(  # written, sent, then the process died
        position=position,
        symbol=position.symbol,
        side=TradeSide.SELL,
        mode="live",
        quote_qty=Decimal("10"),
        order_type="IMMEDIATE_OR_CANCEL",
        price_cap=Decimal("0.5"),
        order_qty=Decimal("10"),
        reason_code="stop_loss",
        client_order_id="ss" + "c" * 30,
        config_version=config_current_version(),
        held_until=timezone.now() - timedelta(seconds=1),
    )
    get_gateway().place_ioc_sell(
        symbol=sell.symbol,
        price=sell.price_cap,
        quantity=sell.order_qty,
        client_order_id=sell.client_order_id,
        recv_window_ms=1000,
    )
    trades_reconcile(gateway=get_gateway(), guards=get_guards())
    sell.refresh_from_db()
    if sell.status == TradeStatus.UNKNOWN:  # MEXC's lookup lag hid it from this first pass
        time.sleep(0.15)  # the simulator's default lag (100 ms) has passed: a later pass
        trades_reconcile(gateway=get_gateway(), guards=get_guards())
        sell.refresh_from_db()
    position.refresh_from_db()
    assert sell.status == TradeStatus.FILLED and len(sells(exchange)) == 1
    assert position.sold_qty == Decimal("10")
    assert position.quantity == position.initial_qty - Decimal("10")
    Position.objects.filter(pk=position.pk).update(updated_at=timezone.now() - timedelta(minutes=1))
    trades_reconcile(gateway=get_gateway(), guards=get_guards())
    position.refresh_from_db()
    assert position.status == PositionStatus.OPEN  # watched again: the rest is still held


def test_a_fill_left_without_its_position_gets_one_from_the_reconciler(exchange, live):
    from trading.reconcile import trades_reconcile
    from trading.runtime import get_gateway, get_guards

    position = bought(exchange)
    buy = position.buy_trade
    Trade.objects.filter(pk=buy.pk).update(position=None)
    position.delete()
    trades_reconcile(gateway=get_gateway(), guards=get_guards())
    assert Position.objects.get(buy_trade=buy).status == PositionStatus.OPEN


def test_sells_never_count_against_the_buy_limits(exchange, live):
    from trading.selectors import exposure_for

    position = bought(exchange)
    before = exposure_for(mode="live")
    position_sell(position.pk, SellRequest(reason="manual"))
    after = exposure_for(mode="live")
    assert (after.spent_24h, after.trades_last_hour) == (before.spent_24h, before.trades_last_hour)


def test_a_sell_takes_the_free_balance_the_private_stream_pushed(exchange, live):
    from trading.runtime import get_gateway

    gateway = get_gateway()
    gateway.watch_orders(exchange.sim.ws_url, lambda event: None)
    position = bought(exchange)
    smaller = (position.quantity / 3).quantize(Decimal("0.01"))
    exchange.control("POST", "/_sim/balances", json={"POS": str(smaller)})  # pushed
    for _ in range(200):  # until the push has arrived: asking then costs no round trip
        known = gateway.sell_inputs("POSUSDT", "POS", balance=True, bid=Decimal("1"))
        if known.done() and known.result()[2] == smaller:
            break
        time.sleep(0.01)
    else:
        raise AssertionError("the account push never reached the gateway")
    position_sell(position.pk, SellRequest(reason="manual", bid=Decimal("1")))
    [order] = sells(exchange)
    assert Decimal(order["quantity"]) == smaller


def test_trades_show_the_symbol_precision_they_were_made_at(exchange, live, api_as, viewer_user):
    position = bought(exchange)
    position_sell(position.pk, SellRequest(reason="manual"))
    info = exchange.control("GET", "/api/v3/exchangeInfo?symbol=POSUSDT").json()["symbols"][0]
    rows = api_as(viewer_user).get("/api/trade/history/").json()["results"]
    assert {(r["side"], r["price_decimals"], r["qty_decimals"]) for r in rows} == {
        ("BUY", info["quotePrecision"], info["baseAssetPrecision"]),
        ("SELL", info["quotePrecision"], info["baseAssetPrecision"]),
    }


def test_the_sell_row_is_written_whole_and_the_position_claimed_before_the_order_leaves(
    exchange, live
):
    from trading.runtime import get_gateway

    position = bought(exchange)
    gateway = get_gateway()
    seen = {}
    place = gateway.place_ioc_sell

    def watched(**order):  # what the database says as the order leaves
        seen["trade"] = Trade.objects.get(client_order_id=order["client_order_id"])
        seen["position"] = Position.objects.get(pk=position.pk).status
        return place(**order)

    gateway.place_ioc_sell = watched
    try:
        position_sell(position.pk, SellRequest(reason="stop_loss", bid=Decimal("1")))
    finally:
        gateway.place_ioc_sell = place
    row, buy = seen["trade"], position.buy_trade
    assert seen["position"] == PositionStatus.CLOSING
    assert (row.status, row.side, row.position_id) == ("pending", "SELL", position.pk)
    assert row.config_version_id == buy.config_version_id and row.mode == "live"
    assert row.created_at and row.updated_at and row.held_until and row.risk_done_ns
    assert (row.error_message, row.exchange_order_id, row.attempts) == ("", "", 0)
    assert row.manual is False and row.requested_by == row.confirmed_by == ""
    assert row.listing_id is None and row.sent_ns is None
    [order] = sells(exchange)
    assert order["clientOrderId"] == row.client_order_id


def test_a_sell_on_a_stale_view_of_the_position_sends_nothing(exchange, live):
    from dataclasses import replace

    from trading.positions import _selling

    position = bought(exchange)
    held = _selling(position.pk)
    Position.objects.filter(pk=position.pk).update(quantity=position.quantity / 2)
    stale = replace(held, quantity=position.quantity)
    with pytest.raises(PositionNotOpen):
        position_sell(position.pk, SellRequest(reason="manual", position=stale))
    assert sells(exchange) == [] and not Trade.objects.filter(side=TradeSide.SELL).exists()
    position.refresh_from_db()
    assert position.status == PositionStatus.OPEN  # untouched
