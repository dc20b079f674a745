"""What the engine announces. Receivers run inside the engine's transaction: they must
be quick, idempotent (a replay or a redelivery may announce the same thing again) and
must not raise."""

from django.dispatch import Signal

# Sent in the transaction that marks an execution succeeded or failed, after the
# conditional UPDATE that made the change: `execution` (the ActionExecution, its
# `status` already the new one) and `enrollment_finished` (bool).
execution_finished = Signal()

# Sent once per completion (or failure) transaction, after the `execution_finished`
# of each execution in it: `executions` is a list of (ActionExecution, enrollment
# finished: bool). A batch completes many executions in one transaction; receivers
# that write something per execution should listen to this one and write in bulk.
executions_finished = Signal()
