"""Policy of sales targets (issue #7): admins and managers set them (managers for their teams), sales people
see their own and their team's, finance reads them all."""

from __future__ import annotations

from crm import models as m
from suite.models import Role
from suite.policy import CRUD, ModelPolicy, Scope, register

register(
    ModelPolicy(
        model=m.SalesTarget,
        scopes={
            Role.ADMIN: Scope.COMPANY,
            Role.MANAGER: Scope.TEAM,
            Role.SALES: Scope.TEAM,
            Role.FINANCE: Scope.COMPANY,
        },
        actions={Role.ADMIN: CRUD, Role.MANAGER: CRUD, Role.SALES: {"view"}, Role.FINANCE: {"view"}},
    )
)
