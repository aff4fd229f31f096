"""The expenses REST API: /api/v1/erp/expenses/.

* ``claims/`` — an employee's claims (own scope; company-wide for managers, finance, administrators), created
  and changed as drafts with their lines; ``…/{id}/receipts/`` (multipart ``file``: an image or PDF, size
  limited — anything else is a 400 on ``file`` and nothing is stored), ``…/{id}/submit/``, ``…/{id}/approve/``,
  ``…/{id}/reject/`` (with ``reason``), ``…/{id}/post/``, ``…/{id}/pay/``, ``…/{id}/cancel/``; ``claims/inbox/``
  is the approval inbox of the caller;
* ``categories/`` (+ ``install-defaults/``) and ``approval-levels/``.

A state the claim is not in → 409 with ``code``; a step of another role → 403.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.routers import SimpleRouter

from erp.models import (
    Account,
    Dimension,
    ExpenseApproval,
    ExpenseApprovalLevel,
    ExpenseCategory,
    ExpenseClaim,
    ExpenseLine,
    ExpenseReceipt,
)
from erp.selectors import expenses as selectors
from erp.services import expenses as services
from suite.api.errors import error_body
from suite.api.pagination import Pagination
from suite.api.serializers import InputSerializer, OutputSerializer, ScopedRelatedField, UserSummarySerializer
from suite.api.viewsets import TenantModelViewSet
from suite.models import Role

MONEY = {"max_digits": 18, "decimal_places": 2}


class ExpenseViewSetMixin:
    def handle_exception(self, exc):
        if isinstance(exc, services.ExpenseConflict):
            return Response(error_body(exc.code, exc.message), status=status.HTTP_409_CONFLICT)
        return super().handle_exception(exc)

    def input(self, serializer_class, request):
        serializer = serializer_class(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data


# ---------------------------------------------------------------- serializers


class ExpenseCategoryOutput(OutputSerializer):
    account_code = serializers.CharField(source="account.code", read_only=True)

    class Meta:
        model = ExpenseCategory
        fields = ["id", "code", "name", "name_en", "account", "account_code", "is_active"]
        read_only_fields = fields


class ExpenseCategoryInput(InputSerializer):
    code = serializers.CharField(max_length=30)
    name = serializers.CharField(max_length=100)
    name_en = serializers.CharField(max_length=100, required=False, allow_blank=True)
    account = ScopedRelatedField(model=Account)


class ExpenseCategoryUpdateInput(InputSerializer):
    name = serializers.CharField(max_length=100, required=False)
    name_en = serializers.CharField(max_length=100, required=False, allow_blank=True)
    account = ScopedRelatedField(model=Account, required=False)
    is_active = serializers.BooleanField(required=False)


class ExpenseApprovalLevelOutput(OutputSerializer):
    class Meta:
        model = ExpenseApprovalLevel
        fields = ["id", "sequence", "name", "approver_role", "applies_above"]
        read_only_fields = fields


class ExpenseApprovalLevelInput(InputSerializer):
    sequence = serializers.IntegerField(min_value=1, max_value=20)
    name = serializers.CharField(max_length=100)
    approver_role = serializers.ChoiceField(choices=Role.choices)
    applies_above = serializers.DecimalField(min_value=0, **MONEY)

    class Meta:
        writable_protected = ("applies_above",)


class ExpenseLineOutput(OutputSerializer):
    category_name = serializers.CharField(source="category.name", read_only=True)
    account_code = serializers.CharField(source="account.code", read_only=True)

    class Meta:
        model = ExpenseLine
        fields = [
            "id",
            "line_no",
            "date",
            "category",
            "category_name",
            "account",
            "account_code",
            "description",
            "amount",
            "tax_amount",
            "cost_centre",
            "project",
        ]
        read_only_fields = fields


class ExpenseReceiptOutput(OutputSerializer):
    class Meta:
        model = ExpenseReceipt
        fields = ["id", "original_name", "mime", "size", "created_at"]
        read_only_fields = fields


class ExpenseApprovalOutput(OutputSerializer):
    approver = UserSummarySerializer(read_only=True)

    class Meta:
        model = ExpenseApproval
        fields = ["id", "sequence", "approver", "decision", "reason", "created_at"]
        read_only_fields = fields


class ExpenseClaimOutput(OutputSerializer):
    employee = UserSummarySerializer(read_only=True)
    lines = ExpenseLineOutput(many=True, read_only=True)
    receipts = ExpenseReceiptOutput(many=True, read_only=True)
    approvals = ExpenseApprovalOutput(many=True, read_only=True)

    class Meta:
        model = ExpenseClaim
        fields = [
            "id",
            "number",
            "employee",
            "title",
            "currency",
            "total_amount",
            "total_tax",
            "state",
            "approval_level",
            "submitted_at",
            "approved_at",
            "rejected_reason",
            "journal_entry",
            "payment_entry",
            "paid_at",
            "created_at",
            "updated_at",
            "lines",
            "receipts",
            "approvals",
        ]
        read_only_fields = fields


class ExpenseLineInput(InputSerializer):
    date = serializers.DateField()
    category = ScopedRelatedField(model=ExpenseCategory)
    amount = serializers.DecimalField(**MONEY, help_text="Paid, VAT included.")
    tax_amount = serializers.DecimalField(required=False, help_text="Deductible input VAT.", **MONEY)
    description = serializers.CharField(max_length=255, required=False, allow_blank=True)
    cost_centre = ScopedRelatedField(model=Dimension, allow_null=True, required=False)
    project = ScopedRelatedField(model=Dimension, allow_null=True, required=False)

    class Meta:
        writable_protected = ("amount", "tax_amount")


class ExpenseClaimInput(InputSerializer):
    title = serializers.CharField(max_length=200)
    lines = ExpenseLineInput(many=True, allow_empty=False, max_length=200)


class ExpenseClaimUpdateInput(InputSerializer):
    title = serializers.CharField(max_length=200, required=False)
    lines = ExpenseLineInput(many=True, allow_empty=False, max_length=200, required=False)


class ReceiptUploadInput(InputSerializer):
    file = serializers.FileField(help_text="An image (PNG, JPEG, GIF, WebP) or a PDF, at most 5 MB.")


class ExpenseRejectInput(InputSerializer):
    reason = serializers.CharField(max_length=500)


class ExpenseApproveInput(InputSerializer):
    reason = serializers.CharField(max_length=500, required=False, allow_blank=True)


class ExpensePostInput(InputSerializer):
    date = serializers.DateField(required=False)


class ExpensePayInput(InputSerializer):
    date = serializers.DateField(required=False)
    cash_account = ScopedRelatedField(model=Account, required=False, help_text="Default 1002 银行存款.")


# ---------------------------------------------------------------- viewsets


class ExpenseClaimViewSet(ExpenseViewSetMixin, TenantModelViewSet):
    """Expense claims (报销单). Drafts are created and changed with their lines; every step of their life is an
    explicit action."""

    queryset = ExpenseClaim.objects.all()
    output_serializer_class = ExpenseClaimOutput
    input_serializer_class = ExpenseClaimInput
    update_input_serializer_class = ExpenseClaimUpdateInput
    pagination_class = Pagination
    parser_classes = [JSONParser, MultiPartParser, FormParser]
    filterset_fields = ("state", "employee")
    search_fields = ("number", "title")
    ordering_fields = ("created_at", "submitted_at", "total_amount")
    ordering = ("-created_at", "-id")
    policy_actions = {
        "receipts": "change",
        "submit": "submit",
        "approve": "approve",
        "reject": "approve",
        "post": "post",
        "pay": "pay",
        "cancel": "cancel",
        "inbox": "view",
    }

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return ExpenseClaim.objects.none()
        return selectors.expense_claims_visible_to(self.actor)

    def create_object(self, *, actor, data):
        return services.expense_claim_create(
            company=actor.company, employee=actor.user, title=data["title"], lines=data["lines"], by=actor.user
        )

    def update_object(self, *, actor, instance, data):
        return services.expense_claim_update(claim=instance, by=actor.user, **data)

    def delete_object(self, *, actor, instance):
        services.expense_claim_cancel(claim=instance, by=actor.user)

    @extend_schema(responses={200: ExpenseClaimOutput(many=True)})
    @action(detail=False, methods=["get"])
    def inbox(self, request):
        """Claims waiting for the caller: steps of their role to approve; for finance, claims to post or pay."""
        queryset = selectors.expense_claims_awaiting(self.actor)
        page = self.paginate_queryset(queryset)
        data = ExpenseClaimOutput(page, many=True, context=self.get_serializer_context()).data
        return self.get_paginated_response(data)

    @extend_schema(request={"multipart/form-data": ReceiptUploadInput}, responses={201: ExpenseReceiptOutput})
    @action(detail=True, methods=["post"])
    def receipts(self, request, pk=None):
        """Attach a receipt (the employee, while the claim is a draft or rejected)."""
        claim = self.get_object()
        data = self.input(ReceiptUploadInput, request)
        receipt = services.expense_receipt_add(claim=claim, upload=data["file"], by=request.user)
        return Response(ExpenseReceiptOutput(receipt).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={200: ExpenseClaimOutput})
    @action(detail=True, methods=["post"])
    def submit(self, request, pk=None):
        """Send the claim for approval (needs a line and a receipt)."""
        return Response(self.output(services.expense_claim_submit(claim=self.get_object(), by=request.user)))

    @extend_schema(request=ExpenseApproveInput, responses={200: ExpenseClaimOutput})
    @action(detail=True, methods=["post"])
    def approve(self, request, pk=None):
        """Approve the step the claim waits at (the step's role or an administrator; never one's own claim)."""
        claim = self.get_object()
        data = self.input(ExpenseApproveInput, request)
        return Response(self.output(services.expense_claim_approve(claim=claim, by=request.user, **data)))

    @extend_schema(request=ExpenseRejectInput, responses={200: ExpenseClaimOutput})
    @action(detail=True, methods=["post"])
    def reject(self, request, pk=None):
        """Reject the claim with a reason; the employee may change and resubmit it."""
        claim = self.get_object()
        data = self.input(ExpenseRejectInput, request)
        return Response(self.output(services.expense_claim_reject(claim=claim, by=request.user, **data)))

    @extend_schema(request=ExpensePostInput, responses={200: ExpenseClaimOutput})
    @action(detail=True, methods=["post"])
    def post(self, request, pk=None):
        """Post the approved claim: expenses and input VAT against 2241 其他应付款."""
        claim = self.get_object()
        data = self.input(ExpensePostInput, request)
        return Response(self.output(services.expense_claim_post(claim=claim, by=request.user, **data)))

    @extend_schema(request=ExpensePayInput, responses={200: ExpenseClaimOutput})
    @action(detail=True, methods=["post"])
    def pay(self, request, pk=None):
        """Record the reimbursement: 2241 其他应付款 against the bank (1002 by default)."""
        claim = self.get_object()
        data = self.input(ExpensePayInput, request)
        return Response(self.output(services.expense_claim_pay(claim=claim, by=request.user, **data)))

    @extend_schema(request=None, responses={200: ExpenseClaimOutput})
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        """Withdraw a claim that is not approved yet."""
        return Response(self.output(services.expense_claim_cancel(claim=self.get_object(), by=request.user)))


class ExpenseCategoryViewSet(ExpenseViewSetMixin, TenantModelViewSet):
    """What expenses are for and the expense account each posts to."""

    queryset = ExpenseCategory.objects.select_related("account")
    output_serializer_class = ExpenseCategoryOutput
    input_serializer_class = ExpenseCategoryInput
    update_input_serializer_class = ExpenseCategoryUpdateInput
    pagination_class = Pagination
    filterset_fields = ("is_active",)
    search_fields = ("code", "name", "name_en")
    ordering = ("code",)
    policy_actions = {"install_defaults": "install"}

    def create_object(self, *, actor, data):
        return services.expense_category_create(company=actor.company, by=actor.user, **data)

    def update_object(self, *, actor, instance, data):
        return services.expense_category_update(category=instance, by=actor.user, **data)

    def delete_object(self, *, actor, instance):
        services.expense_category_update(category=instance, by=actor.user, is_active=False)

    @extend_schema(request=None, responses={200: ExpenseCategoryOutput(many=True)})
    @action(detail=False, methods=["post"], url_path="install-defaults")
    def install_defaults(self, request):
        """Create the default categories (差旅费, 交通费, 业务招待费 …) the company lacks."""
        services.expense_categories_install_defaults(company=self.actor.company, by=request.user)
        data = ExpenseCategoryOutput(self.get_queryset(), many=True, context=self.get_serializer_context()).data
        return Response(data)


class ExpenseApprovalLevelViewSet(ExpenseViewSetMixin, TenantModelViewSet):
    """The approval chain by amount: step ``sequence`` needs ``approver_role`` when a claim's total is above
    ``applies_above``. Creating a step with an existing sequence replaces it."""

    queryset = ExpenseApprovalLevel.objects.all()
    output_serializer_class = ExpenseApprovalLevelOutput
    input_serializer_class = ExpenseApprovalLevelInput
    ordering = ("sequence",)

    def create_object(self, *, actor, data):
        return services.expense_approval_level_set(company=actor.company, by=actor.user, **data)

    def update_object(self, *, actor, instance, data):
        current = {
            "name": instance.name,
            "approver_role": instance.approver_role,
            "applies_above": instance.applies_above,
        }
        data = {**current, **data, "sequence": instance.sequence}  # a step keeps its number
        return services.expense_approval_level_set(company=actor.company, by=actor.user, **data)

    def delete_object(self, *, actor, instance):
        services.expense_approval_level_delete(level=instance, by=actor.user)


router = SimpleRouter()
router.register("claims", ExpenseClaimViewSet, basename="erp-expense-claim")
router.register("categories", ExpenseCategoryViewSet, basename="erp-expense-category")
router.register("approval-levels", ExpenseApprovalLevelViewSet, basename="erp-expense-approval-level")

urlpatterns = [*router.urls]
