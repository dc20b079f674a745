from crm.models.accounts import Account, Role, User

__all__ = ["Account", "Role", "User"]
