import re

from rest_framework import serializers

from common.drf import BlankIsGivenMixin, TextOnlyMixin
from listings.models import Listing
from listings.services import QUOTE_ASSETS, symbol_pattern


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
    """A MEXC symbol (`symbol_pattern`); a bare quote asset is told what is missing."""

    def run_validation(self, data=serializers.empty):
        try:
            return super().run_validation(data)
        except serializers.ValidationError:
            bare = data.strip(" ").upper() if isinstance(data, str) else ""
            if bare in QUOTE_ASSETS:
                raise serializers.ValidationError(
                    f"{bare} is a quote asset with no base asset: give both, e.g. ABC{bare}."
                ) from None
            raise


SYMBOL_INVALID = (
    "A MEXC symbol is letters A-Z and digits: a base and a known quote asset "
    f"({', '.join(QUOTE_ASSETS)}), e.g. TESTUSDT."
)


class ListingInjectSerializer(serializers.Serializer):
    """Spaces around the symbol are dropped and it is upper-cased; anything else that is not
    a letter or digit (a newline, a tab, a dash) is refused, not silently cut off."""

    symbol = SymbolField(
        symbol_pattern(padded=True),
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
        return symbol


class InjectInfoSerializer(serializers.Serializer):
    on_simulator = serializers.BooleanField(
        help_text="True: injected symbols are listed on the local demo simulator first."
    )
    note = serializers.CharField(help_text="What an injected listing will lead to, in words.")
    quote_assets = serializers.ListField(
        child=serializers.CharField(), help_text="Known quote assets a symbol must end with."
    )
