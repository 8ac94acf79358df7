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


def test_daily_summary_shows_live_and_dry_figures_apart():
    title, body = render(
        "daily_summary",
        {
            "date": "2024-05-01",
            "uptime": "up 23 h 5 min",
            "pnl_usdt": "-1.50",
            "fills": 2,
            "refusals": 1,
            "dry_pnl_usdt": "12.250",
            "dry_fills": 9,
            "dry_refusals": 4,
        },
    )
    assert title == "Daily summary 2024-05-01"
    assert body.splitlines() == [
        "LIVE: P&L -1.5 USDT, fills 2, refusals 1",
        "DRY: P&L 12.25 USDT, fills 9, refusals 4",
        "monitor uptime up 23 h 5 min",
    ]


def test_links_open_the_trade_row_or_else_the_position_row(settings):
    settings.NOTIFY_DASHBOARD_URL = "https://bot.example.com"
    _, with_trade = render("exit_filled", {"trade_id": 8, "position_id": 3, "pnl_usdt": "1"})
    _, position_only = render("exit_filled", {"trade_id": None, "position_id": 3})
    assert with_trade.splitlines()[-1] == "https://bot.example.com/dashboard/#trade-8"
    assert position_only.splitlines()[-1] == "https://bot.example.com/dashboard/#position-3"
