"""Audit records are append-only: on PostgreSQL a trigger refuses UPDATE and DELETE.

SQLite has no such guard here; the application never updates or deletes these rows.
"""

from django.db import migrations

_CREATE = """
CREATE OR REPLACE FUNCTION access_audit_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'access_auditrecord is append-only';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER access_auditrecord_append_only
    BEFORE UPDATE OR DELETE ON access_auditrecord
    FOR EACH ROW EXECUTE FUNCTION access_audit_append_only();
"""
_DROP = """
DROP TRIGGER IF EXISTS access_auditrecord_append_only ON access_auditrecord;
DROP FUNCTION IF EXISTS access_audit_append_only();
"""


def _forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(_CREATE)


def _backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(_DROP)


class Migration(migrations.Migration):
    dependencies = [("access", "0001_initial")]

    operations = [migrations.RunPython(_forwards, _backwards)]
