"""The relational schema. Alembic migrations in ``migrations/versions`` create exactly these tables; a test
checks that the two agree."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# SQLite only auto-increments INTEGER PRIMARY KEY columns.
BigId = BigInteger().with_variant(Integer(), "sqlite")
Money = Numeric(18, 2, asdecimal=True)
UtcDateTime = DateTime(timezone=True)

# --- security ------------------------------------------------------------------------------------------------

administrations = Table(
    "administrations",
    metadata,
    Column("code", String(8), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("country_code", String(2), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
)

users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("username", String(64), nullable=False, unique=True),
    Column("full_name", String(200)),
    Column("administration_code", String(8), ForeignKey("administrations.code"), nullable=False),
    Column("roles", JSON, nullable=False),
    Column("active", Boolean, nullable=False, default=True),
    Column("created_at", UtcDateTime, nullable=False),
)

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("user_id", Integer, ForeignKey("users.id"), nullable=False, index=True),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("label", String(100)),
    Column("created_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime),
    Column("revoked_at", UtcDateTime),
)

# A staff member's password (argon2id hash) and the sign-in failures counted towards a lockout (docs/security.md,
# "Password sign-in"). One row per user who has a password; machines keep API tokens only.
user_passwords = Table(
    "user_passwords",
    metadata,
    Column("user_id", Integer, ForeignKey("users.id"), primary_key=True),
    Column("password_hash", String(255), nullable=False),
    Column("changed_at", UtcDateTime, nullable=False),
    Column("failures", Integer, nullable=False, default=0),
    Column("first_failure_at", UtcDateTime),
    Column("locked_until", UtcDateTime),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("at", UtcDateTime, nullable=False),
    Column("actor", String(64), nullable=False),
    Column("action", String(32), nullable=False),
    Column("object_type", String(32), nullable=False),
    Column("object_id", String(128)),
    Column("purpose", String(200)),
    Column("detail", JSON),
    # the hash chain (opencustoms.security.audit): SHA-256 of the previous entry's hash and this entry's canonical form
    Column("prev_hash", String(64), nullable=False),
    Column("entry_hash", String(64), nullable=False),
    Index("ix_audit_log_object", "object_type", "object_id"),
    Index("ix_audit_log_actor_at", "actor", "at"),
)

# The chain's head: one row (id 1), updated in the transaction of every append, which serialises the writers.
audit_chain_head = Table(
    "audit_chain_head",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("last_id", BigInteger, nullable=False),
    Column("last_hash", String(64), nullable=False),
    Column("entries", BigInteger, nullable=False),
    CheckConstraint("id = 1", name="ck_audit_chain_head_one_row"),
)

# Chain heads signed with the administration's Ed25519 key (`opencustoms audit sign`); append-only.
audit_signed_heads = Table(
    "audit_signed_heads",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("administration_code", String(8), nullable=False),
    Column("signed_at", UtcDateTime, nullable=False),
    Column("last_id", BigInteger, nullable=False),
    Column("last_hash", String(64), nullable=False),
    Column("entries", BigInteger, nullable=False),
    Column("public_key", LargeBinary(32), nullable=False),
    Column("signature", LargeBinary(64), nullable=False),
)

# --- reference data ------------------------------------------------------------------------------------------

hs_nomenclature = Table(
    "hs_nomenclature",
    metadata,
    Column("edition", String(8), primary_key=True),
    Column("code", String(6), primary_key=True),
    Column("description", Text, nullable=False),
    Column("parent", String(6)),
    Column("level", Integer, nullable=False),
    Column("section", String(8), nullable=False),
)

# --- declarations --------------------------------------------------------------------------------------------

imports = Table(
    "imports",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("started_at", UtcDateTime, nullable=False),
    Column("finished_at", UtcDateTime),
    Column("actor", String(64), nullable=False),
    Column("source", String(300), nullable=False),
    Column("layout", String(32), nullable=False),
    Column("accepted", Integer, nullable=False, default=0),
    Column("rejected", Integer, nullable=False, default=0),
)

declarations = Table(
    "declarations",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("functional_reference_id", String(64), nullable=False, unique=True),
    Column("type_code", String(8), nullable=False),
    Column("acceptance_date", Date, nullable=False, index=True),
    Column("declaration_office_id", String(17), nullable=False),
    Column("procedure_code", String(7)),
    Column("transport_mode_code", String(1)),
    Column("transport_identification_id", String(35)),
    Column("transport_nationality_code", String(2)),
    Column("vessel_imo", String(7)),
    Column("vessel_mmsi", String(9)),
    Column("loading_location", String(5)),
    Column("unloading_location", String(5)),
    Column("departure_country_code", String(2)),
    Column("itinerary_country_codes", JSON),
    Column("national_extensions", JSON),
    Column("import_id", Integer, ForeignKey("imports.id")),
    Column("created_at", UtcDateTime, nullable=False),
)

declaration_parties = Table(
    "declaration_parties",
    metadata,
    Column("declaration_id", BigId, ForeignKey("declarations.id", ondelete="CASCADE"), primary_key=True),
    Column("role", String(16), primary_key=True),
    Column("party_id", String(64), nullable=False, index=True),
    Column("name", String(512)),
    Column("address_line", String(512)),
    Column("city_name", String(512)),
    Column("postcode_id", String(17)),
    Column("address_country_code", String(2)),
    Column("country_code", String(2)),
    Column("tax_id", String(64)),
    Column("aeo_status", String(16), nullable=False),
    Column("aeo_certificate_id", String(64)),
)

goods_items = Table(
    "goods_items",
    metadata,
    Column("declaration_id", BigId, ForeignKey("declarations.id", ondelete="CASCADE"), primary_key=True),
    Column("sequence_number", Integer, primary_key=True),
    Column("hs_code", String(10), nullable=False, index=True),
    Column("description", String(512)),
    Column("quantity", Float),
    Column("quantity_unit", String(3)),
    Column("net_mass_kg", Float),
    Column("gross_mass_kg", Float),
    Column("customs_value_amount", Money, nullable=False),
    Column("customs_value_currency", String(3), nullable=False),
    Column("origin_country_code", String(2), nullable=False),
    Column("duty_rate", Numeric(9, 4, asdecimal=True)),
    Column("duty_tax_amount", Money),
    Column("duty_regime_code", String(8)),
    Column("preference_code", String(8)),
    Column("preference_agreement", String(512)),
    Column("preference_proving_document_id", String(70)),
)

declaration_containers = Table(
    "declaration_containers",
    metadata,
    Column("declaration_id", BigId, ForeignKey("declarations.id", ondelete="CASCADE"), primary_key=True),
    Column("position", Integer, primary_key=True),
    Column("container_id", String(11), nullable=False, index=True),
)

additional_documents = Table(
    "additional_documents",
    metadata,
    Column("declaration_id", BigId, ForeignKey("declarations.id", ondelete="CASCADE"), primary_key=True),
    Column("position", Integer, primary_key=True),
    Column("type_code", String(8), nullable=False),
    Column("document_id", String(70), nullable=False, index=True),
    Column("issue_date", Date),
    Column("issuer_country_code", String(2)),
)

inspection_results = Table(
    "inspection_results",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("declaration_id", BigId, ForeignKey("declarations.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("recorded_at", UtcDateTime, nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("revenue_recovered", Money),
    Column("recorded_by", String(64), nullable=False),
    Column("source", String(32), nullable=False),
    Column("detail", JSON),
)

# --- signals ---------------------------------------------------------------------------------------------------

signals = Table(
    "signals",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("kind", String(64), nullable=False),
    Column("subject_type", String(32), nullable=False),
    Column("subject_id", String(128), nullable=False),
    Column("severity", String(16), nullable=False),
    Column("source", String(32), nullable=False),
    Column("reason", Text, nullable=False),
    Column("evidence", JSON),
    Column("observed_at", UtcDateTime, nullable=False),
    Column("recorded_at", UtcDateTime, nullable=False),
    Index("ix_signals_subject", "subject_type", "subject_id"),
)
