from django.apps import AppConfig


class ListingsConfig(AppConfig):
    name = "listings"
    verbose_name = "Listings"

    def ready(self) -> None:
        from monitoring.metrics import metrics_start_at_zero

        from .models import ListingSource

        metrics_start_at_zero(listing_sources=ListingSource.values)
