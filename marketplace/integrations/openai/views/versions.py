"""Assistant versions: the builder's "Use the latest version" (workflow builders) and an
assistant's history with diffs, usage per version and Restore (super admins)."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from crm.access import require_account
from marketplace.integrations.openai import version_panel
from marketplace.responses import htmx_redirect
from workflows.access import workflow_for


@require_POST
@require_account
def step_adopt(request: HttpRequest, pk: int, step_id: int) -> HttpResponse:
    """Pin the draft step to its assistant's newest version (republishing adopts it)."""
    workflow = workflow_for(request, pk, edit=True)
    adopted = version_panel.step_adopt(workflow=workflow, step_id=step_id)
    if adopted is None:
        raise Http404
    version, readers = adopted
    if readers:
        messages.warning(
            request,
            _(
                "This step now uses version %(number)s. Fix the steps marked incomplete, "
                "then review and publish."
            )
            % {"number": version.number},
        )
    else:
        messages.success(
            request,
            _("This step now uses version %(number)s. Review and publish to make it live.")
            % {"number": version.number},
        )
    return htmx_redirect(request, reverse("workflows:step", args=[workflow.pk, step_id]))
