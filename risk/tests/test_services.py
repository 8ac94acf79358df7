from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from monitoring.models import AuditEvent
from monitoring.tests.factories import UserFactory
from risk.selectors import config_current_version, config_get_active
from risk.services import config_update

pytestmark = pytest.mark.django_db


def test_update_writes_a_version_with_who_and_why_and_an_audit_event():
    operator = UserFactory(username="olga")
    before = config_current_version()
    config_update(actor=operator, changes={"max_trade_usdt": Decimal("50")}, reason="tighter")
    version = config_current_version()
    assert version.history_id != before.history_id
    assert version.max_trade_usdt == Decimal("50")
    assert version.history_user == operator
    assert version.history_change_reason == "tighter"
    event = AuditEvent.objects.get(action="config.update")
    assert event.actor == operator
    assert event.detail["changes"] == {"max_trade_usdt": {"from": "100.00000000", "to": "50"}}
    assert event.detail["version"] == version.history_id


def test_invalid_update_changes_nothing():
    before = config_current_version()
    with pytest.raises(ValidationError) as exc:
        config_update(actor=None, changes={"max_trade_usdt": Decimal("5000")}, reason="oops")
    assert "max_trade_usdt" in exc.value.message_dict
    assert config_current_version().history_id == before.history_id
    assert config_get_active().max_trade_usdt == Decimal("100")
    assert not AuditEvent.objects.exists()


def test_reason_is_required():
    with pytest.raises(ValidationError) as exc:
        config_update(actor=None, changes={"auto_trade": True}, reason="  ")
    assert "reason" in exc.value.message_dict
    assert config_get_active().auto_trade is False


def test_unknown_settings_are_refused():
    with pytest.raises(ValidationError) as exc:
        config_update(actor=None, changes={"name": "evil"}, reason="x")
    assert exc.value.message_dict == {"name": ["Not an editable setting."]}
