"""Re-encrypt every stored app key with the newest FIELD_ENCRYPTION_KEYS key.

Rotation: put a new key first in FIELD_ENCRYPTION_KEYS (keep the old ones after it),
restart, run this command, then remove the old keys.
"""

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from marketplace.encryption import InvalidToken, secret_rotate
from marketplace.models import Connection


class Command(BaseCommand):
    help = "Re-encrypt every stored app API key with the newest FIELD_ENCRYPTION_KEYS key."

    def handle(self, *args, **options) -> None:
        rotated = 0
        unreadable = []
        pks = Connection.objects.exclude(encrypted_secret="").values_list("pk", flat=True)
        for pk in pks.iterator():
            with transaction.atomic():
                connection = Connection.objects.select_for_update().get(pk=pk)
                if not connection.encrypted_secret:
                    continue
                try:
                    connection.encrypted_secret = secret_rotate(connection.encrypted_secret)
                except InvalidToken:
                    unreadable.append(pk)
                    continue
                connection.save(update_fields=["encrypted_secret", "updated_at"])
                rotated += 1
        self.stdout.write(f"Re-encrypted {rotated} key(s) with the newest key.")
        if unreadable:
            raise CommandError(
                f"{len(unreadable)} connection(s) hold a key no configured key can decrypt "
                f"(ids {', '.join(map(str, unreadable))}): add the old key back to "
                "FIELD_ENCRYPTION_KEYS, run again, or reconnect those apps."
            )
