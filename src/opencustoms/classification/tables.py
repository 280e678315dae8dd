"""The classification pillar's tables, on the shared metadata. Migration ``classification_0001`` creates them."""

from __future__ import annotations

from sqlalchemy import JSON, Column, Integer, String, Table

from opencustoms.store.tables import UtcDateTime, metadata

# One row per trained HS model version (the file beside the risk models, checked by its SHA-256 before each load);
# status candidate → promoted → retired, as the risk models.
classification_models = Table(
    "classification_models",
    metadata,
    Column("version", String(32), primary_key=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("created_by", String(64), nullable=False),
    Column("path", String(500), nullable=False),
    Column("file_hash", String(64), nullable=False),
    Column("data_hash", String(64), nullable=False),
    Column("training_rows", Integer, nullable=False),
    Column("classes", Integer, nullable=False),
    Column("params", JSON, nullable=False),
    Column("metrics", JSON),
    Column("status", String(16), nullable=False),
    Column("promoted_at", UtcDateTime),
)
