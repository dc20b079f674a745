#!/usr/bin/env bash
# Extract and compile French translations: one catalogue for the shell (templates/,
# config/) and one per app, so that each app's strings travel with it.
set -euo pipefail
cd "$(dirname "$0")/.."
DJ="$PWD/.venv/bin/django-admin"
export DJANGO_SETTINGS_MODULE=config.settings PYTHONPATH="$PWD"
"$DJ" makemessages -l fr --no-obsolete --ignore '.venv/*' --ignore 'crm/*' --ignore 'marketplace/*' \
  --ignore 'workflows/*' --ignore 'openai_simulator/*' --ignore 'tests/*' --ignore 'benchmarks/*' \
  --ignore 'static_collected/*' --ignore 'var/*'
for app in crm marketplace workflows; do
  (cd "$app" && "$DJ" makemessages -l fr --no-obsolete)
done
"$DJ" compilemessages --ignore '.venv/*'
