"""The OpenAI rate limiter's section of the System status page (registered in apps.py)."""

from __future__ import annotations

import logging

from django.template.loader import render_to_string
from django.utils.translation import gettext as _

from marketplace.integrations.openai.limiter.policy import limiter
from workflows.registry import HealthSection

logger = logging.getLogger(__name__)


def limiter_section() -> HealthSection:
    """Per-connection limits and use; "Not available." when Redis cannot be read."""
    try:
        shared = limiter()
        limiters = [shared.state(key) for key in shared.connections()]
    except Exception:  # noqa: BLE001 - the status page renders with Redis down
        logger.warning("could not read the rate limiter", exc_info=True)
        limiters = None
    html = render_to_string("marketplace_openai/status_limiter.html", {"limiters": limiters})
    return HealthSection(_("OpenAI rate limiter"), html)
