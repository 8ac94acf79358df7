"""Trade: every attempt to buy, rejected ones included, with what was decided and why."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from simple_history.models import HistoricalRecords

from risk.models import TradingMode

QTY = {"max_digits": 38, "decimal_places": 18}
MONEY = {"max_digits": 20, "decimal_places": 8}


class TradeSide(models.TextChoices):
    BUY = "BUY", "Buy"
    SELL = "SELL", "Sell"


class TradeStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    AWAITING_CONFIRMATION = "awaiting_confirmation", "Awaiting confirmation"
    SUBMITTED = "submitted", "Submitted"
    FILLED = "filled", "Filled"
    PARTIALLY_FILLED = "partially_filled", "Partially filled"
    REJECTED = "rejected", "Rejected"
    FAILED = "failed", "Failed"
    CANCELED = "canceled", "Canceled"
    UNKNOWN = "unknown", "Unknown (being reconciled)"


# Stage stamps, in order. Each is nanoseconds since the Unix epoch (time.time_ns()), so stamps
# taken in the monitor and in a worker on the same host compare directly.
STAGES = ("detected", "persisted", "dispatched", "risk_done", "sent", "acked")


class Trade(models.Model):
    listing = models.ForeignKey(
        "listings.Listing", null=True, blank=True, on_delete=models.PROTECT, related_name="trades"
    )
    position = models.ForeignKey(
        "trading.Position",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="trades",
        help_text="The position this buy opened or this sell reduces.",
    )
    symbol = models.CharField(max_length=32)
    side = models.CharField(max_length=4, choices=TradeSide.choices, default=TradeSide.BUY)
    quote_qty = models.DecimalField(**MONEY, help_text="Quote amount to spend.")
    order_type = models.CharField(
        max_length=24,
        blank=True,
        help_text="MEXC order type sent: IMMEDIATE_OR_CANCEL (at the cap) or MARKET.",
    )
    reference_price = models.DecimalField(
        **QTY, null=True, blank=True, help_text="The first price seen, the entry cap's base."
    )
    price_cap = models.DecimalField(
        **QTY, null=True, blank=True, help_text="The IOC order's price: reference x (1 + slippage)."
    )
    order_qty = models.DecimalField(
        **QTY, null=True, blank=True, help_text="Base quantity ordered (quote / cap, rounded down)."
    )
    price_decimals = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="The symbol's price precision when the order was made."
    )
    qty_decimals = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="The symbol's quantity precision then."
    )
    mode = models.CharField(max_length=16, choices=TradingMode.choices)
    status = models.CharField(
        max_length=32, choices=TradeStatus.choices, default=TradeStatus.PENDING
    )
    reason_code = models.CharField(max_length=64, blank=True)
    error_message = models.TextField(blank=True)
    client_order_id = models.CharField(max_length=32, unique=True)
    exchange_order_id = models.CharField(max_length=64, blank=True)
    executed_qty = models.DecimalField(**QTY, null=True, blank=True)
    avg_price = models.DecimalField(**QTY, null=True, blank=True)
    quote_spent = models.DecimalField(**MONEY, null=True, blank=True)
    config_version = models.ForeignKey(
        "risk.HistoricalTradeConfig",
        on_delete=models.PROTECT,
        related_name="trades",
        help_text="The exact configuration version this trade was decided under.",
    )
    detected_ns = models.BigIntegerField(null=True, blank=True)
    persisted_ns = models.BigIntegerField(null=True, blank=True)
    dispatched_ns = models.BigIntegerField(null=True, blank=True)
    risk_done_ns = models.BigIntegerField(null=True, blank=True)
    sent_ns = models.BigIntegerField(null=True, blank=True)
    acked_ns = models.BigIntegerField(null=True, blank=True)
    decision_to_ack_ms = models.FloatField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(
        default=0, help_text="Order placements sent to the exchange for this trade."
    )
    manual = models.BooleanField(default=False)
    requested_by = models.CharField(max_length=150, blank=True)
    confirmed_by = models.CharField(max_length=150, blank=True)
    expires_at = models.DateTimeField(
        null=True, blank=True, help_text="An unconfirmed high-value trade expires at this time."
    )
    held_until = models.DateTimeField(
        null=True,
        blank=True,
        help_text="Its sender's lease: until then only the sender changes this trade.",
    )
    confirmed_ns = models.BigIntegerField(
        null=True, blank=True, help_text="When an operator confirmed it (a human wait, not ours)."
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(quote_qty__gt=0), name="trade_quote_positive"),
            models.CheckConstraint(
                condition=Q(status__in=TradeStatus.values), name="trade_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(mode__in=TradingMode.values), name="trade_mode_valid"
            ),
            models.CheckConstraint(condition=Q(side__in=TradeSide.values), name="trade_side_valid"),
            models.CheckConstraint(
                condition=~Q(status=TradeStatus.REJECTED) | ~Q(reason_code=""),
                name="trade_rejection_has_reason",
            ),
            models.CheckConstraint(
                condition=~Q(client_order_id=""), name="trade_client_order_id_not_blank"
            ),
            # An order the exchange acknowledged spent (or may spend) money: never rejected.
            models.CheckConstraint(
                condition=Q(exchange_order_id="") | ~Q(status__in=["rejected", "failed"]),
                name="trade_with_order_not_rejected",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "-created_at"], name="trade_status_recent"),
            models.Index(fields=["symbol", "-created_at"], name="trade_symbol_recent"),
            models.Index(fields=["mode", "-created_at"], name="trade_mode_recent"),
        ]

    def __str__(self) -> str:
        return f"{self.side} {self.symbol} {self.quote_qty} [{self.mode}/{self.status}]"

    def stage_ms(self, start: str, end: str) -> float | None:
        """Milliseconds between two recorded stages, or None if either is missing."""
        a, b = getattr(self, f"{start}_ns"), getattr(self, f"{end}_ns")
        return None if a is None or b is None else (b - a) / 1e6


class PositionStatus(models.TextChoices):
    OPEN = "open", "Open"
    CLOSING = "closing", "Closing"  # a sell is in flight
    CLOSED = "closed", "Closed"


class Position(models.Model):
    """What a filled (or partly filled) buy holds until the bot sells it.

    Quantities are base asset, net of the fee the exchange took from what it delivered;
    money is quote asset. `rules` is the exit rules' snapshot taken when it opened
    (trading.exits.ExitRules.to_json): a config change applies to new positions only.
    """

    buy_trade = models.OneToOneField(
        Trade, on_delete=models.PROTECT, related_name="opened_position"
    )
    symbol = models.CharField(max_length=32)
    mode = models.CharField(max_length=16, choices=TradingMode.choices)
    status = models.CharField(
        max_length=16, choices=PositionStatus.choices, default=PositionStatus.OPEN
    )
    quantity = models.DecimalField(**QTY, help_text="Base quantity held now.")
    initial_qty = models.DecimalField(**QTY, help_text="Base quantity the buy delivered.")
    cost_quote = models.DecimalField(**MONEY, help_text="Quote the buy spent.")
    entry_price = models.DecimalField(
        **QTY, help_text="Average entry: cost / quantity delivered (fee included)."
    )
    high_price = models.DecimalField(**QTY, help_text="Highest price seen since entry.")
    last_price = models.DecimalField(**QTY, null=True, blank=True)
    last_price_at = models.DateTimeField(null=True, blank=True)
    rules = models.JSONField(default=dict, help_text="Exit rules this position opened with.")
    ladder_done = models.PositiveSmallIntegerField(
        default=0, help_text="Take-profit ladder steps already sold."
    )
    sold_qty = models.DecimalField(**QTY, default=0)
    proceeds_quote = models.DecimalField(
        **MONEY, default=0, help_text="Quote received from sells, net of their fee."
    )
    fees_quote = models.DecimalField(
        **MONEY, default=0, help_text="Both sides' fees, valued in quote."
    )
    dust_qty = models.DecimalField(
        **QTY, default=0, help_text="Left unsold: below the exchange's minimum amount."
    )
    realized_pnl = models.DecimalField(
        **MONEY,
        default=0,
        help_text="Proceeds less the cost of what was sold (net of both fees).",
    )
    exit_reason = models.CharField(max_length=32, blank=True)
    opened_at = models.DateTimeField(db_index=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords(excluded_fields=["updated_at", "last_price", "last_price_at"])

    class Meta:
        ordering = ["-opened_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=PositionStatus.values), name="position_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(mode__in=TradingMode.values), name="position_mode_valid"
            ),
            models.CheckConstraint(condition=Q(quantity__gte=0), name="position_qty_not_negative"),
        ]
        indexes = [
            models.Index(fields=["status", "mode"], name="position_status_mode"),
            models.Index(fields=["symbol", "-opened_at"], name="position_symbol_recent"),
        ]

    def __str__(self) -> str:
        return f"{self.symbol} {self.quantity} [{self.mode}/{self.status}]"


class TradeRollup(models.Model):
    """Buys per mode and clock minute (UTC), kept by database triggers on `Trade` inside the
    writing transaction (migration 0008): what a decision judges without reading the history.

    `spent`: the quote committed by trades in a status that did or may still spend
    (`trading.states.COMMITTED`): the exchange's `quote_spent` once known, else `quote_qty`.
    `committed` counts those trades, `in_flight` the ones in `IN_FLIGHT`. A trade is in the
    bucket of its `created_at`. Never written by Python; rows older than a day serve no
    decision (`manage.py prune` removes them with the history).
    """

    mode = models.CharField(max_length=16, choices=TradingMode.choices)
    minute = models.DateTimeField()
    spent = models.DecimalField(**MONEY, default=0)
    committed = models.IntegerField(default=0)
    in_flight = models.IntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["mode", "minute"], name="trade_rollup_mode_minute"),
        ]

    def __str__(self) -> str:
        return f"{self.mode} {self.minute:%Y-%m-%d %H:%M} spent {self.spent} ({self.committed})"
