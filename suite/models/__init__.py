"""The platform's models, one module per aggregate."""

from .tenancy import Company, Membership, Module, OwnedModel, Role, Team, TenantModel

__all__ = ["Company", "Membership", "Module", "OwnedModel", "Role", "Team", "TenantModel"]
from .tokens import ApiToken  # noqa: E402

__all__ += ["ApiToken"]
