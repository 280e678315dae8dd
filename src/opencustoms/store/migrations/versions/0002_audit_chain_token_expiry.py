"""audit log hash chain, REPLACE/TRUNCATE guards, every token expires

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-07

- ``audit_log`` gains ``prev_hash`` and ``entry_hash``; the entries already there are chained in id order
  (opencustoms.security.audit describes the canonical form); ``audit_chain_head`` (one row) holds the chain's end
  and ``audit_signed_heads`` the heads signed with the administration's key.
- SQLite fires no DELETE trigger for ``INSERT OR REPLACE`` / ``REPLACE INTO``: a BEFORE INSERT trigger now refuses
  an id that exists. PostgreSQL: TRUNCATE is refused too. The head and the signed heads get the same guards.
- API tokens without an expiry date (issued with ``valid_days: null``) expire 365 days from this migration.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_REFUSE = "audit_log is append-only: entries cannot be changed or deleted"


def _postgres() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def upgrade() -> None:
    from opencustoms.security.audit import chain_existing

    _drop_0001_guards()
    with op.batch_alter_table("audit_log") as batch_op:
        batch_op.add_column(sa.Column("prev_hash", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("entry_hash", sa.String(length=64), nullable=True))
    op.create_table(
        "audit_chain_head",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("last_id", sa.BigInteger(), nullable=False),
        sa.Column("last_hash", sa.String(length=64), nullable=False),
        sa.Column("entries", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("id = 1", name="ck_audit_chain_head_one_row"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_chain_head")),
    )
    op.create_table(
        "audit_signed_heads",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("administration_code", sa.String(length=8), nullable=False),
        sa.Column("signed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_id", sa.BigInteger(), nullable=False),
        sa.Column("last_hash", sa.String(length=64), nullable=False),
        sa.Column("entries", sa.BigInteger(), nullable=False),
        sa.Column("public_key", sa.LargeBinary(length=32), nullable=False),
        sa.Column("signature", sa.LargeBinary(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_signed_heads")),
    )
    bind = op.get_bind()
    last_id, last_hash, entries = chain_existing(bind)
    bind.execute(
        sa.text("INSERT INTO audit_chain_head (id, last_id, last_hash, entries) VALUES (1, :i, :h, :n)"),
        {"i": last_id, "h": last_hash, "n": entries},
    )
    with op.batch_alter_table("audit_log") as batch_op:
        batch_op.alter_column("prev_hash", existing_type=sa.String(length=64), nullable=False)
        batch_op.alter_column("entry_hash", existing_type=sa.String(length=64), nullable=False)
    _create_guards()
    bind.execute(
        sa.text("UPDATE api_tokens SET expires_at = :at WHERE expires_at IS NULL"),
        {"at": dt.datetime.now(dt.UTC) + dt.timedelta(days=365)},
    )


def _drop_0001_guards() -> None:
    if _postgres():
        op.execute("DROP TRIGGER IF EXISTS audit_log_append_only ON audit_log")
    else:
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_update")
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_delete")


def _create_0001_guards() -> None:
    """audit_log's guards as 0001 created them: no UPDATE, no DELETE."""
    if _postgres():
        op.execute(
            "CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log "
            "FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()"
        )
        return
    for verb in ("UPDATE", "DELETE"):
        op.execute(
            f"CREATE TRIGGER audit_log_no_{verb.lower()} BEFORE {verb} ON audit_log BEGIN "
            f"SELECT RAISE(ABORT, '{_REFUSE}'); END"
        )


def _create_guards() -> None:
    _create_0001_guards()
    if _postgres():
        # audit_log_append_only() (0001) raises whenever it is called
        op.execute(
            "CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log "
            "FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only()"
        )
        op.execute(
            "CREATE FUNCTION audit_chain_guard() RETURNS trigger LANGUAGE plpgsql AS $$ "
            "BEGIN RAISE EXCEPTION 'the audit chain''s head and signed heads cannot be deleted, and signed heads "
            "cannot be changed'; END $$"
        )
        for statement in (
            "CREATE TRIGGER audit_chain_head_no_delete BEFORE DELETE ON audit_chain_head FOR EACH ROW "
            "EXECUTE FUNCTION audit_chain_guard()",
            "CREATE TRIGGER audit_chain_head_no_truncate BEFORE TRUNCATE ON audit_chain_head FOR EACH STATEMENT "
            "EXECUTE FUNCTION audit_chain_guard()",
            "CREATE TRIGGER audit_signed_heads_append_only BEFORE UPDATE OR DELETE ON audit_signed_heads FOR EACH "
            "ROW EXECUTE FUNCTION audit_chain_guard()",
            "CREATE TRIGGER audit_signed_heads_no_truncate BEFORE TRUNCATE ON audit_signed_heads FOR EACH STATEMENT "
            "EXECUTE FUNCTION audit_chain_guard()",
        ):
            op.execute(statement)
        return
    # INSERT OR REPLACE / REPLACE INTO deletes the old row without firing a DELETE trigger: refuse the insert
    op.execute(
        "CREATE TRIGGER audit_log_no_replace BEFORE INSERT ON audit_log "
        "WHEN EXISTS (SELECT 1 FROM audit_log WHERE id = NEW.id) BEGIN "
        f"SELECT RAISE(ABORT, '{_REFUSE}'); END"
    )
    op.execute(
        "CREATE TRIGGER audit_chain_head_no_delete BEFORE DELETE ON audit_chain_head BEGIN "
        "SELECT RAISE(ABORT, 'the audit chain''s head cannot be deleted'); END"
    )
    op.execute(
        "CREATE TRIGGER audit_chain_head_no_replace BEFORE INSERT ON audit_chain_head "
        "WHEN EXISTS (SELECT 1 FROM audit_chain_head WHERE id = NEW.id) BEGIN "
        "SELECT RAISE(ABORT, 'the audit chain''s head cannot be replaced'); END"
    )
    for verb in ("UPDATE", "DELETE"):
        op.execute(
            f"CREATE TRIGGER audit_signed_heads_no_{verb.lower()} BEFORE {verb} ON audit_signed_heads BEGIN "
            "SELECT RAISE(ABORT, 'signed heads of the audit chain cannot be changed or deleted'); END"
        )
    op.execute(
        "CREATE TRIGGER audit_signed_heads_no_replace BEFORE INSERT ON audit_signed_heads "
        "WHEN EXISTS (SELECT 1 FROM audit_signed_heads WHERE id = NEW.id) BEGIN "
        "SELECT RAISE(ABORT, 'signed heads of the audit chain cannot be changed or deleted'); END"
    )


def downgrade() -> None:
    if _postgres():
        for table, trigger in (
            ("audit_log", "audit_log_no_truncate"),
            ("audit_chain_head", "audit_chain_head_no_delete"),
            ("audit_chain_head", "audit_chain_head_no_truncate"),
            ("audit_signed_heads", "audit_signed_heads_append_only"),
            ("audit_signed_heads", "audit_signed_heads_no_truncate"),
        ):
            op.execute(f"DROP TRIGGER IF EXISTS {trigger} ON {table}")
        op.execute("DROP FUNCTION IF EXISTS audit_chain_guard()")
        op.execute("DROP TRIGGER IF EXISTS audit_log_append_only ON audit_log")
    else:
        for trigger in (
            "audit_log_no_update",
            "audit_log_no_delete",
            "audit_log_no_replace",
            "audit_chain_head_no_delete",
            "audit_chain_head_no_replace",
            "audit_signed_heads_no_update",
            "audit_signed_heads_no_delete",
            "audit_signed_heads_no_replace",
        ):
            op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
    op.drop_table("audit_signed_heads")
    op.drop_table("audit_chain_head")
    with op.batch_alter_table("audit_log") as batch_op:
        batch_op.drop_column("entry_hash")
        batch_op.drop_column("prev_hash")
    _create_0001_guards()
