"""What the engine announces. Receivers run inside the engine's transaction: they must
be quick, idempotent (a replay or a redelivery may announce the same thing again) and
must not raise."""

from django.dispatch import Signal

# Sent in the transaction that marks an execution succeeded or failed, after the
# conditional UPDATE that made the change: `execution` (the ActionExecution, its
# `status` already the new one) and `enrollment_finished` (bool).
execution_finished = Signal()
