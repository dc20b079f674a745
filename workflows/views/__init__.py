"""The workflow builder's pages: list, builder (canvas and its panels), review."""

from workflows.views.builder import (  # noqa: F401
    action_panel,
    builder,
    criteria_panel,
    step_delete,
    step_move,
    step_panel,
    step_picker,
)
from workflows.views.lists import workflow_create, workflow_from_template, workflow_list  # noqa: F401
from workflows.views.review import review, turn_off  # noqa: F401
