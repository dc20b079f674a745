"""The history room: reading the ledger for people, and replaying failed runs
(docs/history.md). From a URL to its page:

- urls.py     the pages (namespace `history`), each to one view of views.py
- views.py    one view per page; each starts with an access helper
- access.py   who sees what: one helper per object (workflow, enrollments, executions),
              loaded from the user's account
- lists.py    the Action logs and the Enrollment history (one Row for both), built on
              filters.py (the filters and the record search) and paging.py (keyset pages)
- run.py      the run detail: one enrollment's steps
- events.py   how one ledger row reads: its event, step label, time and run link
- usage.py    what a step spent (run detail, replay estimate)
- replay.py   the replay selection, its estimate, and the replay through the engine
- live.py     live per-step counts for the canvas

Read-only except `replay.runs_replay`, which goes through the engine's
`executions_replay`. The System status page (views.system_status) reads
workflows/engine/health.py; the record timeline entries are written by workflows/timeline.py.
"""
