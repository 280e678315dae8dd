"""Documents test fixtures: the ``evm`` marker and an in-process EVM (eth-tester on py-evm, driven by web3.py).

EVM tests skip with the reason when vyper, web3 or eth-tester is missing, and fail instead under
OPENCUSTOMS_REQUIRE_SERVICES=1. No network is used: the contract is the compiled artifact shipped in the package
(vyper is needed only by the test that checks the artifact against its source).
"""

from __future__ import annotations

from typing import Any

import pytest
from documents_helpers import require_modules


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "evm: needs web3.py, eth-tester (py-evm) and, to compile the contract, vyper (in-process EVM)"
    )


@pytest.fixture
def w3() -> Any:
    """A fresh in-process chain (eth-tester, py-evm backend) with ten funded, unlocked accounts."""
    require_modules("web3", "eth_tester", "eth")
    from opencustoms.evm import recursion_limit_kept

    with recursion_limit_kept():  # py-evm and py_ecc raise the process's recursion limit when first used
        from web3 import EthereumTesterProvider, Web3

        return Web3(EthereumTesterProvider())
