"""A local, stand-alone MEXC Spot V3 simulator (REST, protobuf WebSocket, calendar, control).

Library use (in-process, ephemeral port)::

    from mexc.simulator import SimulatorConfig, run_simulator

    async with run_simulator(SimulatorConfig(port=0)) as sim:
        sim.rest_url, sim.ws_url, sim.calendar_url, sim.api_key, sim.secret_key
        sim.exchange.list_symbol("NEWUSDT", price="0.01", open_in_ms=500)

As a process: ``python -m mexc.simulator --port 8900`` or ``SimulatorProcess`` (tests).
"""

from .app import Simulator, run_simulator
from .config import SimulatorConfig
from .exchange import Exchange
from .process import SimulatorProcess, free_port

__all__ = [
    "Exchange",
    "Simulator",
    "SimulatorConfig",
    "SimulatorProcess",
    "free_port",
    "run_simulator",
]
