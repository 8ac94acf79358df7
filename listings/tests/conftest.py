import pytest

from listings import ports


class RecordingTrading:
    """A trading port that records what listings hands it (nothing is traded)."""

    def __init__(self) -> None:
        self.recorded: list[dict] = []
        self.armed: list[int] = []
        self.reconciles: list[int] = []
        self.prices: list[tuple[str, object]] = []

    def listing_recorded(self, **kwargs):
        self.recorded.append(kwargs)

    def listing_armed(self, *, upcoming_id: int):
        self.armed.append(upcoming_id)

    def reconcile(self):
        self.reconciles.append(1)

    def first_price(self, *, symbol: str, price) -> None:
        self.prices.append((symbol, price))

    def serve_in_this_process(self) -> None:
        pass

    def wait(self) -> None:
        pass


@pytest.fixture(autouse=True)
def trading_port(monkeypatch):
    """Listings' tests see what is handed to trading through its port, not what trading does."""
    port = RecordingTrading()
    monkeypatch.setattr(ports, "_trading", port)
    return port


@pytest.fixture
def dispatched(trading_port):
    """Listing hand-offs to trading (recorded, not run)."""
    return trading_port.recorded


@pytest.fixture
def reconciles(trading_port):
    """Reconcile requests the monitor sends to trading (recorded, not run, in these tests)."""
    return trading_port.reconciles


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
