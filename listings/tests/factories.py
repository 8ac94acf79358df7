import factory
from django.utils import timezone

from listings.models import Listing, ListingSource


class ListingFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Listing

    base_asset = factory.Sequence(lambda n: f"TOK{n}")
    quote_asset = "USDT"
    symbol = factory.LazyAttribute(lambda o: f"{o.base_asset}{o.quote_asset}")
    listed_at = factory.LazyFunction(timezone.now)
    detected_at = factory.LazyFunction(timezone.now)
    source = ListingSource.WEBSOCKET
