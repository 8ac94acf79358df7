"""Exit rules, pure: a small scripted path per rule, then properties over random paths."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trading.exits import (
    REASONS,
    Exit,
    ExitRules,
    Held,
    Tick,
    levels,
    sell_price,
    sell_quantity,
    step,
)

D = Decimal
NO_TIME = {"max_hold_ms": 0}


def opened(qty="10", entry="100", at_ms=0) -> Held:
    return Held(
        entry_price=D(entry),
        initial_qty=D(qty),
        qty=D(qty),
        high_price=D(entry),
        opened_at_ms=at_ms,
    )


def run(held: Held, rules: ExitRules, path: list[tuple[int | str, int]]):
    """Feed (price, at_ms) ticks; apply every exit as the caller would. Returns the final
    state and the list of (at_ms, Exit)."""
    exits = []
    for price, at_ms in path:
        held, sold = step(held, rules, Tick(price=D(price), at_ms=at_ms))
        if sold is not None:
            exits.append((at_ms, sold))
            held = applied(held, sold)
            if held.qty <= 0:
                break
    return held, exits


def applied(held: Held, sold: Exit) -> Held:
    return Held(
        entry_price=held.entry_price,
        initial_qty=held.initial_qty,
        qty=held.qty - sold.qty,
        high_price=held.high_price,
        opened_at_ms=held.opened_at_ms,
        ladder_done=sold.ladder_done,
        below_stop_since_ms=held.below_stop_since_ms,
    )


# --- scripted paths, one per rule --------------------------------------------------------


def test_the_stop_sells_everything_once_the_price_has_stayed_below_it_for_the_confirm_time():
    rules = ExitRules(stop_loss_pct=D(20), stop_confirm_ms=2000, **NO_TIME)
    assert levels(opened(), rules).stop == D(80)
    held, exits = run(opened(), rules, [(90, 100), (80, 1000), (75, 2000), (79, 3000)])
    assert [(at, e.reason, e.qty) for at, e in exits] == [(3000, "stop_loss", D(10))]
    assert held.qty == 0


def test_a_wick_below_the_stop_shorter_than_the_confirm_time_does_not_sell():
    rules = ExitRules(stop_loss_pct=D(20), stop_confirm_ms=2000, **NO_TIME)
    held, exits = run(opened(), rules, [(70, 1000), (60, 2999), (85, 3000), (95, 6000)])
    assert exits == []
    assert held.below_stop_since_ms is None


def test_a_recovery_above_the_stop_restarts_the_confirm():
    rules = ExitRules(stop_loss_pct=D(20), stop_confirm_ms=2000, **NO_TIME)
    held = opened()
    held, sold = step(held, rules, Tick(D(70), 1000))
    assert (held.below_stop_since_ms, sold) == (1000, None)
    held, sold = step(held, rules, Tick(D(81), 2000))  # above the stop: the stay ends
    assert (held.below_stop_since_ms, sold) == (None, None)
    held, sold = step(held, rules, Tick(D(70), 3500))  # 2500 ms after the first dip
    assert (held.below_stop_since_ms, sold) == (3500, None)
    held, sold = step(held, rules, Tick(D(70), 5499))
    assert sold is None
    held, sold = step(held, rules, Tick(D(80), 5500))  # at the stop counts as below
    assert sold == Exit(qty=D(10), reason="stop_loss", ladder_done=0)


def test_a_zero_confirm_sells_on_the_first_tick_at_the_stop():
    rules = ExitRules(stop_loss_pct=D(20), stop_confirm_ms=0, **NO_TIME)
    _, sold = step(opened(), rules, Tick(D(80), 5))
    assert sold is not None and sold.reason == "stop_loss"


def test_the_trailing_stop_activates_at_its_gain_and_then_sells_a_drop_from_the_high():
    rules = ExitRules(trailing_activation_pct=D(30), trailing_delta_pct=D(10), **NO_TIME)
    held = opened()
    held, sold = step(held, rules, Tick(D(129), 1))
    assert sold is None and levels(held, rules).trailing is None
    held, sold = step(held, rules, Tick(D(117), 2))  # 10 % under 129: not active yet
    assert sold is None
    held, sold = step(held, rules, Tick(D(150), 3))
    assert sold is None and levels(held, rules).trailing == D(135)
    held, sold = step(held, rules, Tick(D(200), 4))
    assert held.high_price == D(200) and levels(held, rules).trailing == D(180)
    held, sold = step(held, rules, Tick(D(181), 5))
    assert sold is None and held.high_price == D(200)
    held, sold = step(held, rules, Tick(D(180), 6))  # immediate, no confirm
    assert sold == Exit(qty=D(10), reason="trailing_stop", ladder_done=0)


def test_a_two_step_ladder_sells_half_then_the_rest():
    rules = ExitRules(
        take_profit_ladder=((D(50), D("0.5")), (D(100), D(1))),
        trailing_activation_pct=D(1000),
        **NO_TIME,
    )
    held = opened()
    assert levels(held, rules).next_take_profit == D(150)
    held, exits = run(held, rules, [(149, 1), (150, 2), (160, 3), (199, 4)])
    assert [(e.qty, e.reason, e.ladder_done) for _, e in exits] == [(D(5), "take_profit", 1)]
    assert held.qty == D(5) and held.ladder_done == 1
    assert levels(held, rules).next_take_profit == D(200)
    held, exits = run(held, rules, [(200, 5)])
    assert [(e.qty, e.ladder_done) for _, e in exits] == [(D(5), 2)]
    assert held.qty == 0 and levels(held, rules).next_take_profit is None


def test_step_does_not_advance_the_ladder_itself():
    rules = ExitRules(take_profit_ladder=((D(50), D("0.5")),), **NO_TIME)
    held, sold = step(opened(), rules, Tick(D(150), 1))
    assert held.ladder_done == 0 and sold == Exit(D(5), "take_profit", 1)


def test_the_last_step_sells_whatever_is_left_after_a_short_fill():
    rules = ExitRules(take_profit_ladder=((D(50), D("0.5")), (D(100), D("0.5"))), **NO_TIME)
    held = Held(D(100), D(10), D("5.003"), D(160), 0, ladder_done=1)  # step 1 sold 4.997
    _, sold = step(held, rules, Tick(D(200), 1))
    assert sold == Exit(D("5.003"), "take_profit", 2)


def test_a_step_never_sells_more_than_is_left():
    rules = ExitRules(take_profit_ladder=((D(50), D("0.5")),), **NO_TIME)
    held = Held(D(100), D(10), D(2), D(100), 0)  # 8 sold by hand since the open
    _, sold = step(held, rules, Tick(D(150), 1))
    assert sold == Exit(D(2), "take_profit", 1)


def test_one_tick_over_two_steps_sells_both_at_once():
    rules = ExitRules(
        take_profit_ladder=((D(50), D("0.25")), (D(100), D("0.25")), (D(300), D("0.5"))),
        **NO_TIME,
    )
    _, sold = step(opened(), rules, Tick(D(250), 1))
    assert sold == Exit(qty=D(5), reason="take_profit", ladder_done=2)


def test_the_time_exit_sells_everything_at_the_max_hold_and_comes_first():
    rules = ExitRules(max_hold_ms=60_000, stop_confirm_ms=0)
    held = opened(at_ms=1_000)
    assert levels(held, rules).expires_at_ms == 61_000
    held, sold = step(held, rules, Tick(D(100), 60_999))
    assert sold is None
    _, sold = step(held, rules, Tick(D(50), 61_000))  # also past the stop
    assert sold == Exit(qty=D(10), reason="time_exit", ladder_done=0)
    assert levels(held, ExitRules(max_hold_ms=0)).expires_at_ms is None


def test_nothing_held_sells_nothing():
    held = Held(D(100), D(10), D(0), D(100), 0)
    assert step(held, ExitRules(stop_confirm_ms=0), Tick(D(1), 10**9)) == (held, None)


def test_rules_round_trip_through_json():
    rules = ExitRules(
        stop_loss_pct=D("12.5"),
        stop_confirm_ms=1500,
        trailing_activation_pct=D(40),
        trailing_delta_pct=D("7.25"),
        take_profit_ladder=((D(50), D("0.5")), (D(100), D(1))),
        max_hold_ms=90_000,
        exit_slippage_pct=D(3),
    )
    data = rules.to_json()
    assert data["max_hold_minutes"] == 1.5
    assert data["take_profit_ladder"] == [["50", "0.5"], ["100", "1"]]
    assert ExitRules.from_json(json.loads(json.dumps(data))) == rules
    assert ExitRules().to_json()["max_hold_minutes"] == 60


def test_rules_from_json_take_numbers_of_any_kind_and_default_what_is_missing():
    rules = ExitRules.from_json(
        {"stop_loss_pct": 15.5, "take_profit_ladder": [[50, 0.5], ["100", "1"]], "x": 1}
    )
    assert rules.stop_loss_pct == D("15.5")
    assert rules.take_profit_ladder == ((D(50), D("0.5")), (D(100), D(1)))
    assert rules.max_hold_ms == ExitRules().max_hold_ms
    assert ExitRules.from_json({"max_hold_minutes": "2"}).max_hold_ms == 120_000
    with pytest.raises(ValueError):
        ExitRules.from_json({"take_profit_ladder": [[100, 0.5], [50, 0.5]]})
    with pytest.raises(ValueError):
        ExitRules.from_json({"stop_loss_pct": "abc"})


def test_sell_price_is_under_the_bid_by_the_slippage_rounded_up():
    rules = ExitRules(exit_slippage_pct=D(5))
    assert sell_price(D("1.2345"), rules, 4) == D("1.1728")  # 1.172775 up
    assert sell_price(D(100), rules, 2) == D("95.00")
    assert sell_price(D("0.000123"), ExitRules(exit_slippage_pct=D(0)), 6) == D("0.000123")


def test_sell_quantity_rounds_down_and_names_the_dust():
    kw = {"qty_decimals": 2, "min_qty": D("0.01"), "min_quote": D(1), "price": D(10)}
    assert sell_quantity(D("3.456"), D("3.456"), **kw) == (D("3.45"), D("0.006"))
    assert sell_quantity(D("3.456"), D(99), **kw) == (D("3.45"), D("0.006"))  # all: dust
    assert sell_quantity(D("3.456"), D("1.009"), **kw) == (D("1.00"), D(0))  # part: no dust
    assert sell_quantity(D("0.09"), D("0.09"), **kw) == (D(0), D("0.09"))  # under min quote
    kw["min_qty"] = D(5)
    assert sell_quantity(D("3.456"), D("3.456"), **kw) == (D(0), D("3.456"))  # under min qty


# --- properties over random price paths --------------------------------------------------

prices = st.integers(min_value=1, max_value=400).map(D)
gaps = st.integers(min_value=1, max_value=1500)
paths = st.lists(st.tuples(prices, gaps), min_size=1, max_size=60)


@st.composite
def ladders(draw):
    gains = sorted(draw(st.lists(st.integers(0, 300), max_size=4)))
    fractions = draw(st.lists(st.integers(1, 100), min_size=len(gains), max_size=len(gains)))
    return tuple((D(g), D(f) / 100) for g, f in zip(gains, fractions, strict=True))


rules_strategy = st.builds(
    ExitRules,
    stop_loss_pct=st.integers(0, 90).map(D),
    stop_confirm_ms=st.integers(0, 5000),
    trailing_activation_pct=st.integers(0, 150).map(D),
    trailing_delta_pct=st.integers(1, 50).map(D),
    take_profit_ladder=ladders(),
    max_hold_ms=st.one_of(st.just(0), st.integers(1, 60_000)),
    exit_slippage_pct=st.integers(0, 20).map(D),
)

PROPERTY = settings(max_examples=200, deadline=None)


def timed(path, start=0):
    at = start
    for price, gap in path:
        at += gap
        yield price, at


@PROPERTY
@given(
    rules=rules_strategy,
    path=paths,
    qty=st.integers(1, 10**6).map(lambda n: D(n) / 1000),
    entry=prices,
)
def test_never_sells_more_than_is_held(rules, path, qty, entry):
    held = opened(qty=qty, entry=entry)
    total = D(0)
    for price, at in timed(path):
        before = held
        held, sold = step(held, rules, Tick(price, at))
        assert held.ladder_done == before.ladder_done and held.qty == before.qty
        if sold is None:
            continue
        assert sold.reason in REASONS
        assert 0 < sold.qty <= held.qty
        if sold.reason == "take_profit":
            assert before.ladder_done < sold.ladder_done <= len(rules.take_profit_ladder)
        else:
            assert sold.ladder_done == before.ladder_done and sold.qty == held.qty
        total += sold.qty
        held = applied(held, sold)
        if held.qty == 0:
            assert step(held, rules, Tick(price, at + 1)) == (held, None)
            break
    assert total <= qty
    assert held.qty == qty - total


@PROPERTY
@given(rules=rules_strategy, path=paths, entry=prices)
def test_the_high_and_the_trailing_level_only_rise(rules, path, entry):
    held = opened(entry=entry)
    high, trailing = held.high_price, levels(held, rules).trailing
    for price, at in timed(path):
        held, _ = step(held, rules, Tick(price, at))  # exits ignored: the levels alone
        assert held.high_price == max(high, price)
        now = levels(held, rules).trailing
        if trailing is not None:
            assert now is not None and now >= trailing
        high, trailing = held.high_price, now


@PROPERTY
@given(rules=rules_strategy, path=paths, entry=prices)
def test_a_stop_loss_sells_only_after_the_whole_confirm_window_was_at_or_below_the_stop(
    rules, path, entry
):
    held = opened(entry=entry)
    stop = levels(held, rules).stop
    seen: list[tuple[Decimal, int]] = []
    for price, at in timed(path):
        seen.append((price, at))
        held, sold = step(held, rules, Tick(price, at))
        run_start = None  # the first tick of the current stay at/below the stop
        for p, t in reversed(seen):
            if p > stop:
                break
            run_start = t
        assert held.below_stop_since_ms == run_start
        confirmed = run_start is not None and at - run_start >= rules.stop_confirm_ms
        expired = bool(rules.max_hold_ms) and at >= rules.max_hold_ms
        if sold is not None and sold.reason == "stop_loss":
            assert confirmed
            assert all(p <= stop for p, t in seen if t >= at - rules.stop_confirm_ms)
        if confirmed and not expired:
            assert sold is not None and sold.reason == "stop_loss"
        if sold is not None:
            break


@PROPERTY
@given(rules=rules_strategy)
def test_any_rules_round_trip_through_json(rules):
    assert ExitRules.from_json(json.loads(json.dumps(rules.to_json()))) == rules


@PROPERTY
@given(
    bid=st.integers(1, 10**9).map(lambda n: D(n) / 10**4),
    slip=st.integers(0, 50).map(D),
    decimals=st.integers(0, 8),
)
def test_sell_price_is_the_slippage_floor_rounded_up_to_the_price_step(bid, slip, decimals):
    price = sell_price(bid, ExitRules(exit_slippage_pct=slip), decimals)
    floor = bid * (1 - slip / 100)
    assert floor <= price < floor + D(1).scaleb(-decimals)
    assert price.as_tuple().exponent == -decimals
