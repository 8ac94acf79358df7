from decimal import Decimal

import pytest

from risk.selectors import config_current_version, config_get_active
from risk.services import config_update
from risk.tests.factories import admin_form_data

pytestmark = pytest.mark.django_db


def test_a_change_through_the_admin_leaves_a_version_with_user_and_reason(admin_client, admin_user):
    config = config_get_active()
    url = f"/admin/risk/tradeconfig/{config.pk}/change/"
    response = admin_client.post(
        url, admin_form_data(config, max_trade_usdt="75", change_reason="smaller first snipes")
    )
    assert response.status_code == 302, response.content
    version = config_current_version()
    assert version.max_trade_usdt == Decimal("75")
    assert version.history_user == admin_user
    assert version.history_change_reason == "smaller first snipes"
    history = admin_client.get(f"/admin/risk/tradeconfig/{config.pk}/history/")
    assert b"smaller first snipes" in history.content


def test_the_admin_refuses_a_change_without_a_reason(admin_client):
    config = config_get_active()
    before = config_current_version().history_id
    response = admin_client.post(
        f"/admin/risk/tradeconfig/{config.pk}/change/", admin_form_data(config, max_trade_usdt="75")
    )
    assert response.status_code == 200
    assert b"This field is required" in response.content
    assert config_current_version().history_id == before
    assert config_get_active().max_trade_usdt == Decimal("100")


def test_the_admin_shows_cross_field_errors(admin_client):
    config = config_get_active()
    response = admin_client.post(
        f"/admin/risk/tradeconfig/{config.pk}/change/",
        admin_form_data(config, max_trade_usdt="5000", change_reason="big"),
    )
    assert response.status_code == 200
    assert b"cannot exceed max position" in response.content
    assert config_get_active().max_trade_usdt == Decimal("100")


def test_revert_from_history_needs_a_reason_and_makes_a_new_version(admin_client, admin_user):
    original = config_current_version()
    config_update(actor=admin_user, changes={"max_trade_usdt": Decimal("30")}, reason="cut")
    config = config_get_active()
    url = f"/admin/risk/tradeconfig/{config.pk}/history/{original.history_id}/"
    page = admin_client.get(url)
    assert page.status_code == 200
    reverted = admin_form_data(original.instance, change_reason="back to defaults")
    response = admin_client.post(url, reverted)
    assert response.status_code == 302, response.content
    latest = config_current_version()
    assert latest.max_trade_usdt == Decimal("100")
    assert latest.history_change_reason == "back to defaults"
    assert config.history.count() == 3
