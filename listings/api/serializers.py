from rest_framework import serializers

from listings.models import Listing
from monitoring.api.schema import BlankIsGivenMixin, TextOnlyMixin


class ListingSerializer(serializers.ModelSerializer):
    """Output shape shared by the API and the dashboard push (`listing.created`)."""

    class Meta:
        model = Listing
        fields = (
            "id",
            "symbol",
            "base_asset",
            "quote_asset",
            "listed_at",
            "detected_at",
            "source",
            "delisted_at",
        )
        read_only_fields = fields


class SymbolField(TextOnlyMixin, BlankIsGivenMixin, serializers.RegexField):
    pass


class ListingInjectSerializer(serializers.Serializer):
    symbol = SymbolField(
        r"^[A-Za-z0-9]{2,32}$",
        required=False,
        max_length=32,
        help_text="Symbol to list, e.g. TESTUSDT; a unique test symbol when omitted.",
        error_messages={"invalid": "A MEXC symbol is letters and digits, e.g. TESTUSDT."},
    )
