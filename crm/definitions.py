"""Changing property definitions (Settings > Properties)."""

from __future__ import annotations

from django.db import connection, transaction

from crm.models import PropertyDefinition, PropertyValue, Record


@transaction.atomic
def property_definition_delete(*, definition: PropertyDefinition) -> int:
    """Delete a custom property and its values everywhere; return how many records had one.

    Values live in two places (docs/crm-storage.md): the index rows cascade with the
    definition, and the key is removed from each record's JSON in one UPDATE so nothing
    orphaned reappears if a property with the same name is created later.
    """
    if definition.is_standard:
        raise ValueError("Standard properties cannot be deleted.")
    record_ids = PropertyValue.objects.filter(property=definition).values("record_id")
    records = Record.objects.filter(pk__in=record_ids)
    count = records.count()
    if count:
        table = Record._meta.db_table
        ids_sql, ids_params = record_ids.query.sql_with_params()
        if connection.vendor == "postgresql":
            sql = f"UPDATE {table} SET properties = properties - %s WHERE id IN ({ids_sql})"
            params = [definition.name, *ids_params]
        else:
            sql = (
                f"UPDATE {table} SET properties = json_remove(properties, %s) "
                f"WHERE id IN ({ids_sql})"
            )
            params = [f'$."{definition.name}"', *ids_params]
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
    definition.delete()
    return count
