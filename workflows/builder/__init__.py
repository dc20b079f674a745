"""The builder room: the workflow pages and the logic behind them, kept out of the views
so it is tested directly (docs/builder.md). From a URL to its page:

- urls.py            the pages (namespace `workflows`), each to one view
- list_views.py      Automation > Workflows: the list, create, create from a template
- views.py           the builder page: the canvas, its panels and the data-variable picker
- review_views.py    review and turn on; turn off
- canvas.py          the draft graph as the canvas draws it (chains, branch paths, slots
                     for "+"), and the edits the canvas makes (add, move, delete,
                     dependents of a step)
- canvas_context.py  what the builder page draws: cards, summaries, the trigger card
- actions.py         how action types are presented: panel sections, labels, outputs
- criteria_panel.py  the enrollment criteria panel's form
- picker.py          what the "Select a data variable" panel offers a field
- review.py          what stops a workflow from being turned on
- templates.py       "create from a template" (the templates are registered by integrations)

Every view starts with `workflows.access.workflow_for` and takes a
`workflows.access.BuilderRequest`.
"""
