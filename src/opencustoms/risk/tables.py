"""The risk engine's tables, on the shared metadata. Migration ``risk_0001`` creates the first three; ``risk_0002``
adds ``risk_models.report`` and ``risk_score_counts``; ``risk_0003`` adds ``risk_decisions.rank_score`` and
``risk_assignments``."""

from __future__ import annotations

from sqlalchemy import JSON, BigInteger, Column, Date, Float, Index, Integer, String, Table, Text

from opencustoms.store.tables import BigId, UtcDateTime, metadata

risk_profiles = Table(
    "risk_profiles",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("lane", String(8), nullable=False),
    Column("weight", Float, nullable=False),
    Column("reason", Text, nullable=False),
    Column("criteria", JSON, nullable=False),
    Column("valid_from", Date, nullable=False),
    Column("valid_to", Date),
    Column("created_at", UtcDateTime, nullable=False),
    Column("created_by", String(64), nullable=False),
)

risk_decisions = Table(
    "risk_decisions",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("reference", String(64), nullable=False, index=True),
    Column("decided_at", UtcDateTime, nullable=False),
    Column("lane", String(8), nullable=False),
    Column("score", Float),  # probability of fraud, in [0, 1]
    Column("model_version", String(32)),
    Column("random_draw", Float, nullable=False),
    Column("reasons", JSON, nullable=False),
    Index("ix_risk_decisions_lane_decided_at", "lane", "decided_at"),
    # the raw model score before calibration: orders the queue where probabilities tie (issue #13)
    Column("rank_score", Float),
)

# Which officer a declaration of the queue is assigned to (one row per declaration, the latest assignment; every
# change is in the audit log).
risk_assignments = Table(
    "risk_assignments",
    metadata,
    Column("reference", String(64), primary_key=True),
    Column("officer", String(64), nullable=False, index=True),
    Column("assigned_at", UtcDateTime, nullable=False),
    Column("assigned_by", String(64), nullable=False),
)

risk_models = Table(
    "risk_models",
    metadata,
    Column("version", String(32), primary_key=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("created_by", String(64), nullable=False),
    Column("path", String(500), nullable=False),
    Column("file_hash", String(64), nullable=False),
    Column("data_hash", String(64), nullable=False),
    Column("training_rows", Integer, nullable=False),
    Column("params", JSON, nullable=False),
    Column("metrics", JSON),
    Column("status", String(16), nullable=False),
    Column("promoted_at", UtcDateTime),
    Column("report", JSON),  # risk/report.py: curves against baselines, feature importance, reference scores
)

# The running histogram of the scores a model version gave since its promotion (stored decisions only), in the
# bins of its report: scale "psi" (reference deciles) and "histogram" (20 fixed bins over [0, 1]).
risk_score_counts = Table(
    "risk_score_counts",
    metadata,
    Column("model_version", String(32), primary_key=True),
    Column("scale", String(16), primary_key=True),
    Column("bin", Integer, primary_key=True),
    Column("scored", BigInteger, nullable=False),
)
