"""Realistic, deterministic demo records, generated fast (bulk inserts).

`seed_demo` uses it for the few hundred records a newcomer sees, and
`seed_demo --contacts 100000` for benchmarks.
"""

from __future__ import annotations

import json
import random
from collections.abc import Mapping, Sequence
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from crm import properties as props
from crm import services
from crm.models import Account, ObjectType, PropertyValue, Record, User
from crm.signals import records_bulk_changed

BATCH = 5_000

FIRST = [
    "Jane",
    "John",
    "Maria",
    "Wei",
    "Aisha",
    "Carlos",
    "Emma",
    "Noah",
    "Olivia",
    "Liam",
    "Sofia",
    "Lucas",
    "Chloé",
    "Hugo",
    "Priya",
    "Kenji",
    "Fatima",
    "Mateo",
    "Ava",
    "Ethan",
]
LAST = [
    "Smith",
    "Johnson",
    "Garcia",
    "Chen",
    "Khan",
    "Martin",
    "Dubois",
    "Brown",
    "Rossi",
    "Tanaka",
    "Silva",
    "Nguyen",
    "Müller",
    "Lopez",
    "Wilson",
    "Moreau",
    "Patel",
    "Kim",
]
COMPANIES = [
    "Northwind",
    "Contoso",
    "Globex",
    "Initech",
    "Umbrella",
    "Hooli",
    "Vandelay",
    "Stark",
    "Wayne",
    "Wonka",
    "Soylent",
    "Tyrell",
    "Cyberdyne",
    "Gringotts",
    "Monarch",
]
SUFFIXES = ["Labs", "Systems", "Group", "Partners", "Logistics", "Health", "Foods", "Energy"]
INDUSTRIES = ["Software", "Retail", "Healthcare", "Manufacturing", "Finance", "Education"]
TITLES = [
    "CEO",
    "CTO",
    "VP Sales",
    "Head of Marketing",
    "Operations Manager",
    "Buyer",
    "IT Director",
    "Founder",
    "Procurement Lead",
    "Product Manager",
]
# Written the way people really type them: the "Format record data" use case fixes these.
STATES = [
    "california",
    "New York",
    "tex.",
    "WA",
    "Florida",
    "illinois",
    "Calif.",
    "NY",
    "new jersey",
    "Massachusetts",
    "oregon",
    "Colo.",
    "georgia",
    "TX",
    "Penn",
]
LIFECYCLE = [
    "subscriber",
    "lead",
    "lead",
    "marketingqualifiedlead",
    "salesqualifiedlead",
    "opportunity",
    "customer",
]
LEAD_STATUS = ["new", "open", "in_progress", "attempted_to_contact", "connected"]


def demo_records_create(account: Account, *, contacts: int, companies: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    owners = list(User.objects.filter(account=account).values_list("pk", flat=True))
    start = Record.objects.filter(account=account, object_type=ObjectType.COMPANY).count()
    company_rows = []
    for i in range(start, start + companies):
        base = f"{rng.choice(COMPANIES)} {rng.choice(SUFFIXES)}"
        domain = f"{base.lower().replace(' ', '')}{i}.example"
        company_rows.append(
            {
                "name": base,
                "domain": domain,
                "industry": rng.choice(INDUSTRIES),
                "state": rng.choice(STATES),
                "country": "United States",
                "number_of_employees": str(rng.choice([12, 45, 120, 480, 2300, 15000])),
                "annual_revenue": str(rng.randrange(200, 90000) * 1000),
                **({"owner": rng.choice(owners)} if owners else {}),
            }
        )
    if company_rows:
        records_fast_create(account=account, object_type=ObjectType.COMPANY, rows=company_rows)
    start = Record.objects.filter(account=account, object_type=ObjectType.CONTACT).count()
    contact_rows = []
    for i in range(start, start + contacts):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        company = rng.choice(COMPANIES)
        row: dict[str, Any] = {
            "email": f"{first}.{last}.{i}@{company.lower()}.example".lower(),
            "first_name": first,
            "last_name": last,
            "company_name": company,
            "job_title": rng.choice(TITLES),
            "phone": f"+1 555 {rng.randrange(100, 999)} {rng.randrange(1000, 9999)}",
            "lifecycle_stage": rng.choice(LIFECYCLE),
            "lead_status": rng.choice(LEAD_STATUS),
        }
        if rng.random() < 0.8:
            row["state"] = rng.choice(STATES)
        if owners:
            row["owner"] = rng.choice(owners)
        contact_rows.append(row)
    if contact_rows:
        records_fast_create(account=account, object_type=ObjectType.CONTACT, rows=contact_rows)


@transaction.atomic
def records_fast_create(
    *, account: Account, object_type: str, rows: Sequence[Mapping[str, Any]]
) -> list[int]:
    """`services.records_bulk_create` for already-valid generated rows, without the ORM.

    100k contacts mean ~900k index rows: building a model instance per row costs more
    than the database work, so this writes plain tuples (COPY on PostgreSQL,
    executemany on SQLite) with ids reserved up front. It stores exactly what the
    services would (same derived columns, same `index_columns`) and sends the same
    `records_bulk_changed` signal; tests compare the two.
    """
    definitions = services.definitions_for(account, object_type)
    if connection.vendor == "postgresql":
        # Demo data: not waiting for the WAL flush at commit is safe (a crash just
        # loses the demo rows, and the command converges when run again).
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO OFF")
    ids = _reserve_ids(len(rows))
    now = timezone.now()
    record_rows, value_rows = [], []
    for pk, values in zip(ids, rows, strict=True):
        record = Record(
            account=account,
            object_type=object_type,
            properties={k: v for k, v in values.items() if v is not None},
        )
        services._derived_columns(record)  # noqa: SLF001 — the one definition of these
        record_rows.append(
            (
                pk,
                account.pk,
                object_type,
                record.properties,
                record.name,
                record.email,
                record.owner_id,
                now,
                now,
            )
        )
        for name, value in record.properties.items():
            columns = props.index_columns(definitions[name], value)
            value_rows.append(
                (
                    pk,
                    definitions[name].pk,
                    columns["text_value"],
                    columns["number_value"],
                    columns["datetime_value"],
                )
            )
    record_columns = (
        "id",
        "account_id",
        "object_type",
        "properties",
        "name",
        "email",
        "owner_id",
        "created_at",
        "updated_at",
    )
    value_columns = ("record_id", "property_id", "text_value", "number_value", "datetime_value")
    _insert(Record._meta.db_table, record_columns, record_rows, json_column=3)
    _insert(PropertyValue._meta.db_table, value_columns, value_rows)
    records_bulk_changed.send(
        sender=Record,
        account=account,
        object_type=object_type,
        created_ids=ids,
        updated_ids=[],
        source="demo",
    )
    return ids


def _reserve_ids(count: int) -> list[int]:
    table = Record._meta.db_table
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
                [table, count],
            )
            return [row[0] for row in cursor.fetchall()]
        # SQLite: the IMMEDIATE transaction holds the write lock, so MAX(id) is stable.
        cursor.execute(f"SELECT COALESCE(MAX(id), 0) FROM {table}")
        start = cursor.fetchone()[0] + 1
        return list(range(start, start + count))


def _insert(table: str, columns: tuple[str, ...], rows: list[tuple], json_column: int = -1):
    names = ", ".join(columns)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            from psycopg.types.json import Jsonb

            with cursor.cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
                for row in rows:
                    if json_column >= 0:
                        row = (*row[:json_column], Jsonb(row[json_column]), *row[json_column + 1 :])
                    copy.write_row(row)
            return
        adapt = connection.ops.adapt_datetimefield_value
        placeholders = ", ".join(["%s"] * len(columns))
        sql = f"INSERT INTO {table} ({names}) VALUES ({placeholders})"
        for start in range(0, len(rows), BATCH):
            batch = [
                tuple(
                    json.dumps(v)
                    if i == json_column
                    else adapt(v)
                    if hasattr(v, "tzinfo") and hasattr(v, "hour")
                    else v
                    for i, v in enumerate(row)
                )
                for row in rows[start : start + BATCH]
            ]
            cursor.executemany(sql, batch)
