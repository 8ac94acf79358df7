"""Pytest fixtures for notifications, reusable by other apps' tests:

    # <app>/tests/conftest.py
    from alerts.tests.fixtures import notify_dispatcher, notify_receiver  # noqa: F401

`notify_receiver`: a running NotifyReceiver, set as the only channel (settings.NOTIFY_URLS).
`notify_dispatcher`: a fresh process dispatcher whose retry/pacing sleeps are recorded in
`dispatcher.slept` and skipped (no real waits); `dispatcher.wait_idle(timeout)` waits until
everything queued is delivered or given up. Use with `transactional_db` (notify() queues on
commit, and delivery threads read the committed rows).
"""

from __future__ import annotations

import pytest

from alerts.delivery import Dispatcher
from alerts.tests.receiver import NotifyReceiver


class RecordingDispatcher(Dispatcher):
    in_process = True  # delivered by this process's threads in either shape (no worker here)

    def __init__(self, **kwargs) -> None:
        self.slept: list[float] = []
        super().__init__(sleep=self.slept.append, **kwargs)


@pytest.fixture
def notify_dispatcher():
    dispatcher = RecordingDispatcher()
    Dispatcher.install(dispatcher)
    yield dispatcher
    dispatcher.wait_idle(timeout=10)
    dispatcher.stop()
    Dispatcher.install(None)


@pytest.fixture
def notify_receiver(settings, notify_dispatcher):
    with NotifyReceiver() as receiver:
        settings.NOTIFY_URLS = receiver.url
        yield receiver
