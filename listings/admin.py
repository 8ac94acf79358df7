from django.contrib import admin

from common.admin import ReadOnlyAdmin

from .models import Listing


@admin.register(Listing)
class ListingAdmin(ReadOnlyAdmin):
    list_display = ("symbol", "listed_at", "detected_at", "source", "base_asset", "quote_asset")
    list_filter = ("source", "quote_asset", ("detected_at", admin.DateFieldListFilter))
    search_fields = ("symbol", "base_asset")
    date_hierarchy = "detected_at"
