"""Reads for listings."""

from django.db.models import QuerySet

from .models import Listing


def listings_recent() -> QuerySet[Listing]:
    return Listing.objects.order_by("-detected_at", "-id")
