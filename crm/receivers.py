from django.db.models.signals import post_save
from django.dispatch import receiver
from django.utils import timezone

from crm.models import Account, ApiToken, Role, User
from crm.standard_properties import standard_properties_create


@receiver(post_save, sender=Account, dispatch_uid="crm.account_standard_properties")
def account_created(sender, instance: Account, created: bool, **kwargs) -> None:
    if created:
        standard_properties_create(instance)


@receiver(post_save, sender=User, dispatch_uid="crm.user_tokens_revoke")
def user_saved(sender, instance: User, created: bool, **kwargs) -> None:
    """A user who can no longer create API tokens (deactivated, or no longer a super
    admin) loses the tokens they created: they are revoked, not merely refused."""
    if not created and (not instance.is_active or instance.role != Role.SUPER_ADMIN):
        ApiToken.objects.filter(created_by=instance, revoked_at__isnull=True).update(
            revoked_at=timezone.now()
        )
