import pytest


@pytest.fixture
def dispatched(monkeypatch):
    """Listing ids handed to trading (the Celery hand-off is recorded, not run)."""
    calls: list[dict] = []
    monkeypatch.setattr("listings.services.dispatch_snipe", lambda **kwargs: calls.append(kwargs))
    return calls


@pytest.fixture
async def close_thread_connections():
    """Close the DB connections sync_to_async's thread and the monitor's database thread
    opened, so the test DB can be dropped."""
    yield
    from asgiref.sync import sync_to_async
    from django.db import connections

    from listings.monitor import close_database

    await sync_to_async(connections.close_all, thread_sensitive=True)()
    await close_database()


@pytest.fixture(autouse=True)
def reconciles(monkeypatch):
    """Reconcile requests the monitor sends to trading (recorded, not run, in these tests)."""
    calls: list[int] = []
    monkeypatch.setattr("listings.monitor.dispatch_reconcile", lambda: calls.append(1))
    return calls
