from rest_framework import serializers

from listings.models import Listing


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
