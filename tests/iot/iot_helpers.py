"""Helpers shared by the IoT tests (a plain module: test files import it by name)."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest

NOW = dt.datetime(2025, 3, 4, 12, 0, tzinfo=dt.UTC)
SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"


def shared_data(*parts: str) -> Path:
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        message = f"shared data file {path} is not present"
        if os.environ.get("OPENCUSTOMS_REQUIRE_SERVICES") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return path
