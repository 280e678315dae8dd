"""The IoT pillar's tables, on the shared metadata (migration ``iot_0001`` creates exactly these)."""

from __future__ import annotations

from sqlalchemy import JSON, Boolean, Column, Float, Index, Integer, String, Table, Text, UniqueConstraint

from opencustoms.store.tables import BigId, UtcDateTime, metadata

iot_devices = Table(
    "iot_devices",
    metadata,
    Column("device_id", String(64), primary_key=True),
    Column("device_type", String(32), nullable=False, index=True),
    Column("label", String(200)),
    Column("secret_hash", String(64), nullable=False),
    Column("active", Boolean, nullable=False),
    Column("attributes", JSON),
    Column("created_at", UtcDateTime, nullable=False),
    Column("last_seen_at", UtcDateTime),
)

iot_events = Table(
    "iot_events",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("device_id", String(64), nullable=False),
    Column("event_key", String(64), nullable=False),
    Column("schema_version", Integer, nullable=False),
    Column("kind", String(32), nullable=False),
    Column("device_time", UtcDateTime, nullable=False),
    Column("received_at", UtcDateTime, nullable=False),
    Column("latitude", Float),
    Column("longitude", Float),
    Column("speed_kmh", Float),
    Column("subject_id", String(64)),
    Column("payload", JSON, nullable=False),
    UniqueConstraint("device_id", "event_key", name="uq_iot_events_device_key"),
    Index("ix_iot_events_device_time", "device_id", "device_time"),
    Index("ix_iot_events_subject", "subject_id"),
)

iot_quarantine = Table(
    "iot_quarantine",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("received_at", UtcDateTime, nullable=False),
    Column("transport", String(16), nullable=False),
    Column("device_id", String(64)),
    Column("reason_code", String(32), nullable=False, index=True),
    Column("reason", Text, nullable=False),
    Column("payload", Text, nullable=False),
)

iot_zones = Table(
    "iot_zones",
    metadata,
    Column("zone_id", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("zone_type", String(16), nullable=False),
    Column("geometry", JSON, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
)

iot_transits = Table(
    "iot_transits",
    metadata,
    Column("movement_id", String(64), primary_key=True),
    Column("functional_reference_id", String(64), nullable=False, index=True),
    Column("vehicle_id", String(35), nullable=False),
    Column("container_ids", JSON, nullable=False),
    Column("seal_device_ids", JSON, nullable=False),
    Column("tracker_device_ids", JSON, nullable=False),
    Column("corridor", JSON, nullable=False),
    Column("tolerance_m", Float, nullable=False),
    Column("departure_zone_id", String(64), nullable=False),
    Column("destination_zone_id", String(64), nullable=False),
    Column("authorised_zone_ids", JSON, nullable=False),
    Column("departure_time", UtcDateTime, nullable=False),
    Column("time_limit", UtcDateTime, nullable=False),
    Column("rules", JSON, nullable=False),
    Column("status", String(16), nullable=False, index=True),
    Column("arrived_at", UtcDateTime),
    Column("closed_at", UtcDateTime),
    Column("created_at", UtcDateTime, nullable=False),
)

iot_alerts = Table(
    "iot_alerts",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("context_type", String(16), nullable=False),
    Column("context_id", String(64), nullable=False),
    Column("kind", String(48), nullable=False),
    Column("severity", String(16), nullable=False),
    Column("observed_at", UtcDateTime, nullable=False),
    Column("reason", Text, nullable=False),
    Column("evidence", JSON),
    Column("created_at", UtcDateTime, nullable=False),
    Index("ix_iot_alerts_context", "context_type", "context_id"),
)

iot_gate_decisions = Table(
    "iot_gate_decisions",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("gate_id", String(64), nullable=False),
    Column("passage_id", String(64), nullable=False),
    Column("status", String(16), nullable=False, index=True),
    Column("reasons", JSON, nullable=False),
    Column("reads", JSON, nullable=False),
    Column("expected", JSON, nullable=False),
    Column("functional_reference_ids", JSON, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("decided_at", UtcDateTime),
    Column("decided_by", String(64)),
    Column("note", Text),
    UniqueConstraint("gate_id", "passage_id", name="uq_iot_gate_decisions_passage"),
)

# --- scan records (X-ray / CT images; migration iot_0002) ------------------------------------------------------

iot_scans = Table(
    "iot_scans",
    metadata,
    Column("scan_id", String(64), primary_key=True),
    Column("device_id", String(64), nullable=False),
    Column("site", String(64), nullable=False, index=True),
    Column("scan_type", String(24), nullable=False),
    Column("scanned_at", UtcDateTime, nullable=False),
    Column("received_at", UtcDateTime, nullable=False),
    Column("functional_reference_ids", JSON, nullable=False),
    Column("container_ids", JSON, nullable=False),
    Column("vehicle_plate", String(35)),
    Column("energy_kev", Float),
    Column("dose_ugy", Float),
    Column("operator", String(64)),
    Column("attributes", JSON, nullable=False),
    Column("source", String(16), nullable=False),
    Column("origin", JSON),
    Column("status", String(16), nullable=False),
    Column("assigned_to", String(64)),
    Column("assigned_at", UtcDateTime),
    Column("finding", String(16)),
    Column("notes", Text),
    Column("regions", JSON),
    Column("reviewed_by", String(64)),
    Column("reviewed_at", UtcDateTime),
    Column("created_by", String(64), nullable=False),
    Index("ix_iot_scans_queue", "status", "scanned_at"),
)

iot_scan_images = Table(
    "iot_scan_images",
    metadata,
    Column("scan_id", String(64), primary_key=True),
    Column("view", String(32), primary_key=True),
    Column("sha256", String(64), nullable=False, index=True),
    Column("width", Integer, nullable=False),
    Column("height", Integer, nullable=False),
    Column("bit_depth", Integer, nullable=False),
    Column("mode", String(8), nullable=False),
    Column("byte_size", Integer, nullable=False),
    Column("source_format", String(8), nullable=False),
    Column("source_sha256", String(64), nullable=False),
)

# What each scan is linked to (declaration, container, vehicle), for lookups by declaration or container.
iot_scan_links = Table(
    "iot_scan_links",
    metadata,
    Column("scan_id", String(64), primary_key=True),
    Column("link_type", String(16), primary_key=True),
    Column("link_id", String(64), primary_key=True),
    Index("ix_iot_scan_links_target", "link_type", "link_id"),
)
