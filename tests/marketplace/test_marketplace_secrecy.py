"""The plaintext key never leaves the dialog: not in pages, logs or the database."""

from __future__ import annotations

import logging

from django.db import connection as db
from django.urls import reverse

from marketplace.models import Connection
from marketplace.services import connection_mark_needs_attention
from tests.marketplace.helpers import REVOKED_KEY, SECOND_KEY, VALID_KEY, htmx

KEYS = (VALID_KEY, SECOND_KEY, REVOKED_KEY)


def every_stored_text() -> list[tuple[str, str]]:
    """(table, value) for every non-empty value of every column of every table."""
    found = []
    with db.cursor() as cursor:
        for table in db.introspection.table_names(cursor):
            cursor.execute(f"SELECT * FROM {db.ops.quote_name(table)}")  # noqa: S608
            for row in cursor.fetchall():
                for value in row:
                    if isinstance(value, memoryview):
                        value = bytes(value)
                    if isinstance(value, bytes):
                        value = value.decode("utf-8", "replace")
                    if value:
                        found.append((table, str(value)))
    return found


def assert_no_plaintext_stored() -> None:
    for table, value in every_stored_text():
        for key in KEYS:
            assert key not in value, f"a plaintext key is stored in {table}"


def test_no_plaintext_key_in_pages_logs_or_database_after_a_full_cycle(
    sim, admin_client, caplog, acme
):
    caplog.set_level(logging.DEBUG)
    bodies: list[str] = []

    def visit(response):
        bodies.append(response.content.decode())
        for header, value in response.items():
            bodies.append(f"{header}: {value}")
        return response

    urls = [
        reverse("marketplace:catalog"),
        reverse("marketplace:listing", args=["openai"]),
        reverse("marketplace:connected_apps"),
        reverse("marketplace:app_detail", args=["openai"]),
        reverse("marketplace:app_log", args=["openai"]),
        reverse("marketplace:openai_models"),
        reverse("marketplace:openai_reconnect"),
        reverse("marketplace:app_uninstall", args=["openai"]),
    ]
    connect = reverse("marketplace:openai_connect")
    reconnect = reverse("marketplace:openai_reconnect")

    visit(admin_client.post(connect, {"api_key": REVOKED_KEY}))
    visit(htmx(admin_client).post(connect, {"api_key": REVOKED_KEY}))
    admin_client.defaults.pop("HTTP_HX_REQUEST")
    visit(admin_client.post(connect, {"api_key": VALID_KEY}))
    for url in urls:
        visit(admin_client.get(url))
    visit(admin_client.post(reconnect, {"api_key": REVOKED_KEY}))
    visit(admin_client.post(reconnect, {"api_key": SECOND_KEY}))
    connection = Connection.objects.get(account=acme)
    connection_mark_needs_attention(connection=connection, reason="401 at run time")
    for url in urls:
        visit(admin_client.get(url))
    assert_no_plaintext_stored()  # while a key is stored, only its ciphertext is

    visit(admin_client.post(reverse("marketplace:app_uninstall", args=["openai"]), {"reason": "x"}))
    for url in urls[:5]:
        visit(admin_client.get(url))

    assert len(bodies) > 30
    assert any("sk-…abcd" in body for body in bodies)  # the masked form is what is shown
    for key in KEYS:
        assert not any(key in body for body in bodies)
        assert key not in caplog.text
        assert not any(key in str(record.args) for record in caplog.records)
    assert_no_plaintext_stored()
    assert len(sim.requests()) >= 4  # the keys really went to OpenAI (the simulator)
