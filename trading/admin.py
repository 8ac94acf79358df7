from django.contrib import admin
from django.db.models import Q
from simple_history.admin import SimpleHistoryAdmin

from common.admin import ReadOnlyAdmin
from common.drf import CappedCountPaginator

from .models import Position, Trade


@admin.register(Trade)
class TradeAdmin(ReadOnlyAdmin):
    """Fast at millions of trades: no date hierarchy (a DISTINCT over the whole table), filters
    on fixed choices only, counts capped (CappedCountPaginator, no full count), and a search
    that is exact on indexed columns: a symbol (any case), a client or exchange order id."""

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
        ("created_at", admin.DateFieldListFilter),
    )
    search_fields = ("symbol", "client_order_id", "exchange_order_id")
    search_help_text = "An exact symbol (any case), client order id or exchange order id."
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    paginator = CappedCountPaginator

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        match = Q(symbol=term.upper()) | Q(client_order_id=term) | Q(exchange_order_id=term)
        return queryset.filter(match), False


@admin.register(Position)
class PositionAdmin(ReadOnlyAdmin, SimpleHistoryAdmin):
    """Read-only, with each change in its history (simple-history). Like trades: filters on
    fixed choices, counts capped, and the search is an exact symbol (any case)."""

    list_display = (
        "opened_at",
        "symbol",
        "mode",
        "status",
        "entry_price",
        "quantity",
        "realized_pnl",
        "exit_reason",
    )
    list_filter = ("mode", "status")
    search_fields = ("symbol",)
    search_help_text = "An exact symbol (any case)."
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    paginator = CappedCountPaginator

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        return queryset.filter(symbol=term.upper()), False
