"""The workflow builder's logic, kept out of the views so it is tested directly:

- canvas.py — the draft graph as the canvas draws it (chains, branch paths, slots for
  "+"), and the edits the canvas makes (add, move, delete, dependents of a step);
- picker.py — what the "Select a data variable" panel offers a field;
- review.py — what stops a workflow from being turned on;
- templates.py — "create from a template" (the templates are registered by integrations).
"""
