import pytest

from monitoring.models import AuditEvent, BotHealth, HealthStatus
from monitoring.services import audit_record, health_set
from monitoring.tests.factories import AuditEventFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_audit_events_are_append_only():
    event = AuditEventFactory()
    event.action = "rewritten"
    with pytest.raises(PermissionError):
        event.save()
    with pytest.raises(PermissionError):
        event.delete()
    with pytest.raises(PermissionError):
        AuditEvent.objects.update(action="x")
    with pytest.raises(PermissionError):
        AuditEvent.objects.all().delete()
    assert AuditEvent.objects.get().action == "test.event"


def test_audit_record_labels_the_actor():
    user = UserFactory(username="ivan")
    assert audit_record(actor=user, action="bot.start").actor_label == "ivan"
    assert (
        audit_record(actor=None, action="bot.stop", actor_label="monitor").actor_label == "monitor"
    )


def test_health_set_keeps_one_row_per_component():
    health_set(component="mexc_websocket", status=HealthStatus.OK)
    health_set(component="mexc_websocket", status="degraded", detail={"reason": "drop"})
    row = BotHealth.objects.get(component="mexc_websocket")
    assert row.status == HealthStatus.DEGRADED
    assert row.detail == {"reason": "drop"}
    assert BotHealth.objects.count() == 1


def test_health_endpoint_is_public(client):
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"
