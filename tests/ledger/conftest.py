"""Fixtures of the ledger tests."""

from __future__ import annotations

import pytest
from ledger_testnodes import single_ledger


@pytest.fixture
def ledger(engine, operator, tmp_path):  # type: ignore[no-untyped-def]
    """(engine, key store) of a node's log with LEDGER_OFFICER's key certified; on SQLite and PostgreSQL."""
    return single_ledger(engine, operator, tmp_path)
