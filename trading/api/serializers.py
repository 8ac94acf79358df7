from rest_framework import serializers

from trading.models import Trade


class TradeSerializer(serializers.ModelSerializer):
    """Output shape shared by the API and the dashboard push (`trade.updated`)."""

    config_version = serializers.IntegerField(source="config_version_id", read_only=True)
    listing = serializers.IntegerField(source="listing_id", read_only=True, allow_null=True)

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
            "attempts",
            "manual",
            "requested_by",
            "confirmed_by",
            "expires_at",
            "created_at",
            "updated_at",
        )
        read_only_fields = fields
