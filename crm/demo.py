"""Realistic, deterministic demo records, generated fast (bulk inserts).

`seed_demo` uses it for the few hundred records a newcomer sees, and
`seed_demo --contacts 100000` for benchmarks.
"""

from __future__ import annotations

import random

from crm import services
from crm.models import Account, ObjectType, Record, User

FIRST = ["Jane", "John", "Maria", "Wei", "Aisha", "Carlos", "Emma", "Noah", "Olivia", "Liam",
         "Sofia", "Lucas", "Chloé", "Hugo", "Priya", "Kenji", "Fatima", "Mateo", "Ava", "Ethan"]
LAST = ["Smith", "Johnson", "Garcia", "Chen", "Khan", "Martin", "Dubois", "Brown", "Rossi",
        "Tanaka", "Silva", "Nguyen", "Müller", "Lopez", "Wilson", "Moreau", "Patel", "Kim"]
COMPANIES = ["Northwind", "Contoso", "Globex", "Initech", "Umbrella", "Hooli", "Vandelay",
             "Stark", "Wayne", "Wonka", "Soylent", "Tyrell", "Cyberdyne", "Gringotts", "Monarch"]
SUFFIXES = ["Labs", "Systems", "Group", "Partners", "Logistics", "Health", "Foods", "Energy"]
INDUSTRIES = ["Software", "Retail", "Healthcare", "Manufacturing", "Finance", "Education"]
TITLES = ["CEO", "CTO", "VP Sales", "Head of Marketing", "Operations Manager", "Buyer",
          "IT Director", "Founder", "Procurement Lead", "Product Manager"]
# Written the way people really type them: the "Format record data" use case fixes these.
STATES = ["california", "New York", "tex.", "WA", "Florida", "illinois", "Calif.", "NY",
          "new jersey", "Massachusetts", "oregon", "Colo.", "georgia", "TX", "Penn"]
LIFECYCLE = ["subscriber", "lead", "lead", "marketingqualifiedlead", "salesqualifiedlead",
             "opportunity", "customer"]
LEAD_STATUS = ["new", "open", "in_progress", "attempted_to_contact", "connected"]


def demo_records_create(account: Account, *, contacts: int, companies: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    owners = list(User.objects.filter(account=account).values_list("pk", flat=True))
    start = Record.objects.filter(account=account, object_type=ObjectType.COMPANY).count()
    company_rows = []
    for i in range(start, start + companies):
        base = f"{rng.choice(COMPANIES)} {rng.choice(SUFFIXES)}"
        domain = f"{base.lower().replace(' ', '')}{i}.example"
        company_rows.append({
            "name": base,
            "domain": domain,
            "industry": rng.choice(INDUSTRIES),
            "state": rng.choice(STATES),
            "country": "United States",
            "number_of_employees": str(rng.choice([12, 45, 120, 480, 2300, 15000])),
            "annual_revenue": str(rng.randrange(200, 90000) * 1000),
            **({"owner": rng.choice(owners)} if owners else {}),
        })
    if company_rows:
        services.records_bulk_create(
            account=account, object_type=ObjectType.COMPANY, rows=company_rows,
            source="demo", validated=True,
        )
    start = Record.objects.filter(account=account, object_type=ObjectType.CONTACT).count()
    contact_rows = []
    for i in range(start, start + contacts):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        company = rng.choice(COMPANIES)
        row = {
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
        services.records_bulk_create(
            account=account, object_type=ObjectType.CONTACT, rows=contact_rows,
            source="demo", validated=True,
        )
