"""Load the demo data `make run` shows a newcomer. Safe to run again: it converges.

The account "Acme" with three users (one per role) and generated contacts and
companies (`crm.demo`); then `crm.signals.demo_seeded` lets the other apps add theirs
(an integration adds its assistants, forms and example workflows, say).
"""

import secrets

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import transaction
from django.db.models import Count

from crm.demo import demo_records_create
from crm.models import Account, ObjectType, PropertyDefinition, Record, Role, User
from crm.signals import demo_seeded

DEMO_USERS = [
    ("admin", "Alex", "Admin", Role.SUPER_ADMIN),
    ("builder", "Blake", "Builder", Role.WORKFLOW_BUILDER),
    ("rep", "Riley", "Rep", Role.SALES_REP),
]

SENSITIVE_IN_DEMO = ("email", "phone")


class Command(BaseCommand):
    help = "Create or refresh the demo account Acme and its users (idempotent)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--password",
            default=None,
            help="Password for the demo users (default: CRMFLOW_DEMO_PASSWORD, else random).",
        )
        parser.add_argument(
            "--contacts",
            type=int,
            default=300,
            help="Make sure Acme has at least this many contacts (default 300).",
        )
        parser.add_argument(
            "--companies",
            type=int,
            default=100,
            help="Make sure Acme has at least this many companies (default 100).",
        )

    def handle(self, *args, password=None, contacts=300, companies=100, **options):
        password = password or settings.DEMO_PASSWORD or secrets.token_urlsafe(9)
        with transaction.atomic():
            account, created = Account.objects.get_or_create(name="Acme")
            for username, first_name, last_name, role in DEMO_USERS:
                user, _ = User.objects.get_or_create(
                    username=username,
                    defaults={"account": account},
                )
                user.account = account
                user.first_name = first_name
                user.last_name = last_name
                user.email = f"{username}@acme.example"
                user.role = role
                user.set_password(password)
                user.save()
        have = dict(
            Record.objects.filter(account=account)
            .values_list("object_type")
            .annotate(n=Count("id"))
            .values_list("object_type", "n")
        )
        demo_records_create(
            account,
            contacts=max(0, contacts - have.get(ObjectType.CONTACT, 0)),
            companies=max(0, companies - have.get(ObjectType.COMPANY, 0)),
        )
        if created:
            # The demo's data controls: contacts' and companies' email and phone stay
            # out of AI prompts (Settings › AI data; an admin may allow them).
            PropertyDefinition.objects.filter(account=account, name__in=SENSITIVE_IN_DEMO).update(
                sensitive=True
            )
        with transaction.atomic():
            demo_seeded.send(
                sender=self.__class__, account=account, actor=User.objects.get(username="admin")
            )
        self.stdout.write(self.style.SUCCESS("Demo account Acme is ready."))
        for username, _first, _last, role in DEMO_USERS:
            self.stdout.write(f"  {username:<8} {Role(role).label:<17} password: {password}")
