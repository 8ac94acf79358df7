"""TradeConfig: the one active trading/risk configuration, versioned with full history.

Every save writes a HistoricalTradeConfig row (who, when, why); a Trade points at the history
row that was in force when it was decided, so an audit can show the exact limits applied.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from simple_history.models import HistoricalRecords

ACTIVE_CONFIG_NAME = "default"
MONEY = {"max_digits": 20, "decimal_places": 8}
MIN_MONEY = Decimal("0.00000001")


class TradingMode(models.TextChoices):
    DRY_RUN = "dry_run", "Dry run"
    LIVE = "live", "Live"


def _positive(field: str) -> Q:
    return Q(**{f"{field}__gt": 0})


class TradeConfig(models.Model):
    name = models.CharField(max_length=32, unique=True, default=ACTIVE_CONFIG_NAME, editable=False)
    snipe_quote_usdt = models.DecimalField(
        **MONEY,
        default=Decimal("20"),
        validators=[MinValueValidator(MIN_MONEY)],
        help_text="Quote amount each snipe asks to spend (quoteOrderQty).",
    )
    max_trade_usdt = models.DecimalField(
        **MONEY,
        default=Decimal("100"),
        validators=[MinValueValidator(MIN_MONEY)],
        help_text="Largest quote amount a single trade may spend.",
    )
    max_position_usdt = models.DecimalField(
        **MONEY,
        default=Decimal("1000"),
        validators=[MinValueValidator(MIN_MONEY)],
        help_text="Largest total quote spent over a rolling 24 h.",
    )
    auto_trade = models.BooleanField(
        default=False, help_text="Off: every snipe is simulated (dry run), nothing live is sent."
    )
    mode = models.CharField(max_length=16, choices=TradingMode.choices, default=TradingMode.DRY_RUN)
    high_value_threshold_usdt = models.DecimalField(
        **MONEY,
        default=Decimal("50"),
        validators=[MinValueValidator(MIN_MONEY)],
        help_text="Trades above this amount wait for an operator's confirmation.",
    )
    max_trades_per_hour = models.PositiveIntegerField(default=10, validators=[MinValueValidator(1)])
    recv_window_ms = models.PositiveIntegerField(
        default=500,
        validators=[MinValueValidator(1), MaxValueValidator(1000)],
        help_text="recvWindow sent with orders (1..1000 ms).",
    )
    quote_asset = models.CharField(max_length=16, default="USDT")
    symbol_allowlist = models.JSONField(
        default=list, blank=True, help_text='Only these symbols, e.g. ["ABCUSDT"]; empty: all.'
    )
    symbol_denylist = models.JSONField(
        default=list, blank=True, help_text='Never these symbols, e.g. ["SCAMUSDT"].'
    )
    kill_switch = models.BooleanField(default=False, help_text="On: every trade is refused.")
    max_in_flight = models.PositiveIntegerField(
        default=3,
        validators=[MinValueValidator(1)],
        help_text="Snipes allowed in flight (sent, not yet settled) at once.",
    )
    signal_max_age_ms = models.PositiveIntegerField(
        default=5000,
        validators=[MinValueValidator(1)],
        help_text="A detection older than this is stale and is not traded.",
    )
    confirmation_ttl_s = models.PositiveIntegerField(
        default=300,
        validators=[MinValueValidator(1)],
        help_text="A high-value trade not confirmed within this many seconds expires.",
    )
    open_retry_window_ms = models.PositiveIntegerField(
        default=3000,
        help_text="After the open, 'not yet tradable by API' (10007) is retried this long.",
    )
    open_retry_interval_ms = models.PositiveIntegerField(
        default=50, validators=[MinValueValidator(1)], help_text="Interval of those retries."
    )
    updated_at = models.DateTimeField(auto_now=True)

    history = HistoricalRecords(
        excluded_fields=["updated_at"], cascade_delete_history=False, user_db_constraint=False
    )

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=_positive("snipe_quote_usdt"), name="cfg_snipe_positive"
            ),
            models.CheckConstraint(
                condition=_positive("max_trade_usdt"), name="cfg_trade_positive"
            ),
            models.CheckConstraint(
                condition=_positive("max_position_usdt"), name="cfg_position_positive"
            ),
            models.CheckConstraint(
                condition=_positive("high_value_threshold_usdt"), name="cfg_high_value_positive"
            ),
            models.CheckConstraint(
                condition=_positive("max_trades_per_hour"), name="cfg_trades_per_hour_positive"
            ),
            models.CheckConstraint(
                condition=Q(max_trade_usdt__lte=F("max_position_usdt")),
                name="cfg_trade_within_position",
            ),
            models.CheckConstraint(
                condition=Q(recv_window_ms__gte=1, recv_window_ms__lte=1000),
                name="cfg_recv_window_range",
            ),
            models.CheckConstraint(condition=Q(mode__in=TradingMode.values), name="cfg_mode_valid"),
            models.CheckConstraint(
                condition=_positive("max_in_flight"), name="cfg_in_flight_positive"
            ),
            models.CheckConstraint(
                condition=_positive("signal_max_age_ms"), name="cfg_signal_age_positive"
            ),
        ]

    def __str__(self) -> str:
        auto = "on" if self.auto_trade else "off"
        return f"TradeConfig {self.name} ({self.mode}, auto_trade={auto})"

    def clean(self) -> None:
        """Cross-field rules, reported against the field the operator must fix."""
        errors: dict[str, str] = {}
        if (
            self.max_trade_usdt is not None
            and self.max_position_usdt is not None
            and self.max_trade_usdt > self.max_position_usdt
        ):
            errors["max_trade_usdt"] = (
                f"Max trade ({self.max_trade_usdt}) cannot exceed max position "
                f"({self.max_position_usdt})."
            )
        for field in ("symbol_allowlist", "symbol_denylist"):
            try:
                setattr(self, field, normalise_symbols(getattr(self, field)))
            except ValueError as exc:
                errors[field] = str(exc)
        if errors:
            raise ValidationError(errors)


def normalise_symbols(value: Any) -> list[str]:
    """A list of symbols, upper-cased and de-duplicated; anything else is a clear error."""
    if value in (None, ""):
        return []
    if not isinstance(value, list) or not all(isinstance(s, str) for s in value):
        raise ValueError('Give a list of symbols, e.g. ["ABCUSDT", "XYZUSDT"].')
    cleaned: list[str] = []
    for raw in value:
        symbol = raw.strip().upper()
        if not symbol.isalnum():
            raise ValueError(f"{raw!r} is not a symbol (letters and digits only, e.g. ABCUSDT).")
        if symbol not in cleaned:
            cleaned.append(symbol)
    return cleaned
