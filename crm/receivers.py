import time

from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.db.models.signals import post_save, pre_save
from django.dispatch import receiver
from django.utils import timezone

from crm.audit import AuditAction, audit_record
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


# --- Audit log: sign-ins and role changes ------------------------------------------


@receiver(user_logged_in, dispatch_uid="crm.audit_sign_in")
def audit_signed_in(sender, request, user, **kwargs) -> None:
    audit_record(action=AuditAction.SIGN_IN, request=request, actor=user, target=str(user))


@receiver(user_login_failed, dispatch_uid="crm.audit_sign_in_failed")
def audit_sign_in_failed(sender, credentials, request=None, **kwargs) -> None:
    """A wrong password (or a refused attempt while locked out): the account is the
    named user's, when that user exists."""
    username = str(credentials.get("username") or "")[:150]
    user = User.objects.filter(username=username).first() if username else None
    locked = request is not None and getattr(request, "axes_locked_out", False)
    audit_record(
        action=AuditAction.SIGN_IN_LOCKED if locked else AuditAction.SIGN_IN_FAILED,
        request=request,
        actor=None,
        account=user.account if user is not None else None,
        target=username,
    )


@receiver(pre_save, sender=User, dispatch_uid="crm.audit_role_changed")
def audit_role_changed(sender, instance: User, raw: bool = False, **kwargs) -> None:
    """A role change, wherever it is made. The Django admin saves in a transaction and
    hands over its request (CrmUserAdmin.save_model), which says who made the change."""
    if raw or instance.pk is None:
        return
    before = User.objects.filter(pk=instance.pk).values_list("role", flat=True).first()
    if before is not None and before != instance.role:
        audit_record(
            action=AuditAction.ROLE_CHANGED,
            request=getattr(instance, "audit_request", None),
            account=instance.account,
            target=str(instance),
            detail={"from": before, "to": instance.role},
        )
