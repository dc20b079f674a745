"""The models and the migrations agree: a model change always ships with its migration."""

import io

import pytest
from django.core.management import call_command


@pytest.mark.django_db
def test_no_model_change_lacks_a_migration():
    out = io.StringIO()
    try:
        call_command("makemigrations", "--check", "--dry-run", stdout=out, stderr=out)
    except SystemExit:  # makemigrations --check exits 1 when one is missing
        pytest.fail(f"A model change has no migration (run makemigrations):\n{out.getvalue()}")
