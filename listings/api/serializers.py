import re

from rest_framework import serializers

from common.drf import BlankIsGivenMixin, TextOnlyMixin
from listings.models import Listing
from listings.services import QUOTE_ASSETS


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


SYMBOL_INVALID = "A MEXC symbol is 2-32 letters A-Z and digits, e.g. TESTUSDT."


class ListingInjectSerializer(serializers.Serializer):
    """Spaces around the symbol are dropped and it is upper-cased; anything else that is not
    a letter or digit (a newline, a tab, a dash) is refused, not silently cut off."""

    symbol = SymbolField(
        r"^ *[A-Za-z0-9]{2,32} *$",
        required=False,
        max_length=40,
        trim_whitespace=False,  # DRF would strip newlines and tabs too
        help_text="Symbol to list, e.g. TESTUSDT; a unique test symbol when omitted.",
        error_messages={"invalid": SYMBOL_INVALID},
    )

    def validate_symbol(self, value: str) -> str:
        symbol = value.strip(" ").upper()
        if not re.fullmatch(r"[A-Z0-9]{2,32}", symbol):  # fullmatch: "$" lets "\n" through
            raise serializers.ValidationError(SYMBOL_INVALID)
        if symbol in QUOTE_ASSETS:
            raise serializers.ValidationError(
                f"{symbol} is a quote asset with no base asset: give both, e.g. ABC{symbol}."
            )
        return symbol
