from alerts.messages import render


def test_exit_message_has_reason_and_pnl(settings):
    settings.NOTIFY_DASHBOARD_URL = None
    title, body = render(
        "exit_filled",
        {
            "symbol": "ABCUSDT",
            "mode": "dry_run",
            "executed_qty": "10",
            "avg_price": "0.5",
            "reason": "trailing",
            "pnl_usdt": "1.25000",
            "pnl_pct": "6.3",
            "trade_id": 3,
        },
    )
    assert title == "SELL filled ABCUSDT [DRY]"
    assert body.splitlines() == ["10 @ 0.5", "P&L 1.25 USDT (6.3 %)", "reason: trailing"]


def test_every_event_renders_short():
    from alerts import events

    for event in events.EVENTS:
        title, body = render(event, {})
        assert title and len(title) <= 120 and len(body) <= 1000
