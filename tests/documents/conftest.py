"""Documents test fixtures: the ``evm`` marker (the in-process EVM fixture ``w3`` is in tests/conftest.py).

EVM tests skip with the reason when vyper, web3 or eth-tester is missing, and fail instead under
OPENCUSTOMS_REQUIRE_SERVICES=1. No network is used: the contract is the compiled artifact shipped in the package
(vyper is needed only by the test that checks the artifact against its source).
"""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "evm: needs web3.py, eth-tester (py-evm) and, to compile the contract, vyper (in-process EVM)"
    )
