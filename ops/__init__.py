"""Running crmflow in production: the `crmflow` command (cli.py), the shipped gunicorn
configuration (gunicorn.py), health and metrics endpoints (views.py, metrics.py), log
context and formats (logs.py) and beat's single-instance lock (beat.py)."""
