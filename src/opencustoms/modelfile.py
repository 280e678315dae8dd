"""Model files of the pillars that learn (risk, classification): a pickled dict of numpy, scipy and scikit-learn
objects, written with its SHA-256 (which the pillar's model registry keeps) and read back only when that hash still
matches, through an unpickler that admits those libraries' classes and a few plain builtins — nothing that could
run code. One implementation for every pillar, so a loosened check cannot hide in one of them."""

from __future__ import annotations

import hashlib
import io
import pickle
from pathlib import Path
from typing import Any

from opencustoms.errors import OpenCustomsError

_PREFIXES = ("numpy", "scipy.", "sklearn.")
_MODULES = frozenset({"collections", "copyreg", "_codecs"})
_BUILTINS = frozenset({"set", "frozenset", "slice", "dict", "list", "tuple", "bytearray", "complex"})


class _Unpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if module == "builtins":
            if name not in _BUILTINS:
                raise pickle.UnpicklingError(f"forbidden global {module}.{name}")
        elif module not in _MODULES and not module.startswith(_PREFIXES):
            raise pickle.UnpicklingError(f"unexpected class {module}.{name} in a model file")
        return super().find_class(module, name)


def dumps(payload: dict[str, Any]) -> bytes:
    return pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL)


def loads(data: bytes) -> Any:
    """The payload of a model file; raises what unpickling raises (``pickle.UnpicklingError`` for a class that is
    not admitted): the caller says which model file it expected."""
    return _Unpickler(io.BytesIO(data)).load()


def write(path: str | Path, data: bytes) -> str:
    """Write a model file; returns its SHA-256, which the registry checks before every load."""
    Path(path).write_bytes(data)
    return hashlib.sha256(data).hexdigest()


def read_verified(path: str | Path, file_hash: str | None, error: type[OpenCustomsError], remedy: str) -> bytes:
    """The bytes of a registered model file, refused with ``error`` (field ``model``, ``remedy`` appended) when the
    file is missing or no longer has the hash registered for it (altered or replaced)."""
    file = Path(path)
    data = file.read_bytes() if file.exists() else b""
    if not data:
        raise error(f"the model file {file} is missing; {remedy}", field="model")
    if file_hash is not None and hashlib.sha256(data).hexdigest() != file_hash:
        raise error(
            f"the model file {file} does not match the hash registered for it; it was altered or replaced — {remedy}",
            field="model",
        )
    return data


# --- the registry: a pillar's table of model versions (version, path, file_hash, status, promoted_at, ...) --------


def register(conn: Any, table: Any, row: dict[str, Any], actor: Any, object_type: str) -> None:
    """Record a trained version (status ``candidate``) and its audit entry, in the caller's transaction."""
    from sqlalchemy import insert

    from opencustoms.security.service import record

    conn.execute(insert(table).values(**row))
    record(
        conn,
        actor,
        "train",
        object_type,
        row["version"],
        detail={"data_hash": row.get("data_hash"), "rows": row.get("training_rows")},
    )


def promote(conn: Any, table: Any, version: str, actor: Any, object_type: str, missing: OpenCustomsError) -> None:
    """Put ``version`` in service and retire the one that was (in the caller's transaction, audited);
    ``missing`` is raised when the table has no such version."""
    from sqlalchemy import select, update

    from opencustoms.security.service import record, utcnow

    if conn.execute(select(table.c.version).where(table.c.version == version)).first() is None:
        raise missing
    conn.execute(update(table).where(table.c.status == "promoted").values(status="retired"))
    conn.execute(update(table).where(table.c.version == version).values(status="promoted", promoted_at=utcnow()))
    record(conn, actor, "promote", object_type, version)
