"""The one hook through which the CRM announces changes (workflows subscribe to it).

Every signal here is sent inside the transaction that made the change, so a receiver
that writes (an enrollment, say) commits or rolls back together with the change.
The CRM imports nothing of its subscribers.
"""

from django.dispatch import Signal

# A single record was created or changed.
#   record: crm.models.Record (after the change)
#   created: bool
#   changes: dict[str, tuple[old, new]] — property name → stored values before/after
#   source: "ui" | "api" | "form" | "import" | "workflow" | "demo"
#   actor: the User who made the change, or None
record_changed = Signal()

# Many records were created or updated at once (CSV import, demo data): receivers
# should act set-based, not per record.
#   account, object_type, created_ids: list[int], updated_ids: list[int], source
records_bulk_changed = Signal()

# Records were deleted (soft: restorable for 30 days, crm/deletion.py), or restored.
# Receivers stop what runs for them (workflows unenroll them); an audit log records who.
#   account, object_type, record_ids: list[int], actor: the User, or None
records_deleted = Signal()
records_restored = Signal()

# A form was submitted (sent after record_changed for the contact it created or updated).
#   record: the contact, form: crm Form, submission: crm FormSubmission
form_submitted = Signal()

# `seed_demo` finished loading the CRM's demo data for an account: apps add theirs
# (the OpenAI integration adds its workspace assistants and the use-case workflows).
#   account: crm Account, actor: the demo super admin
demo_seeded = Signal()
