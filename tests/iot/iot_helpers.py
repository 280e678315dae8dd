"""Helpers shared by the IoT tests (a plain module: test files import it by name)."""

from __future__ import annotations

import datetime as dt

NOW = dt.datetime(2025, 3, 4, 12, 0, tzinfo=dt.UTC)
