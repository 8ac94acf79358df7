from alerts.tests.fixtures import notify_dispatcher, notify_receiver  # noqa: F401
