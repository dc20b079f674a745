"""Imported by worker processes (`--include`) in the inbox tests: while the file named
by $INGEST_PROBE_HOLD exists, an ingest that creates records stops right there —
inside its transaction, after the records, before the enrollments — and says so by
creating "<that file>.inside". A subscriber to crm's public signal, nothing patched."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from django.dispatch import receiver

from crm.signals import records_bulk_changed


@receiver(records_bulk_changed, dispatch_uid="tests.ingest_probe")
def hold_the_ingest(sender: Any, source: str = "", **kwargs: Any) -> None:
    hold = os.environ.get("INGEST_PROBE_HOLD")
    if source != "webhook" or not hold:
        return
    Path(f"{hold}.inside").touch()
    while Path(hold).exists():
        time.sleep(0.1)
