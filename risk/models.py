"""TradeConfig: the one active trading/risk configuration, versioned with full history.

Every save writes a HistoricalTradeConfig row (who, when, why); a Trade points at the history
row that was in force when it was decided, so an audit can show the exact limits applied.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, NamedTuple

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import F, Q
from simple_history.models import HistoricalRecords

ACTIVE_CONFIG_NAME = "default"
MONEY = {"max_digits": 20, "decimal_places": 8}
MIN_MONEY = Decimal("0.00000001")
# Upper bounds of the timing settings: beyond them a setting is a typo, not a choice.
MAX_RECV_WINDOW_MS = 1000  # MEXC's own advice; a larger window lets a delayed order through
MAX_OPEN_RETRY_WINDOW_MS = 60_000  # a minute of 10007 retries: later, the open is long past
MAX_CONFIRMATION_TTL_S = 86_400  # a day: a held trade older than that is stale anyway
MAX_STOP_CONFIRM_MS = 60_000  # a stop confirmed over a minute is no stop
MAX_HOLD_MINUTES = 43_200  # thirty days
ASSET_PATTERN = r"\A[A-Z0-9]{2,16}\Z"  # \Z, not $: "USDT\n" is not an asset
# Operator notifications (alerts app): each event on or off. The vocabulary lives here, below
# alerts, so the versioned config can default and validate it; alerts reads it from here.
NOTIFY_EVENT_DEFAULTS: dict[str, bool] = {
    "buy_filled": True,
    "buy_refused_by_limit": True,
    "exit_filled": True,
    "order_unknown": True,
    "breaker_open": True,
    "breaker_closed": True,
    "kill_switch": True,
    "monitor_down": True,
    "live_mode_changed": True,
    "listing_detected": False,
    "daily_summary": True,
    "heartbeat": False,
}


def validate_ladder(value: Any) -> None:
    """Take-profit steps: a list of [gain %, fraction], gains rising, fractions in (0, 1]
    summing to at most 1 (fractions of the quantity the position opened with)."""
    if not isinstance(value, list):
        raise ValidationError("Give a list of [gain %, fraction] steps, e.g. [[50, 0.5]].")
    if len(value) > 10:
        raise ValidationError("At most 10 take-profit steps.")
    gains, total = [], Decimal(0)
    for step in value:
        try:
            gain, fraction = (Decimal(str(x)) for x in step)
        except Exception:
            raise ValidationError(
                f"A step is [gain %, fraction] with two numbers, not {step!r}."
            ) from None
        if not (Decimal(0) < gain <= Decimal(100_000)) or not (Decimal(0) < fraction <= 1):
            raise ValidationError(f"Step {step!r}: gain in (0, 100000] %, fraction in (0, 1].")
        gains.append(gain)
        total += fraction
    if gains != sorted(set(gains)) or len(gains) != len(set(gains)):
        raise ValidationError("Steps go by rising gain, each gain once.")
    if total > 1:
        raise ValidationError(f"The fractions sum to {total}: at most 1 (the whole position).")


def notify_events_default() -> dict[str, bool]:
    return dict(NOTIFY_EVENT_DEFAULTS)


def validate_notify_events(value: Any) -> None:
    """A mapping of known event names to true/false (missing events keep their default)."""
    if not isinstance(value, dict):
        raise ValidationError('Give a mapping of event to true/false, e.g. {"buy_filled": true}.')
    unknown = sorted(set(value) - set(NOTIFY_EVENT_DEFAULTS))
    if unknown:
        known = ", ".join(NOTIFY_EVENT_DEFAULTS)
        raise ValidationError(f"Unknown event(s) {', '.join(unknown)}; known: {known}.")
    if not all(isinstance(on, bool) for on in value.values()):
        raise ValidationError("Each event is true (notify) or false (silent).")


class TradingMode(models.TextChoices):
    DRY_RUN = "dry_run", "Dry run"
    LIVE = "live", "Live"


class EntryOrderType(models.TextChoices):
    LIMIT_IOC = "limit_ioc", "IOC limit at a price cap"
    MARKET = "market", "MARKET (no cap: buys at any price)"


# Leveraged tokens and tokenized stocks: half of MEXC's new spot listings in H1 2026 were
# "STOCK" tokens, and 3L/3S/5L/5S tokens are common (mexc-api.md section 8).
DEFAULT_DENYLIST = ("*3LUSDT", "*3SUSDT", "*5LUSDT", "*5SUSDT", "*STOCK*")


def default_denylist() -> list[str]:
    return list(DEFAULT_DENYLIST)


def _positive(field: str) -> Q:
    return Q(**{f"{field}__gt": 0})


class TradeConfig(models.Model):
    name = models.CharField(max_length=32, unique=True, default=ACTIVE_CONFIG_NAME, editable=False)
    snipe_quote_usdt = models.DecimalField(
        "Snipe amount",
        **MONEY,
        default=Decimal("20"),
        validators=[MinValueValidator(MIN_MONEY)],
        help_text="Quote amount each snipe asks to spend (quoteOrderQty).",
    )
    max_trade_usdt = models.DecimalField(
        "Max per trade",
        **MONEY,
        default=Decimal("100"),
        validators=[MinValueValidator(MIN_MONEY)],
        help_text="Largest quote amount a single trade may spend.",
    )
    max_position_usdt = models.DecimalField(
        "Max exposure 24 h (live)",
        **MONEY,
        default=Decimal("1000"),
        validators=[MinValueValidator(MIN_MONEY)],
        help_text="Live trading: largest total quote spent over a rolling 24 h.",
    )
    auto_trade = models.BooleanField(
        "Auto-trade",
        default=False,
        help_text="Off: every snipe is simulated (dry run), nothing live is sent.",
    )
    mode = models.CharField(
        "Mode",
        max_length=16,
        choices=TradingMode.choices,
        default=TradingMode.DRY_RUN,
        help_text="dry_run: simulated fills. live: real orders on MEXC (with auto-trade on).",
    )
    high_value_threshold_usdt = models.DecimalField(
        "Confirm above",
        **MONEY,
        default=Decimal("50"),
        validators=[MinValueValidator(MIN_MONEY)],
        help_text="Trades above this amount wait for an operator's confirmation.",
    )
    max_trades_per_hour = models.PositiveIntegerField(
        "Max trades / hour (live)",
        default=10,
        validators=[MinValueValidator(1)],
        help_text="Live trading: trades allowed in the last hour (at least 1).",
    )
    # Limits are per mode: dry-run trades (auto-trade off, dry_run mode, test trades) count
    # against these, never against the live budget. Generous by default, so `make run`'s demo
    # (a listing every 20 s) runs for hours without hitting them.
    dry_run_max_position_usdt = models.DecimalField(
        "Max exposure 24 h (dry run)",
        **MONEY,
        default=Decimal("100000"),
        validators=[MinValueValidator(MIN_MONEY)],
        help_text="Dry run: largest total simulated quote over a rolling 24 h.",
    )
    dry_run_max_trades_per_hour = models.PositiveIntegerField(
        "Max trades / hour (dry run)",
        default=1000,
        validators=[MinValueValidator(1)],
        help_text="Dry run: simulated trades allowed in the last hour (at least 1).",
    )
    recv_window_ms = models.PositiveIntegerField(
        "recvWindow (ms)",
        default=MAX_RECV_WINDOW_MS,
        validators=[MinValueValidator(1), MaxValueValidator(MAX_RECV_WINDOW_MS)],
        help_text=f"recvWindow sent with orders (1..{MAX_RECV_WINDOW_MS} ms).",
    )
    quote_asset = models.CharField(
        "Quote asset",
        max_length=16,
        default="USDT",
        validators=[
            RegexValidator(
                ASSET_PATTERN,
                message="A quote asset is 2-16 upper-case letters A-Z and digits, e.g. USDT.",
            )
        ],
        help_text="Only symbols quoted in this asset are traded (upper-case, e.g. USDT).",
    )
    symbol_allowlist = models.JSONField(
        "Allowlist",
        default=list,
        blank=True,
        help_text='Only symbols matching these patterns, e.g. ["ABCUSDT", "*USDC"] '
        "(* any run of characters, ? one); empty: all.",
    )
    symbol_denylist = models.JSONField(
        "Denylist",
        default=default_denylist,
        blank=True,
        help_text='Never symbols matching these patterns, e.g. ["SCAMUSDT", "*3LUSDT", '
        '"*STOCK*"] (* any run of characters, ? one). Default: leveraged tokens and '
        "tokenized stocks.",
    )
    entry_order_type = models.CharField(
        "Entry order",
        max_length=16,
        choices=EntryOrderType.choices,
        default=EntryOrderType.LIMIT_IOC,
        help_text="How a buy enters: an IOC limit at the price cap (default), or MARKET.",
    )
    entry_slippage_pct = models.DecimalField(
        "Entry cap (%)",
        max_digits=5,
        decimal_places=2,
        default=Decimal("20"),
        validators=[MinValueValidator(Decimal("0.01"))],
        help_text="The entry cap: reference price x (1 + this / 100), 0.01..999.99 %.",
    )
    kill_switch = models.BooleanField(
        "Kill switch", default=False, help_text="On: every trade is refused."
    )
    max_in_flight = models.PositiveIntegerField(
        "Max in flight",
        default=3,
        validators=[MinValueValidator(1)],
        help_text="Snipes allowed in flight (sent, not yet settled) at once.",
    )
    signal_max_age_ms = models.PositiveIntegerField(
        "Max signal age (ms)",
        default=5000,
        validators=[MinValueValidator(1)],
        help_text="A detection older than this is stale and is not traded.",
    )
    confirmation_ttl_s = models.PositiveIntegerField(
        "Confirmation TTL (s)",
        default=300,
        validators=[MinValueValidator(1), MaxValueValidator(MAX_CONFIRMATION_TTL_S)],
        help_text=(
            "A high-value trade not confirmed within this many seconds expires "
            f"(1..{MAX_CONFIRMATION_TTL_S}, one day)."
        ),
    )
    open_retry_window_ms = models.PositiveIntegerField(
        "Open retry window (ms)",
        default=3000,
        validators=[MaxValueValidator(MAX_OPEN_RETRY_WINDOW_MS)],
        help_text=(
            "After the open, 'not yet tradable by API' (10007) is retried this long "
            f"(0..{MAX_OPEN_RETRY_WINDOW_MS} ms, one minute)."
        ),
    )
    open_retry_interval_ms = models.PositiveIntegerField(
        "Open retry interval (ms)",
        default=50,
        validators=[MinValueValidator(1)],
        help_text="Interval of those retries.",
    )
    notify_events = models.JSONField(
        "Notifications",
        default=notify_events_default,
        blank=True,
        validators=[validate_notify_events],
        help_text="Operator notifications, each event on (true) or off (false); see README.",
    )
    # -- exits (trading/exits.py): each position keeps the rules it opened with -------------
    stop_loss_pct = models.DecimalField(
        "Stop-loss (%)",
        max_digits=5,
        decimal_places=2,
        default=Decimal("20"),
        validators=[MinValueValidator(Decimal("0.01")), MaxValueValidator(Decimal("99.99"))],
        help_text="Sell everything when the price stays this far under the entry (0.01..99.99).",
    )
    stop_confirm_ms = models.PositiveIntegerField(
        "Stop confirm (ms)",
        default=2000,
        validators=[MaxValueValidator(MAX_STOP_CONFIRM_MS)],
        help_text=(
            "The price must stay through the stop this long, so one wick does not sell "
            f"(0..{MAX_STOP_CONFIRM_MS} ms)."
        ),
    )
    trailing_activation_pct = models.DecimalField(
        "Trailing from (%)",
        max_digits=7,
        decimal_places=2,
        default=Decimal("30"),
        validators=[MinValueValidator(Decimal("0"))],
        help_text="The trailing stop starts once the price is this far over the entry.",
    )
    trailing_delta_pct = models.DecimalField(
        "Trailing by (%)",
        max_digits=5,
        decimal_places=2,
        default=Decimal("10"),
        validators=[MinValueValidator(Decimal("0.01")), MaxValueValidator(Decimal("99.99"))],
        help_text="Then sell everything when the price falls this far under its high.",
    )
    take_profit_ladder = models.JSONField(
        "Take-profit ladder",
        default=list,
        blank=True,
        validators=[validate_ladder],
        help_text=(
            "Steps [gain %, fraction of the quantity bought], e.g. [[50, 0.5], [100, 0.5]]: at "
            "+50 % sell half, at +100 % the other half (fractions sum to at most 1). Empty: none."
        ),
    )
    max_hold_minutes = models.PositiveIntegerField(
        "Max hold (min)",
        default=60,
        validators=[MaxValueValidator(MAX_HOLD_MINUTES)],
        help_text=f"Sell everything after this long (0: no time limit, max {MAX_HOLD_MINUTES}).",
    )
    exit_slippage_pct = models.DecimalField(
        "Exit slippage (%)",
        max_digits=5,
        decimal_places=2,
        default=Decimal("5"),
        validators=[MinValueValidator(Decimal("0.01")), MaxValueValidator(Decimal("99.99"))],
        help_text="A sell is an IOC limit at best bid x (1 - this / 100).",
    )
    flatten_on_kill = models.BooleanField(
        "Flatten on kill",
        default=False,
        help_text="On: turning the kill switch on sells every open position at once.",
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
                condition=_positive("dry_run_max_position_usdt"),
                name="cfg_dry_run_position_positive",
            ),
            models.CheckConstraint(
                condition=_positive("dry_run_max_trades_per_hour"),
                name="cfg_dry_run_trades_per_hour_positive",
            ),
            models.CheckConstraint(
                condition=Q(max_trade_usdt__lte=F("dry_run_max_position_usdt")),
                name="cfg_trade_within_dry_run_position",
            ),
            models.CheckConstraint(
                condition=Q(recv_window_ms__gte=1, recv_window_ms__lte=MAX_RECV_WINDOW_MS),
                name="cfg_recv_window_range",
            ),
            models.CheckConstraint(
                condition=Q(open_retry_window_ms__lte=MAX_OPEN_RETRY_WINDOW_MS),
                name="cfg_open_retry_window_max",
            ),
            models.CheckConstraint(
                condition=Q(
                    confirmation_ttl_s__gte=1, confirmation_ttl_s__lte=MAX_CONFIRMATION_TTL_S
                ),
                name="cfg_confirmation_ttl_range",
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

    @classmethod
    def from_db(cls, db, field_names, values):
        """Remember the mode as loaded, so `clean` knows whether a save switches to live."""
        instance = super().from_db(db, field_names, values)
        instance.loaded_mode = instance.__dict__.get("mode")
        return instance

    def clean(self) -> None:
        """Cross-field rules, reported against the field the operator must fix.

        The one place of truth for the API (`config_update`) and the admin form alike.
        """
        errors: dict[str, str] = {}
        if (
            isinstance(self.snipe_quote_usdt, Decimal)
            and isinstance(self.max_trade_usdt, Decimal)
            and self.snipe_quote_usdt > self.max_trade_usdt
        ):
            # Every snipe would be refused by the max-trade check: say so now, not per listing.
            errors["snipe_quote_usdt"] = (
                f"Snipe amount ({self.snipe_quote_usdt.normalize():f}) cannot exceed max trade "
                f"({self.max_trade_usdt.normalize():f})."
            )
        if self.mode == TradingMode.LIVE and getattr(self, "loaded_mode", None) != self.mode:
            missing = live_keys_missing()
            if missing:
                errors["mode"] = (
                    f"Live mode needs API keys: {' and '.join(missing)} "
                    f"{'is' if len(missing) == 1 else 'are'} not set in the web process's "
                    "environment (or *_FILE). Set them and restart, or stay in dry run."
                )
        if (
            self.max_trade_usdt is not None
            and self.max_position_usdt is not None
            and self.max_trade_usdt > self.max_position_usdt
        ):
            errors["max_trade_usdt"] = (
                f"Max trade ({_plain_amount(self.max_trade_usdt)}) cannot exceed max position "
                f"({_plain_amount(self.max_position_usdt)})."
            )
        if (
            self.max_trade_usdt is not None
            and self.dry_run_max_position_usdt is not None
            and self.max_trade_usdt > self.dry_run_max_position_usdt
        ):
            errors.setdefault(
                "max_trade_usdt",
                f"Max trade ({_plain_amount(self.max_trade_usdt)}) cannot exceed the dry-run "
                f"max exposure ({_plain_amount(self.dry_run_max_position_usdt)}).",
            )
        for field in ("symbol_allowlist", "symbol_denylist"):
            try:
                setattr(self, field, normalise_symbols(getattr(self, field)))
            except ValueError as exc:
                errors[field] = str(exc)
        if errors:
            raise ValidationError(errors)

    @property
    def snipe_mode(self) -> str:
        """The mode snipes trade in now: live only with auto-trade on and mode live."""
        if self.auto_trade and self.mode == TradingMode.LIVE:
            return TradingMode.LIVE
        return TradingMode.DRY_RUN

    def mode_limits(self, mode: str) -> ModeLimits:
        """The exposure limits of `mode`: dry run never uses the live budget."""
        if mode == TradingMode.LIVE:
            return ModeLimits(self.max_position_usdt, self.max_trades_per_hour)
        return ModeLimits(self.dry_run_max_position_usdt, self.dry_run_max_trades_per_hour)


class ModeLimits(NamedTuple):
    max_position_usdt: Decimal
    max_trades_per_hour: int


PRESET_NAME_PATTERN = r"\A[a-z0-9][a-z0-9_-]{0,47}\Z"


class ConfigPreset(models.Model):
    """A named set of settings an operator saved, to apply later as a new config version.

    Saving under an existing name replaces its settings; every save is kept in the preset's
    own history (who, when, why). Applying goes through `config_update`, like any edit.
    """

    name = models.CharField(
        "Preset name",
        max_length=48,
        unique=True,
        validators=[
            RegexValidator(
                PRESET_NAME_PATTERN,
                message="A preset name is 1-48 lower-case letters, digits, - and _, "
                "e.g. quiet-weekend.",
            )
        ],
        help_text="Lower-case letters, digits, - and _, e.g. quiet-weekend.",
    )
    description = models.CharField(
        "Description", max_length=200, blank=True, help_text="What this preset is for."
    )
    values = models.JSONField(
        "Settings",
        default=dict,
        blank=True,
        help_text="The editable settings this preset applies, as the API shows them.",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_constraint=False,
    )
    updated_at = models.DateTimeField(auto_now=True)

    history = HistoricalRecords(
        excluded_fields=["updated_at"], cascade_delete_history=False, user_db_constraint=False
    )

    class Meta:
        ordering = ("name",)
        constraints = [
            models.CheckConstraint(
                condition=Q(name__regex=r"^[a-z0-9][a-z0-9_-]{0,47}$"), name="preset_name_valid"
            )
        ]

    def __str__(self) -> str:
        return self.name


def _plain_amount(value: Any) -> str:
    """1000.00000000 -> 1000, as an operator typed it."""
    return f"{value.normalize():f}" if isinstance(value, Decimal) else str(value)


def live_keys_missing() -> list[str]:
    """Names of the MEXC key settings this process lacks (never their values)."""
    return [
        name for name in ("MEXC_API_KEY", "MEXC_SECRET_KEY") if not getattr(settings, name, None)
    ]


def normalise_symbols(value: Any) -> list[str]:
    """A list of symbol patterns, upper-cased and de-duplicated; anything else is a clear
    error."""
    if value in (None, ""):
        return []
    if not isinstance(value, list) or not all(isinstance(s, str) for s in value):
        raise ValueError('Give a list of symbols, e.g. ["ABCUSDT", "XYZUSDT"].')
    cleaned: list[str] = []
    for raw in value:
        symbol = raw.strip().upper()
        if not (symbol.isascii() and symbol.replace("*", "").replace("?", "").isalnum()):
            raise ValueError(
                f"{raw!r} is not a symbol pattern (letters and digits, * for any run of "
                "characters, ? for one; e.g. ABCUSDT or *3LUSDT)."
            )
        if symbol not in cleaned:
            cleaned.append(symbol)
    return cleaned
