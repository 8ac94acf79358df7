"""Every admin page of our models renders for a superuser."""

import pytest
from django.contrib import admin
from django.urls import reverse

from listings.tests.factories import ListingFactory
from monitoring.tests.factories import AuditEventFactory, BotHealthFactory, BotRunFactory
from risk.services import preset_save
from trading.tests.factories import TradeFactory
from trading.tests.test_positions_api import make_position

pytestmark = pytest.mark.django_db
OUR_APPS = {"monitoring", "risk", "listings", "trading"}


@pytest.fixture
def one_of_each():
    TradeFactory()  # also makes a Listing
    make_position()  # with its own buy
    AuditEventFactory()
    BotRunFactory()
    BotHealthFactory()
    preset_save(actor=None, name="one", values={"max_in_flight": 2})


def _our_models():
    return [m for m in admin.site._registry if m._meta.app_label in OUR_APPS]


def test_all_our_models_are_registered():
    names = {m.__name__ for m in _our_models()}
    assert names >= {
        "TradeConfig",
        "Trade",
        "Position",
        "Listing",
        "AuditEvent",
        "BotRun",
        "BotHealth",
    }


def test_every_changelist_and_object_page_renders(admin_client, one_of_each):
    for model in _our_models():
        opts = model._meta
        changelist = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
        response = admin_client.get(changelist)
        assert response.status_code == 200, changelist
        response = admin_client.get(changelist, {"q": "x"})
        assert response.status_code == 200, f"search on {changelist}"
        obj = model.objects.first()
        for view in ("change", "history"):
            url = reverse(f"admin:{opts.app_label}_{opts.model_name}_{view}", args=[obj.pk])
            response = admin_client.get(url)
            assert response.status_code == 200, url


def test_records_the_bot_writes_are_read_only_in_the_admin(admin_client, one_of_each):
    ListingFactory()
    for name in ("trading_trade", "listings_listing", "monitoring_auditevent", "monitoring_botrun"):
        assert admin_client.get(reverse(f"admin:{name}_add")).status_code == 403
