"""Beat runs once, even when started twice (an operator's mistake, or a deploy that
starts the new beat before the old one stopped).

`LockedScheduler` (config/celery.py sets it as beat's scheduler) holds a Redis lock,
`crmflow:beat:lock`, renewed at every tick with a time-to-live of
CRMFLOW_BEAT_LOCK_SECONDS (30 by default). A second beat finds the lock held and stands
by, sending nothing; when the first stops (its lock is deleted) or dies (its lock
expires), the second takes over at its next tick. The holder checks the lock before
every send, so a beat that froze past the lock's life and woke up finds it lost and
stands by too.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from typing import Any

from celery.beat import PersistentScheduler

from workflows.engine.health import redis_client

logger = logging.getLogger(__name__)

LOCK_KEY = "crmflow:beat:lock"

# Renew the lock if it is ours, take it if it is free; 1 if we hold it afterwards.
_HOLD = """
local current = redis.call('GET', KEYS[1])
if current == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if not current then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


def lock_seconds() -> float:
    return float(os.environ.get("CRMFLOW_BEAT_LOCK_SECONDS", "30"))


class LockedScheduler(PersistentScheduler):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._identity = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._holding: bool | None = None
        self._redis = redis_client()
        super().__init__(*args, **kwargs)

    def _hold(self) -> bool:
        try:
            held = bool(
                self._redis.eval(_HOLD, 1, LOCK_KEY, self._identity, int(lock_seconds() * 1000))
            )
        except Exception:
            logger.warning("beat: Redis does not answer; sending nothing", exc_info=True)
            held = False
        if held != self._holding:
            logger.warning(
                "beat: %s",
                "this beat holds the lock and sends the periodic tasks"
                if held
                else "another beat holds the lock (or Redis is down); this one stands by",
            )
            self._holding = held
        return held

    def tick(self, *args: Any, **kwargs: Any) -> float:
        # Check at least three times per lock life, so the lock never lapses while held.
        renew = lock_seconds() / 3
        if not self._hold():
            return renew
        return min(float(super().tick(*args, **kwargs)), renew)

    def close(self) -> None:
        try:
            self._redis.eval(_RELEASE, 1, LOCK_KEY, self._identity)
        except Exception:
            logger.warning("beat: could not release the lock", exc_info=True)
        super().close()
