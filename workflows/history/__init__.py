"""The history room: reading the ledger for people (docs/history.md).

- access.py   who sees what: the access helper of each object (workflow, enrollments,
              executions), from the user's account
- events.py   how one ledger row reads: its event, step label, time, run link
- filters.py  the list filters and the record search
- paging.py   keyset pagination
- lists.py    the Action logs and the Enrollment history
- run.py      the run detail: one enrollment's steps
- usage.py    what a step spent (run detail, replay estimate)
- live.py     live per-step counts for the canvas

Read-only except replaying, which goes through the engine's `executions_replay`.
"""
