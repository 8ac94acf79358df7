from drf_spectacular.utils import inline_serializer
from rest_framework import serializers

from common.drf import PositiveDecimalField, StrictBooleanField
from listings.api.serializers import SymbolField
from listings.services import symbol_pattern
from trading.models import Trade
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
    count = serializers.IntegerField()
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
    stages = serializers.DictField(child=StageStatsSerializer())
    histogram = HistogramBucketSerializer(many=True)
