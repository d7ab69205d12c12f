"""sip registrations, per-device deliveries, voicemail events

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sip_registrations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("node", sa.String(length=64), nullable=False),
        sa.Column("user", sa.String(length=64), nullable=False),
        sa.Column("domain", sa.String(length=255), nullable=False),
        sa.Column("contact", sa.String(length=512), nullable=False),
        sa.Column("profile", sa.String(length=64), nullable=False),
        sa.Column("call_id", sa.String(length=255), nullable=False),
        sa.Column("user_agent", sa.String(length=255), nullable=False),
        sa.Column("network_ip", sa.String(length=64), nullable=False),
        sa.Column("registered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sip_registrations")),
        sa.UniqueConstraint(
            "node", "user", "domain", "contact", name=op.f("uq_sip_registrations_node_user_domain_contact")
        ),
    )
    op.create_index("ix_sip_registrations_address", "sip_registrations", ["user", "domain"], unique=False)
    op.create_table(
        "sip_device_deliveries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.Integer(), nullable=True),
        sa.Column("node", sa.String(length=64), nullable=False),
        sa.Column("contact", sa.String(length=512), nullable=False),
        sa.Column("user_agent", sa.String(length=255), nullable=False),
        sa.Column("part", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("sip_code", sa.Integer(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["job_id"], ["jobs.id"], name=op.f("fk_sip_device_deliveries_job_id_jobs"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["messages.id"],
            name=op.f("fk_sip_device_deliveries_message_id_messages"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sip_device_deliveries")),
        sa.UniqueConstraint(
            "job_id", "node", "contact", "part", name=op.f("uq_sip_device_deliveries_job_id_node_contact_part")
        ),
    )
    op.create_index(
        op.f("ix_sip_device_deliveries_job_id"), "sip_device_deliveries", ["job_id"], unique=False
    )
    op.create_index(
        op.f("ix_sip_device_deliveries_message_id"), "sip_device_deliveries", ["message_id"], unique=False
    )
    op.create_table(
        "voicemail_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("node", sa.String(length=64), nullable=False),
        sa.Column("user", sa.String(length=64), nullable=False),
        sa.Column("domain", sa.String(length=255), nullable=False),
        sa.Column("caller_id_name", sa.String(length=255), nullable=False),
        sa.Column("caller_id_number", sa.String(length=64), nullable=False),
        sa.Column("message_len", sa.Integer(), nullable=False),
        sa.Column("left_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("vm_uuid", sa.String(length=64), nullable=False),
        sa.Column("file_path", sa.Text(), nullable=False),
        sa.Column("handled", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_voicemail_events")),
        sa.UniqueConstraint("vm_uuid", name=op.f("uq_voicemail_events_vm_uuid")),
    )


def downgrade() -> None:
    op.drop_table("voicemail_events")
    op.drop_index(op.f("ix_sip_device_deliveries_message_id"), table_name="sip_device_deliveries")
    op.drop_index(op.f("ix_sip_device_deliveries_job_id"), table_name="sip_device_deliveries")
    op.drop_table("sip_device_deliveries")
    op.drop_index("ix_sip_registrations_address", table_name="sip_registrations")
    op.drop_table("sip_registrations")
