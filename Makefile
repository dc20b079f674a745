# crmflow — the two commands a newcomer needs: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
PYTEST_ARGS ?=
# The suite runs in two processes (pytest-xdist), a test file per process at a time.
TEST_PROCESSES ?= 2

.PHONY: run test lint messages screenshots clean lock audit

run: $(INSTALLED) .env
	$(BIN)/python scripts/run_dev.py

test: $(INSTALLED)
	$(BIN)/python -m pytest -n $(TEST_PROCESSES) --dist loadfile $(PYTEST_ARGS)

# Lint, format and type checks, and no model change without its migration (CI runs
# them before the tests); `ruff format .` fixes the format.
lint: $(INSTALLED)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(TYPECHECK_ENV) $(BIN)/mypy
	$(TYPECHECK_ENV) $(BIN)/python manage.py makemigrations --check --dry-run

# mypy's Django plugin and manage.py load the settings: throwaway values, for checks only.
TYPECHECK_ENV := CRMFLOW_ENV_FILE= SECRET_KEY=typecheck-only-not-a-secret-0123456789abcdefghijklmnop \
	FIELD_ENCRYPTION_KEYS=dHlwZWNoZWNrLW9ubHktbm90LWEtc2VjcmV0LWtleSE=

# The virtualenv is (re)built whenever the lock changes: every package at the version and
# with the hashes of requirements-dev.lock (the production lock, requirements.lock, plus
# the test and lint tools at the same versions), then crmflow itself without resolving.
$(INSTALLED): pyproject.toml requirements.lock requirements-dev.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --require-hashes \
		-r requirements-dev.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $@

# Re-resolve the lock files from pyproject.toml's ranges (after changing a dependency, or
# to take upgrades): the production lock first, then the dev lock constrained to it.
LOCK_ARGS := --universal --python-version 3.11 --generate-hashes --no-header --quiet
lock: $(INSTALLED)
	$(BIN)/uv pip compile pyproject.toml $(LOCK_ARGS) --upgrade -o requirements.lock
	$(BIN)/uv pip compile pyproject.toml --extra dev $(LOCK_ARGS) --upgrade \
		-c requirements.lock -o requirements-dev.lock

# Known vulnerabilities in the locked production packages (needs the vulnerability
# database online: not run by CI).
audit: $(INSTALLED)
	$(BIN)/pip-audit --require-hashes --disable-pip -r requirements.lock

.env: | $(INSTALLED)
	$(BIN)/python scripts/dev_env.py

# Regenerate translation catalogues (needs GNU gettext); the compiled .mo files are
# committed so that a fresh machine needs no gettext.
messages: $(INSTALLED)
	$(TYPECHECK_ENV) scripts/messages.sh

# The user guide's images (docs/images/, referenced by docs/user-guide.md): the browser
# tests of the seed's steps and use cases screenshot each step there, window-sized.
# Needs Chromium (/usr/bin/chromium); review and commit the images that changed.
SCREENSHOT_TESTS := tests/marketplace/test_marketplace_browser.py \
	tests/builder/test_seed_draft_email_in_browser.py tests/usecases \
	tests/integrations/openai/test_tools_in_browser.py \
	tests/integrations/openai/test_evaluations_in_browser.py
screenshots: $(INSTALLED)
	CRMFLOW_SCREENSHOTS_DIR=$(CURDIR)/docs/images CRMFLOW_REQUIRE_BROWSER=1 \
		$(BIN)/python -m pytest $(SCREENSHOT_TESTS) -m browser $(PYTEST_ARGS)

clean:
	rm -rf var/ .pytest_cache
