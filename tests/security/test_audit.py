"""The audit log's hash chain: an attacker with database access (who first drops the append-only triggers) edits,
removes, swaps, replaces or adds entries; `verify` names the first bad one. Writers in threads keep one chain."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import os
import threading

import pytest
from sqlalchemy import select, text

from opencustoms.security import audit
from opencustoms.security import service as security
from opencustoms.security.errors import AuditSigningKeyError, PermissionDeniedError
from opencustoms.store.tables import audit_log


def _write(engine, operator, n: int) -> None:
    for i in range(n):
        with engine.begin() as conn:
            security.record(conn, operator, "read", "declaration", f"D{i}", detail={"rows": i, "name": "Café"})


def _drop_guards(engine) -> None:
    """What an attacker with the database's owner rights does first."""
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("DROP TRIGGER audit_log_append_only ON audit_log"))
        else:
            for name in ("audit_log_no_update", "audit_log_no_delete", "audit_log_no_replace"):
                conn.execute(text(f"DROP TRIGGER {name}"))


def _rows(engine) -> list[dict]:
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(select(audit_log).order_by(audit_log.c.id)).mappings()]


def test_the_canonical_form_is_the_documented_one() -> None:
    """Pins docs/security.md's definition: a change of the canonical form breaks every existing chain."""
    entry = {
        "id": 7,
        "at": dt.datetime(2026, 12, 7, 10, 0, 1, 5, tzinfo=dt.UTC),
        "actor": "olga",
        "action": "read",
        "object_type": "declaration",
        "object_id": "LRN-1",
        "purpose": None,
        "detail": {"z": [1, "é"], "a": None},
    }
    text_ = (
        '{"action":"read","actor":"olga","at":"2026-12-07T10:00:01.000005Z","detail":{"a":null,"z":[1,"é"]},'
        '"id":7,"object_id":"LRN-1","object_type":"declaration","purpose":null}'
    )
    assert audit.canonical_entry(entry) == text_.encode()
    prev = "ab" * 32
    expected = hashlib.sha256(b"opencustoms-audit-v1\n" + bytes.fromhex(prev) + text_.encode()).hexdigest()
    assert audit.chain_hash(prev, entry) == expected
    local = dt.timezone(dt.timedelta(hours=2))
    assert audit.canonical_entry({**entry, "at": entry["at"].astimezone(local)}) == text_.encode()


def test_an_intact_log_verifies(engine, operator) -> None:
    _write(engine, operator, 5)
    with engine.begin() as conn:  # several entries in one statement, as the ledger writes them per group
        security.record_rows(conn, [security.audit_row(operator, "append", "ledger_log", f"L{i}") for i in range(3)])
    result = audit.verify(engine)
    assert result.ok and result.entries == 8 and result.first_bad_id is None
    rows = _rows(engine)
    assert [r["id"] for r in rows] == list(range(1, 9))
    assert all(b["prev_hash"] == a["entry_hash"] for a, b in zip(rows, rows[1:], strict=False))


def test_details_verify_as_they_read_back(engine, operator) -> None:
    """Integer keys come back as strings, and sort differently then (2 < 10 but "10" < "2"); tuples as lists."""
    with engine.begin() as conn:
        security.record(conn, operator, "count", "lane", None, detail={2: "a", 10: ("b", 1.5), "n": None})
    assert audit.verify(engine).ok
    assert _rows(engine)[0]["detail"] == {"2": "a", "10": ["b", 1.5], "n": None}


def test_an_edited_entry_is_named(engine, operator) -> None:
    _write(engine, operator, 5)
    _drop_guards(engine)
    with engine.begin() as conn:
        conn.execute(text("UPDATE audit_log SET actor = 'mallory' WHERE id = 3"))
    result = audit.verify(engine)
    assert not result.ok and result.first_bad_id == 3 and "changed" in result.problem
    assert result.entries == 2  # the entries before it are fine


def test_an_edited_detail_is_named(engine, operator) -> None:
    _write(engine, operator, 3)
    _drop_guards(engine)
    with engine.begin() as conn:
        conn.execute(text("UPDATE audit_log SET detail = :d WHERE id = 2"), {"d": json.dumps({"rows": 99})})
    assert audit.verify(engine).first_bad_id == 2


def test_a_removed_entry_is_found(engine, operator) -> None:
    _write(engine, operator, 5)
    _drop_guards(engine)
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_log WHERE id = 3"))
    result = audit.verify(engine)
    assert not result.ok and result.first_bad_id == 4 and "does not follow entry #2" in result.problem


def test_a_removed_last_entry_is_found(engine, operator) -> None:
    _write(engine, operator, 4)
    _drop_guards(engine)
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_log WHERE id = 4"))
    result = audit.verify(engine)
    assert not result.ok and result.first_bad_id == 3 and "head names entry #4" in result.problem


def test_swapped_entries_are_found(engine, operator) -> None:
    _write(engine, operator, 5)
    rows = {r["id"]: r for r in _rows(engine)}
    _drop_guards(engine)
    columns = [c for c in rows[2] if c != "id"]
    assignments = ", ".join(f"{c} = :{c}" for c in columns)
    with engine.begin() as conn:  # whole rows, hashes included, change places
        for target, source in ((2, 4), (4, 2)):
            values = {c: rows[source][c] for c in columns}
            values["detail"] = json.dumps(values["detail"])
            conn.execute(text(f"UPDATE audit_log SET {assignments} WHERE id = :id"), {**values, "id": target})
    result = audit.verify(engine)
    assert not result.ok and result.first_bad_id == 2


def test_a_replaced_entry_is_found(engine, operator) -> None:
    """REPLACE INTO (SQLite) / INSERT ... ON CONFLICT DO UPDATE (PostgreSQL) with the guards dropped."""
    _write(engine, operator, 4)
    row = _rows(engine)[1]
    _drop_guards(engine)
    values = {**row, "actor": "mallory", "detail": json.dumps(row["detail"])}
    columns = ", ".join(values)
    placeholders = ", ".join(f":{c}" for c in values)
    if engine.dialect.name == "sqlite":
        statement = f"REPLACE INTO audit_log ({columns}) VALUES ({placeholders})"
    else:
        statement = (
            f"INSERT INTO audit_log ({columns}) VALUES ({placeholders}) ON CONFLICT (id) DO UPDATE SET "
            "actor = excluded.actor"
        )
    with engine.begin() as conn:
        conn.execute(text(statement), values)
    assert _rows(engine)[1]["actor"] == "mallory"
    result = audit.verify(engine)
    assert not result.ok and result.first_bad_id == 2


def test_entries_added_behind_the_heads_back_are_found(engine, operator) -> None:
    _write(engine, operator, 3)
    rows = _rows(engine)
    forged = {**rows[-1], "id": 4, "actor": "mallory", "prev_hash": rows[-1]["entry_hash"]}
    forged["entry_hash"] = audit.chain_hash(forged["prev_hash"], forged)  # even correctly hashed
    forged["detail"] = json.dumps(forged["detail"])
    columns = ", ".join(forged)
    with engine.begin() as conn:
        conn.execute(text(f"INSERT INTO audit_log ({columns}) VALUES ({', '.join(':' + c for c in forged)})"), forged)
    result = audit.verify(engine)
    assert not result.ok and "head names entry #3" in result.problem
    replayed = {**rows[0], "id": 5, "detail": json.dumps(rows[0]["detail"])}  # an old entry copied to the end
    with engine.begin() as conn:
        conn.execute(
            text(f"INSERT INTO audit_log ({', '.join(replayed)}) VALUES ({', '.join(':' + c for c in replayed)})"),
            replayed,
        )
    assert not audit.verify(engine).ok


def test_concurrent_writers_keep_one_chain(engine, operator) -> None:
    """Threads appending at once must not fork the chain (each continues from the head the previous one left)."""
    errors: list[BaseException] = []
    start = threading.Barrier(6)

    def writer(k: int) -> None:
        try:
            start.wait(timeout=60)
            for i in range(15):
                with engine.begin() as conn:
                    conn.execute(text("SELECT 1"))  # a read first, as the audited reads of the risk engine do
                    rows = [security.audit_row(operator, "read", "declaration", f"T{k}-{i}-{j}") for j in range(2)]
                    security.record_rows(conn, rows)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not errors, errors
    result = audit.verify(engine)
    assert result.ok, result.problem
    assert result.entries == 6 * 15 * 2
    assert len({r["prev_hash"] for r in _rows(engine)}) == result.entries  # no two entries share a predecessor


# --- signed heads --------------------------------------------------------------------------------------------


def _key_file(tmp_path, name: str = "admin.key"):
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

    seed = Ed25519PrivateKey.generate().private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    path = tmp_path / name
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(base64.b64encode(seed) + b"\n")
    return path


def test_a_signed_head_reveals_a_rewritten_chain(engine, operator, tmp_path) -> None:
    """An attacker who rewrites an entry and recomputes every hash after it (and the head) is caught by a signed
    head; signatures by a key other than the administration's are refused."""
    key_file = _key_file(tmp_path)
    _write(engine, operator, 4)
    signed = security.sign_audit_head(engine, operator, key_file)
    assert signed["last_id"] == 5 and signed["entries"] == 5  # the signing itself is entry 5
    _write(engine, operator, 2)
    assert security.verify_audit(engine, operator, key_file=key_file)["ok"]

    _drop_guards(engine)
    rows = _rows(engine)
    with engine.begin() as conn:
        prev = rows[1]["entry_hash"]
        for row in rows[2:]:
            if row["id"] == 3:
                row["actor"] = "mallory"
            row["prev_hash"] = prev
            prev = row["entry_hash"] = audit.chain_hash(prev, row)
            conn.execute(
                text("UPDATE audit_log SET actor = :a, prev_hash = :p, entry_hash = :h WHERE id = :id"),
                {"a": row["actor"], "p": row["prev_hash"], "h": row["entry_hash"], "id": row["id"]},
            )
        conn.execute(text("UPDATE audit_chain_head SET last_hash = :h"), {"h": prev})
    result = security.verify_audit(engine, operator, key_file=key_file)
    assert not result["ok"] and result["first_bad_id"] == 5 and "signed at" in result["problem"]

    other = _key_file(tmp_path, "other.key")
    assert not security.verify_audit(engine, operator, key_file=other)["ok"]


def test_a_forged_signature_is_refused(engine, operator, tmp_path) -> None:
    key_file = _key_file(tmp_path)
    _write(engine, operator, 2)
    security.sign_audit_head(engine, operator, key_file)
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("DROP TRIGGER audit_signed_heads_append_only ON audit_signed_heads"))
        else:
            conn.execute(text("DROP TRIGGER audit_signed_heads_no_update"))
        conn.execute(text("UPDATE audit_signed_heads SET entries = entries + 1"))
    result = audit.verify(engine)
    assert not result.ok and "invalid signature" in result.problem


def test_signing_refuses_an_unusable_key(engine, operator, tmp_path) -> None:
    with pytest.raises(AuditSigningKeyError, match="no signing key") as info:
        security.sign_audit_head(engine, operator, tmp_path / "missing.key")
    assert info.value.field == "key_file"
    loose = _key_file(tmp_path)
    os.chmod(loose, 0o644)
    with pytest.raises(AuditSigningKeyError, match="chmod 600"):
        security.sign_audit_head(engine, operator, loose)


def test_verifying_needs_the_audit_permission_and_is_audited(engine, operator) -> None:
    _write(engine, operator, 2)
    dpo = security.Identity.of("dpo", "NL", ["data_protection_officer"])
    assert security.verify_audit(engine, dpo)["ok"]
    assert _rows(engine)[-1]["action"] == "verify" and _rows(engine)[-1]["actor"] == "dpo"
    with pytest.raises(PermissionDeniedError, match="audit:read"):
        security.verify_audit(engine, security.Identity.of("o", "NL", ["officer"]))


def test_the_api_server_signs_the_head_on_its_own(database_url, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """While the API server runs, the head is signed every OPENCUSTOMS_AUDIT_SIGN_INTERVAL_MINUTES by ``server``
    (nothing at start-up; nothing without a key file), and the log still verifies with that key."""
    from fastapi.testclient import TestClient

    from opencustoms.api import create_app
    from opencustoms.config import Settings
    from opencustoms.context import Platform
    from opencustoms.store.database import init_database
    from opencustoms.store.tables import audit_signed_heads

    engine = init_database(database_url)
    security.ensure_administration(engine, "NL", "Dutch Customs (test)", "NL")
    settings = Settings(database_url=database_url, data_dir=tmp_path / "data", audit_sign_interval_minutes=0.002)
    assert security.sign_audit_head_on_schedule(engine, settings) is None  # no key file yet: nothing to sign with
    key_file = _key_file(tmp_path)
    settings = settings.model_copy(update={"audit_signing_key_file": key_file})
    with TestClient(create_app(Platform(settings))):
        deadline = 600  # polls of 0.1 s: generous for a loaded machine; the interval is 0.12 s
        while deadline and not _signed_heads(engine, audit_signed_heads):
            threading.Event().wait(0.1)
            deadline -= 1
    heads = _signed_heads(engine, audit_signed_heads)
    assert heads, "the server signed no head"
    operator = security.local_operator("NL")
    assert security.verify_audit(engine, operator, key_file=key_file)["ok"]
    assert any(row["actor"] == "server" and row["action"] == "sign_head" for row in _rows(engine))
    engine.dispose()


def _signed_heads(engine, table) -> list:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return list(conn.execute(select(table)).mappings())


def test_a_cut_tail_with_its_signed_heads_is_reported_as_an_overdue_head(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A database owner who cuts the end of the log and the signed heads after the cut leaves a chain that verifies
    (nothing in the database can tell; found by review); where heads are signed on a schedule, the newest remaining
    head is then overdue and verify says so (``warning``), pointing to a head kept outside the database."""
    from opencustoms.store.database import init_database

    engine = init_database(f"sqlite:///{tmp_path / 'cut.db'}")
    security.ensure_administration(engine, "NL", "Dutch Customs (test)", "NL")
    operator, key_file = security.local_operator("NL"), _key_file(tmp_path)
    _write(engine, operator, 3)
    security.sign_audit_head(engine, operator, key_file)
    fresh = security.verify_audit(engine, operator, key_file=key_file, sign_interval_minutes=60)
    assert fresh["ok"] and fresh["warning"] is None and fresh["newest_signed_at"]
    cut = _rows(engine)[-1]
    threading.Event().wait(0.05)
    _write(engine, operator, 3)  # entries the attacker wants gone
    security.sign_audit_head(engine, operator, key_file)
    with engine.begin() as conn:
        for (name,) in conn.execute(text("SELECT name FROM sqlite_master WHERE type = 'trigger'")).all():
            conn.execute(text(f'DROP TRIGGER "{name}"'))
        conn.execute(text("DELETE FROM audit_log WHERE id > :i"), {"i": cut["id"]})
        conn.execute(text("DELETE FROM audit_signed_heads WHERE last_id > :i"), {"i": cut["id"]})
        conn.execute(
            text("UPDATE audit_chain_head SET last_id = :i, last_hash = :h, entries = :i"),
            {"i": cut["id"], "h": cut["entry_hash"]},
        )
    # a schedule of 0.01 s: the newest remaining head (signed before the wait above) is now overdue
    result = security.verify_audit(engine, operator, key_file=key_file, sign_interval_minutes=0.01 / 60)
    assert result["ok"] and result["warning"] and "may have been removed" in result["warning"]
    engine.dispose()
