from django.db.models.signals import post_save
from django.dispatch import receiver

from crm.models import Account
from crm.standard_properties import standard_properties_create


@receiver(post_save, sender=Account, dispatch_uid="crm.account_standard_properties")
def account_created(sender, instance: Account, created: bool, **kwargs) -> None:
    if created:
        standard_properties_create(instance)
