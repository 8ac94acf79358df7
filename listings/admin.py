from django.contrib import admin

from common.admin import ReadOnlyAdmin
from common.drf import CappedCountPaginator

from .models import Listing


@admin.register(Listing)
class ListingAdmin(ReadOnlyAdmin):
    """Like the trades' changelist: no date hierarchy, fixed-choice filters, capped counts,
    an exact (any case) symbol search on its index."""

    list_display = ("symbol", "listed_at", "detected_at", "source", "base_asset", "quote_asset")
    list_filter = ("source", ("detected_at", admin.DateFieldListFilter))
    search_fields = ("symbol",)
    search_help_text = "An exact symbol, any case."
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    paginator = CappedCountPaginator

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        return queryset.filter(symbol=term.upper()), False
