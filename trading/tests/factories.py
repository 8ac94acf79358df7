import uuid
from decimal import Decimal

import factory

from listings.tests.factories import ListingFactory
from risk.models import TradingMode
from risk.selectors import config_current_version
from trading.models import Trade, TradeStatus


class TradeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Trade

    listing = factory.SubFactory(ListingFactory)
    symbol = factory.LazyAttribute(lambda o: o.listing.symbol if o.listing else "BTCUSDT")
    quote_qty = Decimal("20")
    mode = TradingMode.DRY_RUN
    status = TradeStatus.PENDING
    client_order_id = factory.LazyFunction(lambda: uuid.uuid4().hex)
    config_version = factory.LazyFunction(config_current_version)
