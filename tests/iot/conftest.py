"""IoT test fixtures: the ``mosquitto`` marker and a broker check that skips (or fails under
OPENCUSTOMS_REQUIRE_SERVICES=1) when Mosquitto is not reachable at 127.0.0.1:1883."""

from __future__ import annotations

import datetime as dt
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from opencustoms.iot import mqtt, service
from opencustoms.iot.ingest import Processor

NOW = dt.datetime(2025, 3, 4, 12, 0, tzinfo=dt.UTC)  # the same instant as iot_helpers.NOW
# The tests run with --import-mode=importlib: make this folder's helper module (iot_helpers) importable.
if str(Path(__file__).parent) not in sys.path:
    sys.path.append(str(Path(__file__).parent))
MQTT_HOST = os.environ.get("OPENCUSTOMS_TEST_MQTT_HOST", "127.0.0.1")
MQTT_PORT = int(os.environ.get("OPENCUSTOMS_TEST_MQTT_PORT", "1883"))


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "mosquitto: needs the Mosquitto MQTT broker at 127.0.0.1:1883")


@pytest.fixture
def broker() -> tuple[str, int]:
    if not mqtt.broker_reachable(MQTT_HOST, MQTT_PORT):
        message = f"Mosquitto not reachable at {MQTT_HOST}:{MQTT_PORT} (start it: mosquitto -d)"
        if os.environ.get("OPENCUSTOMS_REQUIRE_SERVICES") == "1":
            pytest.fail(message + " (OPENCUSTOMS_REQUIRE_SERVICES=1)")
        pytest.skip(message)
    return MQTT_HOST, MQTT_PORT


@pytest.fixture
def fixed_processor(engine: Any) -> Processor:
    """A pipeline whose clock is NOW (so tests do not depend on the day they run)."""
    return Processor(engine, movement_loader=service.load_watched_movements, clock=lambda: NOW, refresh_s=0)
