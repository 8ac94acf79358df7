from alerts.tests.fixtures import notify_dispatcher, notify_receiver  # noqa: F401

# The simulator and live mode, for the events trading raises (test_emit_sites.py).
from trading.tests.conftest import exchange, live, no_push  # noqa: F401
