"""Existing accounts get the contacts' "Unsubscribed from email" standard property
(new accounts get it from crm.standard_properties)."""

from django.db import migrations


def add_property(apps, schema_editor):
    Account = apps.get_model("crm", "Account")
    PropertyDefinition = apps.get_model("crm", "PropertyDefinition")
    have = set(
        PropertyDefinition.objects.filter(
            object_type="contact", name="unsubscribed_from_email"
        ).values_list("account_id", flat=True)
    )
    PropertyDefinition.objects.bulk_create(
        [
            PropertyDefinition(
                account_id=account_id,
                object_type="contact",
                name="unsubscribed_from_email",
                label="Unsubscribed from email",
                type="boolean",
                is_standard=True,
                position=12,
            )
            for account_id in Account.objects.values_list("pk", flat=True)
            if account_id not in have
        ]
    )


class Migration(migrations.Migration):
    dependencies = [("crm", "0003_search_trigram_indexes")]

    operations = [migrations.RunPython(add_property, migrations.RunPython.noop)]
