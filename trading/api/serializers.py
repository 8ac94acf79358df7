from drf_spectacular.utils import inline_serializer
from rest_framework import serializers

from common.drf import PositiveDecimalField, StrictBooleanField
from listings.api.serializers import SymbolField
from listings.services import symbol_pattern
from risk.models import TradingMode
from trading.models import Position, PositionStatus, Trade
from trading.payloads import position_payload
from trading.selectors import trade_latency_ms


class TradeSerializer(serializers.ModelSerializer):
    """Output shape shared by the API and the dashboard push (`trade.updated`)."""

    config_version = serializers.IntegerField(source="config_version_id", read_only=True)
    listing = serializers.IntegerField(source="listing_id", read_only=True, allow_null=True)
    latency_ms = serializers.SerializerMethodField(
        help_text="Milliseconds per stage (persist, dispatch, risk, send, ack) and in total "
        "(detection, or the decision for manual trades, to the ack); null if not reached."
    )

    class Meta:
        model = Trade
        fields = (
            "id",
            "listing",
            "symbol",
            "side",
            "quote_qty",
            "mode",
            "status",
            "reason_code",
            "error_message",
            "client_order_id",
            "exchange_order_id",
            "executed_qty",
            "avg_price",
            "quote_spent",
            "price_decimals",
            "qty_decimals",
            "config_version",
            "decision_to_ack_ms",
            "latency_ms",
            "attempts",
            "manual",
            "requested_by",
            "confirmed_by",
            "expires_at",
            "created_at",
            "updated_at",
        )
        read_only_fields = fields

    def get_latency_ms(self, trade: Trade) -> dict[str, float | None]:
        return trade_latency_ms(trade)


class TradeExecuteSerializer(serializers.Serializer):
    symbol = SymbolField(
        symbol_pattern(),
        max_length=32,
        error_messages={
            "invalid": "A MEXC symbol is letters and digits: a base and a known quote asset, "
            "e.g. ABCUSDT."
        },
    )
    quote_qty = PositiveDecimalField(
        max_digits=20, decimal_places=8, help_text="Quote amount to spend (quoteOrderQty)."
    )
    live = StrictBooleanField(
        default=False, help_text="Send a real order; needs auto-trade on, live mode and keys."
    )


class RiskMetricsSerializer(serializers.Serializer):
    mode = serializers.CharField()
    exposure_24h = serializers.DecimalField(max_digits=20, decimal_places=8)
    max_position_usdt = serializers.DecimalField(max_digits=20, decimal_places=8)
    exposure_ratio = serializers.FloatField()
    trades_last_hour = serializers.IntegerField()
    max_trades_per_hour = serializers.IntegerField()
    in_flight = serializers.IntegerField()
    max_in_flight = serializers.IntegerField()
    rejections_24h = serializers.DictField(child=serializers.IntegerField())
    breaches = serializers.ListField(child=serializers.CharField())
    breaker = inline_serializer("BreakerState", {"state": serializers.CharField()})
    kill_switch = serializers.BooleanField()
    auto_trade = serializers.BooleanField()


class StageStatsSerializer(serializers.Serializer):
    count = serializers.IntegerField(help_text="Trades that reached this stage (n).")
    p50 = serializers.FloatField(allow_null=True)
    p95 = serializers.FloatField(allow_null=True)
    p99 = serializers.FloatField(allow_null=True)
    max = serializers.FloatField(allow_null=True)


class HistogramBucketSerializer(serializers.Serializer):
    le_ms = serializers.FloatField(allow_null=True, help_text="Upper bound; null: above all.")
    count = serializers.IntegerField()


class LatencyStatsSerializer(serializers.Serializer):
    window = serializers.CharField()
    count = serializers.IntegerField()
    errors = serializers.IntegerField()
    error_rate = serializers.FloatField()
    stages = serializers.DictField(
        child=StageStatsSerializer(),
        help_text="Milliseconds per stage: persist, dispatch, risk, send, ack; total "
        "(detection, or the decision for manual trades, to the ack, the operator's wait left "
        "out); operator_wait (a confirmed trade's wait for its operator, risk done -> "
        "confirmed: a human's time, in no other figure); decision_to_ack (the decision, or "
        "the confirmation, to the ack: the span the bot-latency target is on).",
    )
    histogram = HistogramBucketSerializer(many=True)


def _qty(**kwargs) -> serializers.DecimalField:
    return serializers.DecimalField(max_digits=38, decimal_places=18, read_only=True, **kwargs)


def _money(**kwargs) -> serializers.DecimalField:
    return serializers.DecimalField(max_digits=20, decimal_places=8, read_only=True, **kwargs)


class PositionSerializer(serializers.Serializer):
    """Output shape shared by the API and the dashboard push (`position.updated`): the fields
    declare it for the schema, `trading.payloads.position_payload` builds it (one path)."""

    id = serializers.IntegerField(read_only=True)
    symbol = serializers.CharField(read_only=True)
    mode = serializers.ChoiceField(choices=TradingMode.choices, read_only=True)
    status = serializers.ChoiceField(choices=PositionStatus.choices, read_only=True)
    buy_trade = serializers.IntegerField(read_only=True, help_text="The buy that opened it.")
    price_decimals = serializers.IntegerField(
        read_only=True,
        allow_null=True,
        help_text="The symbol's price precision when its buy was made; null if not recorded.",
    )
    qty_decimals = serializers.IntegerField(
        read_only=True,
        allow_null=True,
        help_text="The symbol's quantity precision then; null if not recorded.",
    )
    quantity = _qty(help_text="Base quantity held now.")
    initial_qty = _qty(help_text="Base quantity the buy delivered.")
    cost_quote = _money(help_text="Quote the buy spent.")
    entry_price = _qty()
    high_price = _qty(help_text="Highest price seen since entry.")
    last_price = _qty(allow_null=True, help_text="The last best bid seen.")
    last_price_at = serializers.DateTimeField(read_only=True, allow_null=True)
    unrealized_pnl = _money(
        allow_null=True, help_text="What is held, at the last best bid, less its cost."
    )
    unrealized_pct = serializers.FloatField(read_only=True, allow_null=True)
    stop_price = _qty(allow_null=True, help_text="Stop-loss level.")
    trailing_price = _qty(allow_null=True, help_text="Trailing stop level; null while inactive.")
    next_take_profit_price = _qty(allow_null=True, help_text="Next take-profit step, if any.")
    expires_at = serializers.DateTimeField(
        read_only=True, allow_null=True, help_text="Time exit; null without a time limit."
    )
    ladder_done = serializers.IntegerField(read_only=True)
    sold_qty = _qty()
    proceeds_quote = _money()
    fees_quote = _money()
    dust_qty = _qty()
    realized_pnl = _money()
    exit_reason = serializers.CharField(read_only=True)
    rules = serializers.JSONField(read_only=True, help_text="Exit rules it opened with.")
    opened_at = serializers.DateTimeField(read_only=True)
    closed_at = serializers.DateTimeField(read_only=True, allow_null=True)

    def to_representation(self, instance: Position) -> dict:
        return position_payload(instance)


class PnlModeSerializer(serializers.Serializer):
    realized_pnl = _money()
    unrealized_pnl = _money()
    fees_quote = _money()
    closed = serializers.IntegerField(help_text="Positions closed in the window.")
    wins = serializers.IntegerField(help_text="Of those, closed with realized_pnl > 0.")
    win_rate = serializers.FloatField(allow_null=True, help_text="wins / closed; null if none.")
    open = serializers.IntegerField(help_text="Open or closing now.")
    open_unpriced = serializers.IntegerField(help_text="Of those, with no price yet.")


class PnlSummarySerializer(serializers.Serializer):
    window = serializers.ChoiceField(choices=["24h", "7d", "all"])
    since = serializers.DateTimeField(allow_null=True)
    dry_run = PnlModeSerializer()
    live = PnlModeSerializer()
