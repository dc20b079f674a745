import time

from django.contrib.auth.signals import user_logged_in
from django.db.models.signals import post_save
from django.dispatch import receiver
from django.utils import timezone

from crm.idle import LAST_SEEN
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


@receiver(user_logged_in, dispatch_uid="crm.idle_last_seen")
def signed_in(sender, request, user, **kwargs) -> None:
    """Signing in is activity: the idle timeout starts now, and the first page after
    signing in does not write the session again."""
    if request is not None and hasattr(request, "session"):
        request.session[LAST_SEEN] = int(time.time())
