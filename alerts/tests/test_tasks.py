import pytest

from alerts.models import Notification, NotificationStatus
from alerts.tasks import deliver


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_deliver_task_is_idempotent(notify_receiver):
    from alerts.channels import channels_configured

    (channel,) = channels_configured()
    row = Notification.objects.create(
        event="buy_filled",
        key="buy_filled:5",
        channel=channel.id,
        channel_label=channel.label,
        payload={"symbol": "XYZUSDT", "mode": "live"},
    )
    assert deliver.run(row.id) == "sent"
    assert deliver.run(row.id) == "skipped"  # a repeated task sends nothing
    assert len(notify_receiver.wait_for(1, timeout=5)) == 1
    row.refresh_from_db()
    assert (row.status, row.attempts) == (NotificationStatus.SENT, 1)
