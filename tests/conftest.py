"""Shared fixtures.

``database_url`` runs a test against SQLite and against PostgreSQL. PostgreSQL tests are marked ``postgres``; they
skip when the server is unreachable, and fail instead when OPENCUSTOMS_REQUIRE_SERVICES=1 (CI sets it). Each
PostgreSQL test gets a fresh database, dropped afterwards.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from sqlalchemy import create_engine, text

from opencustoms.security.pseudonyms import Pseudonymiser
from opencustoms.security.service import ensure_administration, local_operator
from opencustoms.store.database import init_database, open_database

POSTGRES_ADMIN_URL = os.environ.get(
    "OPENCUSTOMS_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
REQUIRE_SERVICES = os.environ.get("OPENCUSTOMS_REQUIRE_SERVICES") == "1"
SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"

# Hypothesis without deadlines: a test's speed depends on what else the machine is doing (a load average of 10-15
# made examples "too slow" that are not). "ci" is the same profile under the name CI services look for;
# HYPOTHESIS_PROFILE chooses another registered one. A test needing more suppressions adds them to
# ``settings.default.suppress_health_check``, not in place of it (see tests/reference/test_hs.py).
for _name in ("opencustoms", "ci"):
    settings.register_profile(
        _name,
        deadline=None,
        # too_slow: generation time is machine load; data_too_large: some strategies (lists of HS entries) are
        # big by design, and a loaded run sees the limit sooner
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        print_blob=True,
    )
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "opencustoms"))


def shared_data(*parts: str) -> Path:
    """A file of the shared data sets, or a skip (a failure under OPENCUSTOMS_REQUIRE_SERVICES=1)."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        message = f"shared data file {path} is not present"
        if REQUIRE_SERVICES:
            pytest.fail(message)
        pytest.skip(message)
    return path


def require_modules(*names: str) -> None:
    """Skip (or fail under OPENCUSTOMS_REQUIRE_SERVICES=1) when a Python package an EVM test needs is missing."""
    missing = [n for n in names if importlib.util.find_spec(n) is None]
    if missing:
        message = f"EVM test needs {', '.join(missing)} (pip install 'opencustoms[evm]')"
        if REQUIRE_SERVICES:
            pytest.fail(message + " (OPENCUSTOMS_REQUIRE_SERVICES=1)")
        pytest.skip(message)


@pytest.fixture
def w3() -> Any:
    """A fresh in-process chain (eth-tester, py-evm backend) with ten funded, unlocked accounts."""
    require_modules("web3", "eth_tester", "eth")
    from opencustoms.evm import recursion_limit_kept

    with recursion_limit_kept():  # py-evm and py_ecc raise the process's recursion limit when first used
        from web3 import EthereumTesterProvider, Web3

        return Web3(EthereumTesterProvider())


def _postgres_or_skip() -> None:
    try:
        with create_engine(POSTGRES_ADMIN_URL).connect() as conn:
            conn.execute(text("select 1"))
    except Exception as exc:  # pragma: no cover - depends on the machine
        message = f"PostgreSQL not reachable at {POSTGRES_ADMIN_URL}: {exc.__class__.__name__}"
        if REQUIRE_SERVICES:
            pytest.fail(message + " (OPENCUSTOMS_REQUIRE_SERVICES=1)")
        pytest.skip(message)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite database, copied for each test (running the migrations per test is the slow part)."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    engine = init_database(f"sqlite:///{path}")
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    open_database.cache_clear()
    return path


@pytest.fixture(scope="session")
def postgres_template() -> Iterator[str]:
    """A migrated PostgreSQL database that each test's database is created from (CREATE DATABASE ... TEMPLATE)."""
    _postgres_or_skip()
    name = f"oc_tpl_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine = init_database(POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + "/" + name)
    engine.dispose()
    try:
        yield name
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, migrated database for one test: a copy of the session's SQLite template, or a PostgreSQL database
    created from the session's template."""
    if request.param == "sqlite":
        path = tmp_path / "test.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite:///{path}"
        open_database.cache_clear()
        return
    template = request.getfixturevalue("postgres_template")
    name = f"oc_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
    url = POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    try:
        yield url
    finally:
        open_database.cache_clear()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def engine(database_url: str):  # type: ignore[no-untyped-def]
    engine = init_database(database_url)
    ensure_administration(engine, "NL", "Dutch Customs (test)", "NL")
    yield engine
    engine.dispose()


@pytest.fixture
def operator():  # type: ignore[no-untyped-def]
    return local_operator("NL")


@pytest.fixture
def pseudonymiser() -> Pseudonymiser:
    return Pseudonymiser(b"test-key-" * 4)


def sample_declaration(reference: str = "LRN-0001", **changes: Any) -> dict[str, Any]:
    """A complete, valid import declaration as a JSON-like dict."""
    data: dict[str, Any] = {
        "functional_reference_id": reference,
        "type_code": "import",
        "acceptance_date": "2025-03-04",
        "declaration_office_id": "NL000396",
        "procedure_code": "4000",
        "declarant": {"id": "NL100000001", "name": "Kade Brokers BV", "country_code": "NL"},
        "importer": {
            "id": "NL200000002",
            "name": "Tulip Trading BV",
            "address": {
                "line": "Maasboulevard 1",
                "city_name": "Rotterdam",
                "postcode_id": "3011",
                "country_code": "NL",
            },
            "aeo_status": "certified",
            "aeo_certificate_id": "NLAEOF0001",
        },
        "seller": {"id": "CN300000003", "name": "Shenzhen Widgets Ltd", "country_code": "CN"},
        "transport": {
            "mode_code": "1",
            "id": "EVER GIVEN",
            "vessel_imo": "9811000",
            "vessel_mmsi": "353136000",
            "container_ids": ["CSQU3054383"],
            "loading_location": "CNSZX",
            "unloading_location": "NLRTM",
            "departure_country_code": "CN",
            "itinerary_country_codes": ["CN", "SG", "NL"],
        },
        "additional_documents": [
            {"type_code": "861", "id": "COO-2025-77", "issue_date": "2025-02-20", "issuer_country_code": "CN"}
        ],
        "goods_items": [
            {
                "sequence_number": 1,
                "hs_code": "847130",
                "description": "laptops",
                "quantity": 100,
                "quantity_unit": "NAR",
                "net_mass_kg": 220.0,
                "gross_mass_kg": 260.0,
                "customs_value_amount": "45000.00",
                "customs_value_currency": "USD",
                "origin_country_code": "CN",
                "duty_rate": "0",
                "duty_tax_amount": "9450.00",
            },
            {
                "sequence_number": 2,
                "hs_code": "62034235",
                "description": "men's cotton trousers",
                "quantity": 500,
                "quantity_unit": "NAR",
                "net_mass_kg": 300.0,
                "gross_mass_kg": 320.0,
                "customs_value_amount": "6000.00",
                "customs_value_currency": "USD",
                "origin_country_code": "CN",
                "duty_rate": "12",
                "duty_tax_amount": "0.00",
                "preference": {"code": "300", "agreement": "test FTA", "proving_document_id": "COO-2025-77"},
            },
        ],
    }
    data.update(changes)
    return data
