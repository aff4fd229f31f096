"""Who may see the order status messages SCRM sends customers (closed loop, flow 3): the company's social team
(admin, manager, marketing, service) reads them; nobody edits them (written by the handlers)."""

from scrm.models import StatusMessage
from suite.models import Role
from suite.policy import ModelPolicy, Scope, register

VIEWERS = (Role.ADMIN, Role.MANAGER, Role.MARKETING, Role.SERVICE)

register(
    ModelPolicy(
        model=StatusMessage,
        scopes=dict.fromkeys(VIEWERS, Scope.COMPANY),
        actions={role: {"view"} for role in VIEWERS},
        owner_field=None,
        team_field=None,
    )
)
