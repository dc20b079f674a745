"""What marketplace announces, for apps it must not import (workflows, crm).

Both are sent inside the transaction that changed the connection; receivers that do
slow work should defer it with `transaction.on_commit`.
"""

from django.dispatch import Signal

# sender=Connection, connection=..., actor=User | None, reason=str
connection_uninstalled = Signal()
# sender=Connection, connection=..., reason=str
connection_needs_attention = Signal()
