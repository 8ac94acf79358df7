from django.contrib import admin

from common.admin import ReadOnlyAdmin

from .models import Trade


@admin.register(Trade)
class TradeAdmin(ReadOnlyAdmin):
    list_display = (
        "created_at",
        "symbol",
        "side",
        "quote_qty",
        "mode",
        "status",
        "reason_code",
        "decision_to_ack_ms",
        "config_version_id",
    )
    list_filter = (
        "mode",
        "status",
        "side",
        "reason_code",
        ("created_at", admin.DateFieldListFilter),
    )
    search_fields = ("symbol", "client_order_id", "exchange_order_id", "reason_code")
    date_hierarchy = "created_at"
    list_select_related = ("config_version", "listing")
