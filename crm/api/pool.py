"""The customer pool (客户公海) in the API: ``GET /api/v1/crm/pool/`` lists the accounts nobody owns (without their
contact details, as the pool page shows them; ``?search=`` as on accounts), ``POST pool/{id}/claim/`` takes one,
``POST pool/{id}/assign/`` (managers, admins) gives one to ``user``, and ``POST accounts/{id}/release/`` lets an
owned account go (``crm.api.views.AccountViewSet``). Someone quicker, an account in the pool already or one with
an open deal answer 409; the company's limit and the previous owner's wait are 400 with the field named."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework.decorators import action
from rest_framework.response import Response

from crm import selectors
from crm.api import serializers as crm_serializers
from crm.api.views import SEARCH_PARAMETER, CrmViewSetMixin
from crm.models import PoolAccount
from crm.selectors_pool import pool_accounts_visible_to
from crm.services import pool as pool_services
from suite.api.viewsets import TenantReadOnlyViewSet


@extend_schema_view(list=extend_schema(parameters=[SEARCH_PARAMETER]))
class PoolAccountViewSet(CrmViewSetMixin, TenantReadOnlyViewSet):
    """Accounts in the customer pool (nobody owns them), latest in first; every salesperson of the company sees
    them and may claim one, up to the company's limit."""

    queryset = PoolAccount.objects.all()
    output_serializer_class = crm_serializers.PoolAccountSerializer
    search_enabled = True
    policy_actions = {"claim": "claim", "assign": "assign"}

    def select(self, actor):
        return pool_accounts_visible_to(actor)

    def _owned(self, account) -> Response:
        fresh = selectors.accounts_visible_to(self.actor).filter(pk=account.pk).first() or account
        return Response(crm_serializers.AccountSerializer(fresh, context=self.get_serializer_context()).data)

    @extend_schema(request=None, responses=crm_serializers.AccountSerializer)
    @action(detail=True, methods=["post"])
    def claim(self, request, pk=None):
        """Take the account: it is yours (and your team's) from now on."""
        account = pool_services.account_claim(account=self.get_object(), by=request.user)
        return self._owned(account)

    @extend_schema(request=crm_serializers.PoolAssignInput, responses=crm_serializers.AccountSerializer)
    @action(detail=True, methods=["post"])
    def assign(self, request, pk=None):
        """Give the account to ``user`` (an active member of the company, within the company's limit)."""
        account = self.get_object()
        serializer = crm_serializers.PoolAssignInput(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        account = pool_services.account_pool_assign(
            account=account, to_user=serializer.validated_data["user"], by=request.user
        )
        return self._owned(account)
