"""Receivables, payables and bank REST API, included at /api/v1/erp/.

* ``partners/``, ``payment-terms/``, ``taxes/`` (+ ``install-defaults/``);
* ``invoices/``: drafts are created and changed (``lines`` replaces all lines); ``POST …/{id}/post/`` posts,
  ``…/cancel/`` cancels a draft, ``…/credit-note/`` issues a credit note, ``…/register-payment/`` records a
  payment allocated to this invoice — never field edits (``state``, ``number`` and amounts are not inputs);
* ``payments/`` (+ ``…/{id}/allocate/``, ``…/{id}/unallocate/``);
* ``reports/aged-balances/?side=receivable|payable&as_of=…``, ``credit-check/``;
* ``bank-accounts/``, ``bank-statements/`` (+ ``import/``, multipart CSV), ``reconciliation/`` (statement lines,
  + ``…/{id}/suggestions/``, ``…/{id}/reconcile/``, ``…/{id}/create-payment/``, ``…/{id}/unreconcile/``).

Errors: bad input → 400 with field errors (``lines.0.quantity``, ``amount``); a state conflict (posting a
cancelled invoice, cancelling a posted one) → 409; nothing is written in either case.
"""

from __future__ import annotations

from django.urls import path
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.routers import SimpleRouter
from rest_framework.views import APIView

from erp.api.finance import FinanceViewSetMixin
from erp.models import (
    Account,
    BankAccount,
    BankStatement,
    BankStatementLine,
    FapiaoType,
    Invoice,
    InvoiceLine,
    Journal,
    Partner,
    PartnerType,
    Payment,
    PaymentTerm,
    PaymentType,
    Product,
    Tax,
    TaxKind,
    TaxUse,
    UnitOfMeasure,
)
from erp.selectors import bank as bank_selectors
from erp.selectors import receivables as selectors
from erp.services import bank as bank_services
from erp.services import invoicing as services
from erp.services import partners as partner_services
from erp.services.bank import PRESETS
from suite.api.permissions import PolicyPermission, request_actor
from suite.api.serializers import InputSerializer, OutputSerializer, ScopedRelatedField
from suite.api.viewsets import ExportMixin, TenantModelViewSet, TenantReadOnlyViewSet

MONEY = {"max_digits": 18, "decimal_places": 2}

# ---------------------------------------------------------------- partners, terms, taxes


class PaymentTermOutput(OutputSerializer):
    class Meta:
        model = PaymentTerm
        fields = ["id", "name", "name_en", "days", "end_of_month", "is_active"]
        read_only_fields = fields


class PaymentTermLineInput(InputSerializer):
    percent = serializers.DecimalField(max_digits=5, decimal_places=2)
    days = serializers.IntegerField(min_value=0, max_value=3650)


class PaymentTermInput(InputSerializer):
    name = serializers.CharField(max_length=100)
    name_en = serializers.CharField(max_length=100, required=False, allow_blank=True)
    days = serializers.IntegerField(min_value=0, max_value=3650, default=0)
    end_of_month = serializers.BooleanField(default=False)
    lines = PaymentTermLineInput(many=True, required=False)


class PartnerOutput(OutputSerializer):
    class Meta:
        model = Partner
        fields = [
            "id",
            "name",
            "name_en",
            "is_customer",
            "is_supplier",
            "crm_account_id",
            "tax_id",
            "customer_group",
            "currency",
            "payment_term",
            "credit_limit",
            "email",
            "phone",
            "address",
            "bank_account_number",
            "is_active",
            "merged_into",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class PartnerInput(InputSerializer):
    name = serializers.CharField(max_length=200)
    name_en = serializers.CharField(max_length=200, required=False, allow_blank=True)
    is_customer = serializers.BooleanField(required=False)
    is_supplier = serializers.BooleanField(required=False)
    crm_account_id = serializers.IntegerField(required=False, allow_null=True)
    tax_id = serializers.CharField(max_length=30, required=False, allow_blank=True)
    customer_group = serializers.SlugField(max_length=50, required=False, allow_blank=True)
    currency = serializers.CharField(max_length=3, required=False, allow_blank=True)
    payment_term = ScopedRelatedField(model=PaymentTerm, required=False, allow_null=True)
    credit_limit = serializers.DecimalField(required=False, allow_null=True, min_value=0, **MONEY)
    email = serializers.EmailField(required=False, allow_blank=True)
    phone = serializers.CharField(max_length=50, required=False, allow_blank=True)
    address = serializers.CharField(required=False, allow_blank=True)
    bank_account_number = serializers.CharField(max_length=50, required=False, allow_blank=True)
    is_active = serializers.BooleanField(required=False)


class PartnerUpdateInput(PartnerInput):
    name = serializers.CharField(max_length=200, required=False)


class TaxOutput(OutputSerializer):
    class Meta:
        model = Tax
        fields = ["id", "name", "use", "kind", "rate", "price_include", "account", "is_active"]
        read_only_fields = fields


class TaxInput(InputSerializer):
    name = serializers.CharField(max_length=100)
    use = serializers.ChoiceField(choices=TaxUse.choices, default=TaxUse.SALE)
    kind = serializers.ChoiceField(choices=TaxKind.choices, default=TaxKind.VAT)
    rate = serializers.DecimalField(max_digits=7, decimal_places=4, min_value=0)
    price_include = serializers.BooleanField(default=False)
    account = ScopedRelatedField(model=Account, required=False, allow_null=True)


class TaxUpdateInput(InputSerializer):
    name = serializers.CharField(max_length=100, required=False)
    account = ScopedRelatedField(model=Account, required=False, allow_null=True)
    is_active = serializers.BooleanField(required=False)


class CreatedOutput(serializers.Serializer):
    created = serializers.IntegerField()


class PartnerViewSet(FinanceViewSetMixin, TenantReadOnlyViewSet):
    """Customers and suppliers (往来单位). ``crm_account_id`` links a partner to the CRM account it mirrors
    (unique per company)."""

    queryset = Partner.objects.all()
    output_serializer_class = PartnerOutput
    input_serializer_class = PartnerInput
    update_input_serializer_class = PartnerUpdateInput
    filterset_fields = ("is_customer", "is_supplier", "is_active", "crm_account_id", "customer_group")
    search_fields = ("name", "name_en", "tax_id")
    ordering_fields = ("name", "created_at")
    ordering = ("name",)
    create = TenantModelViewSet.create
    update = TenantModelViewSet.update
    partial_update = TenantModelViewSet.partial_update

    def create_object(self, *, actor, data):
        return partner_services.partner_create(company=actor.company, by=actor.user, **data)

    def update_object(self, *, actor, instance, data):
        return partner_services.partner_update(partner=instance, by=actor.user, **data)


class PaymentTermViewSet(FinanceViewSetMixin, TenantReadOnlyViewSet):
    """Payment terms: days after the invoice date (from the month end if asked) or instalments."""

    queryset = PaymentTerm.objects.all()
    output_serializer_class = PaymentTermOutput
    input_serializer_class = PaymentTermInput
    ordering_fields = ("days", "name")
    ordering = ("days", "name")

    create = TenantModelViewSet.create

    def create_object(self, *, actor, data):
        return partner_services.payment_term_create(company=actor.company, by=actor.user, **data)


class TaxViewSet(FinanceViewSetMixin, TenantReadOnlyViewSet):
    """VAT rates (13 / 9 / 6 / 3 %, zero-rated, exempt), price-inclusive or not, for sales or purchases."""

    queryset = Tax.objects.select_related("account")
    output_serializer_class = TaxOutput
    input_serializer_class = TaxInput
    update_input_serializer_class = TaxUpdateInput
    filterset_fields = ("use", "kind", "is_active", "price_include")
    ordering_fields = ("name", "rate")
    ordering = ("use", "-rate", "name")
    policy_actions = {"install_defaults": "install"}

    create = TenantModelViewSet.create
    update = TenantModelViewSet.update
    partial_update = TenantModelViewSet.partial_update

    def create_object(self, *, actor, data):
        return services.tax_create(company=actor.company, by=actor.user, **data)

    def update_object(self, *, actor, instance, data):
        return services.tax_update(tax=instance, by=actor.user, **data)

    @extend_schema(request=None, responses={200: CreatedOutput})
    @action(detail=False, methods=["post"], url_path="install-defaults")
    def install_defaults(self, request):
        """Create the usual VAT rates the company lacks."""
        return Response({"created": services.taxes_install_defaults(company=self.actor.company, by=request.user)})


# ---------------------------------------------------------------- invoices


class InvoiceLineOutput(OutputSerializer):
    tax_name = serializers.CharField(source="tax.name", read_only=True, default=None)
    account_code = serializers.CharField(source="account.code", read_only=True, default=None)

    class Meta:
        model = InvoiceLine
        fields = [
            "id",
            "sequence",
            "product",
            "description",
            "quantity",
            "uom",
            "unit_price",
            "discount",
            "tax",
            "tax_name",
            "account",
            "account_code",
            "subtotal",
            "tax_amount",
            "total",
        ]
        read_only_fields = fields


class InvoiceOutput(OutputSerializer):
    partner_name = serializers.CharField(source="partner.name", read_only=True)

    class Meta:
        model = Invoice
        fields = [
            "id",
            "kind",
            "number",
            "partner",
            "partner_name",
            "invoice_date",
            "due_date",
            "payment_term",
            "currency",
            "exchange_rate",
            "state",
            "payment_state",
            "fapiao_type",
            "fapiao_number",
            "origin",
            "reference",
            "narration",
            "refund_of",
            "amount_untaxed",
            "amount_tax",
            "amount_total",
            "amount_residual",
            "journal_entry",
            "posted_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class InvoiceDetailOutput(InvoiceOutput):
    lines = InvoiceLineOutput(many=True, read_only=True)

    class Meta(InvoiceOutput.Meta):
        fields = [*InvoiceOutput.Meta.fields, "lines"]
        read_only_fields = fields


class InvoiceLineInput(InputSerializer):
    product = ScopedRelatedField(model=Product, required=False, allow_null=True)
    description = serializers.CharField(max_length=255, required=False, allow_blank=True)
    quantity = serializers.DecimalField(max_digits=18, decimal_places=4)
    uom = ScopedRelatedField(model=UnitOfMeasure, required=False, allow_null=True)
    unit_price = serializers.DecimalField(max_digits=18, decimal_places=4)
    discount = serializers.DecimalField(max_digits=5, decimal_places=2, required=False)
    tax = ScopedRelatedField(model=Tax, required=False, allow_null=True)
    account = ScopedRelatedField(model=Account, required=False, allow_null=True)


class InvoiceHeaderInput(InputSerializer):
    invoice_date = serializers.DateField(required=False)
    due_date = serializers.DateField(required=False, allow_null=True)
    payment_term = ScopedRelatedField(model=PaymentTerm, required=False, allow_null=True)
    currency = serializers.CharField(max_length=3, required=False)
    exchange_rate = serializers.DecimalField(max_digits=18, decimal_places=6, required=False)
    fapiao_type = serializers.ChoiceField(choices=FapiaoType.choices, required=False, allow_blank=True)
    fapiao_number = serializers.CharField(max_length=30, required=False, allow_blank=True)
    origin = serializers.CharField(max_length=100, required=False, allow_blank=True)
    reference = serializers.CharField(max_length=100, required=False, allow_blank=True)
    narration = serializers.CharField(required=False, allow_blank=True)


class InvoiceInput(InvoiceHeaderInput):
    kind = serializers.ChoiceField(choices=[("out_invoice", _("Customer invoice")), ("in_invoice", _("Vendor bill"))])
    partner = ScopedRelatedField(model=Partner)
    lines = InvoiceLineInput(many=True, allow_empty=False, max_length=500)


class InvoiceUpdateInput(InvoiceHeaderInput):
    lines = InvoiceLineInput(many=True, allow_empty=False, max_length=500, required=False)


class CreditNoteInput(InputSerializer):
    invoice_date = serializers.DateField(required=False)
    reason = serializers.CharField(max_length=500, required=False, allow_blank=True)
    lines = InvoiceLineInput(many=True, required=False, help_text=_("Omit for a full reversal."))
    post = serializers.BooleanField(default=False)


class RegisterPaymentInput(InputSerializer):
    journal = ScopedRelatedField(model=Journal)
    amount = serializers.DecimalField(required=False, **MONEY, help_text=_("What is open by default."))
    date = serializers.DateField(required=False)
    exchange_rate = serializers.DecimalField(max_digits=18, decimal_places=6, required=False)
    reference = serializers.CharField(max_length=100, required=False, allow_blank=True)

    class Meta:
        writable_protected = ("amount",)


INVOICE_FILTERS = {
    "kind": ["exact"],
    "state": ["exact"],
    "payment_state": ["exact"],
    "partner": ["exact"],
    "invoice_date": ["gte", "lte"],
    "due_date": ["gte", "lte"],
}


class AllocationOutput(serializers.Serializer):
    id = serializers.IntegerField()
    invoice = serializers.IntegerField(source="invoice_id")
    amount = serializers.DecimalField(**MONEY)


class PaymentOutput(OutputSerializer):
    partner_name = serializers.CharField(source="partner.name", read_only=True)
    allocations = AllocationOutput(many=True, read_only=True)

    class Meta:
        model = Payment
        fields = [
            "id",
            "number",
            "payment_type",
            "partner_type",
            "partner",
            "partner_name",
            "journal",
            "date",
            "amount",
            "amount_unallocated",
            "currency",
            "exchange_rate",
            "reference",
            "memo",
            "state",
            "journal_entry",
            "allocations",
            "created_at",
        ]
        read_only_fields = fields


class InvoiceViewSet(FinanceViewSetMixin, ExportMixin, TenantReadOnlyViewSet):
    """Customer invoices, vendor bills and their credit notes. Posting, cancelling, crediting and paying are
    explicit actions; posted invoices cannot be edited (409)."""

    queryset = Invoice.objects.select_related("partner")
    output_serializer_class = InvoiceOutput
    input_serializer_class = InvoiceInput
    update_input_serializer_class = InvoiceUpdateInput
    filterset_fields = INVOICE_FILTERS
    search_fields = ("number", "fapiao_number", "origin", "partner__name")
    ordering_fields = ("invoice_date", "due_date", "number", "amount_total")
    ordering = ("-invoice_date", "-id")
    policy_actions = {
        "post": "post",
        "cancel": "cancel",
        "credit_note": "refund",
        "register_payment": "pay",
    }
    export_fields = (
        "number",
        "kind",
        ("partner__name", _("partner")),
        "invoice_date",
        "due_date",
        "currency",
        "amount_untaxed",
        "amount_tax",
        "amount_total",
        "amount_residual",
        "state",
        "payment_state",
        "fapiao_type",
        "fapiao_number",
    )
    export_filename = "invoices"

    create = TenantModelViewSet.create
    update = TenantModelViewSet.update
    partial_update = TenantModelViewSet.partial_update

    def get_queryset(self):
        queryset = super().get_queryset()
        if self.action == "retrieve":
            queryset = queryset.prefetch_related("lines__tax", "lines__account")
        return queryset

    def get_serializer_class(self):
        if self.action == "retrieve":
            return InvoiceDetailOutput
        return super().get_serializer_class()

    def output(self, instance) -> dict:
        fresh = Invoice.objects.select_related("partner").prefetch_related("lines__tax", "lines__account")
        return InvoiceDetailOutput(fresh.get(pk=instance.pk), context=self.get_serializer_context()).data

    def create_object(self, *, actor, data):
        return services.invoice_create(company=actor.company, by=actor.user, **data)

    def update_object(self, *, actor, instance, data):
        return services.invoice_update(invoice=instance, by=actor.user, **data)

    @extend_schema(request=None, responses={200: InvoiceDetailOutput})
    @action(detail=True, methods=["post"])
    def post(self, request, pk=None):
        """Post the draft: number, balanced journal entry, open residual (idempotent)."""
        return Response(self.output(services.invoice_post(invoice=self.get_object(), by=request.user)))

    @extend_schema(request=None, responses={200: InvoiceDetailOutput})
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        """Cancel a draft (a posted invoice is corrected by a credit note: 409)."""
        return Response(self.output(services.invoice_cancel(invoice=self.get_object(), by=request.user)))

    @extend_schema(request=CreditNoteInput, responses={201: InvoiceDetailOutput})
    @action(detail=True, methods=["post"], url_path="credit-note")
    def credit_note(self, request, pk=None):
        """Issue a credit note: all lines (full reversal) or the given lines (partial)."""
        invoice = self.get_object()
        data = self.input(CreditNoteInput, request)
        credit_note = services.credit_note_create(invoice=invoice, by=request.user, **data)
        return Response(self.output(credit_note), status=status.HTTP_201_CREATED)

    @extend_schema(request=RegisterPaymentInput, responses={201: PaymentOutput})
    @action(detail=True, methods=["post"], url_path="register-payment")
    def register_payment(self, request, pk=None):
        """Record a payment of this invoice (what is open, or ``amount``) on a bank or cash journal."""
        invoice = self.get_object()
        data = self.input(RegisterPaymentInput, request)
        amount = data.get("amount") or invoice.amount_residual
        payment = services.payment_create(
            company=self.actor.company,
            payment_type=PaymentType.INBOUND if invoice.kind in ("out_invoice", "in_refund") else PaymentType.OUTBOUND,
            partner_type=PartnerType.CUSTOMER if invoice.is_customer_document else PartnerType.SUPPLIER,
            partner=invoice.partner,
            amount=amount,
            journal=data["journal"],
            date=data.get("date"),
            currency=invoice.currency,
            exchange_rate=data.get("exchange_rate", invoice.exchange_rate),
            reference=data.get("reference", ""),
            allocations=[{"invoice": invoice, "amount": min(amount, invoice.amount_residual)}],
            by=request.user,
        )
        return Response(PaymentOutput(payment).data, status=status.HTTP_201_CREATED)


# ---------------------------------------------------------------- payments


class AllocationInput(InputSerializer):
    invoice = ScopedRelatedField(model=Invoice)
    amount = serializers.DecimalField(required=False, **MONEY)

    class Meta:
        writable_protected = ("amount",)


class PaymentInput(InputSerializer):
    payment_type = serializers.ChoiceField(choices=PaymentType.choices)
    partner_type = serializers.ChoiceField(choices=PartnerType.choices, required=False)
    partner = ScopedRelatedField(model=Partner)
    amount = serializers.DecimalField(**MONEY)
    journal = ScopedRelatedField(model=Journal)
    date = serializers.DateField(required=False)
    currency = serializers.CharField(max_length=3, required=False)
    exchange_rate = serializers.DecimalField(max_digits=18, decimal_places=6, required=False)
    reference = serializers.CharField(max_length=100, required=False, allow_blank=True)
    memo = serializers.CharField(max_length=255, required=False, allow_blank=True)
    allocations = AllocationInput(
        many=True, required=False, help_text=_("Omit to allocate to the oldest open documents first.")
    )

    class Meta:
        writable_protected = ("amount",)


class PaymentAllocateInput(InputSerializer):
    allocations = AllocationInput(many=True, required=False)


class PaymentUnallocateInput(InputSerializer):
    invoice = ScopedRelatedField(model=Invoice, required=False, help_text=_("Omit to remove every allocation."))


class PaymentViewSet(FinanceViewSetMixin, ExportMixin, TenantReadOnlyViewSet):
    """Payments received and made (posted when recorded) and their allocation to open invoices. A payment
    larger than what the partner has open is refused with a field error on ``amount``."""

    queryset = Payment.objects.select_related("partner").prefetch_related("allocations")
    output_serializer_class = PaymentOutput
    input_serializer_class = PaymentInput
    filterset_fields = {"payment_type": ["exact"], "partner": ["exact"], "journal": ["exact"], "date": ["gte", "lte"]}
    search_fields = ("number", "reference", "partner__name")
    ordering_fields = ("date", "amount")
    ordering = ("-date", "-id")
    policy_actions = {"allocate": "allocate", "unallocate": "allocate"}
    export_fields = ("number", "date", "payment_type", ("partner__name", _("partner")), "amount", "currency")
    export_filename = "payments"

    create = TenantModelViewSet.create

    def create_object(self, *, actor, data):
        return services.payment_create(company=actor.company, by=actor.user, **data)

    @extend_schema(request=PaymentAllocateInput, responses={200: PaymentOutput})
    @action(detail=True, methods=["post"])
    def allocate(self, request, pk=None):
        """Allocate what is unallocated (explicitly, or to the oldest open documents)."""
        payment = self.get_object()
        data = self.input(PaymentAllocateInput, request)
        payment = services.payment_allocate(payment=payment, allocations=data.get("allocations"), by=request.user)
        return Response(self.output(payment))

    @extend_schema(request=PaymentUnallocateInput, responses={200: PaymentOutput})
    @action(detail=True, methods=["post"])
    def unallocate(self, request, pk=None):
        """Remove the allocation to one invoice, or all of them: the amounts are open again."""
        payment = self.get_object()
        data = self.input(PaymentUnallocateInput, request)
        payment = services.payment_unallocate(payment=payment, invoice=data.get("invoice"), by=request.user)
        return Response(self.output(payment))


# ---------------------------------------------------------------- reports


class AgedRowOutput(serializers.Serializer):
    partner_id = serializers.IntegerField()
    partner_name = serializers.CharField()
    buckets = serializers.DictField(child=serializers.DecimalField(**MONEY))
    total = serializers.DecimalField(**MONEY)


class AgedBalancesOutput(serializers.Serializer):
    as_of = serializers.DateField()
    side = serializers.CharField()
    rows = AgedRowOutput(many=True)
    totals = serializers.DictField(child=serializers.DecimalField(**MONEY))
    total = serializers.DecimalField(**MONEY)


class AgedBalancesQuery(InputSerializer):
    as_of = serializers.DateField(required=False)
    side = serializers.ChoiceField(choices=[("receivable", "receivable"), ("payable", "payable")], default="receivable")


class AgedBalancesView(APIView):
    """Aged receivables or payables as of a date, per partner: current, 1–30, 31–60, 61–90, >90 days past due."""

    permission_classes = [PolicyPermission]
    policy_model = Invoice
    policy_action = "view"

    @extend_schema(parameters=[AgedBalancesQuery], responses={200: AgedBalancesOutput})
    def get(self, request):
        query = AgedBalancesQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        result = selectors.aged_balances(
            company=request_actor(request).company,
            as_of=query.validated_data.get("as_of") or timezone.localdate(),
            side=query.validated_data["side"],
        )
        return Response(AgedBalancesOutput(result).data)


class CreditCheckInput(InputSerializer):
    partner = ScopedRelatedField(model=Partner, required=False)
    crm_account_id = serializers.IntegerField(required=False)
    amount = serializers.DecimalField(**MONEY)

    class Meta:
        writable_protected = ("amount",)

    def validate(self, attrs):
        if not attrs.get("partner") and attrs.get("crm_account_id") is None:
            raise serializers.ValidationError({"partner": [_("Give a partner or a CRM account id.")]})
        return attrs


class CreditCheckOutput(serializers.Serializer):
    ok = serializers.BooleanField()
    exposure = serializers.DecimalField(**MONEY)
    limit = serializers.DecimalField(allow_null=True, **MONEY)
    reason = serializers.CharField()


class CreditCheckView(APIView):
    """May the customer take this amount more on credit (open receivables + drafts + amount ≤ credit limit)?"""

    permission_classes = [PolicyPermission]
    policy_model = Invoice
    policy_action = "view"

    @extend_schema(request=CreditCheckInput, responses={200: CreditCheckOutput})
    def post(self, request):
        data = CreditCheckInput(data=request.data, context={"actor": request_actor(request)})
        data.is_valid(raise_exception=True)
        result = selectors.credit_check(company=request_actor(request).company, **data.validated_data)
        return Response(CreditCheckOutput(result).data)


# ---------------------------------------------------------------- bank


class BankAccountOutput(OutputSerializer):
    class Meta:
        model = BankAccount
        fields = ["id", "name", "bank_name", "account_number", "currency", "journal", "account", "is_active"]
        read_only_fields = fields


class BankAccountInput(InputSerializer):
    name = serializers.CharField(max_length=100)
    bank_name = serializers.CharField(max_length=100, required=False, allow_blank=True)
    account_number = serializers.CharField(max_length=50)
    currency = serializers.CharField(max_length=3, required=False, allow_blank=True)
    journal = ScopedRelatedField(model=Journal, required=False, allow_null=True)
    account = ScopedRelatedField(model=Account, required=False, allow_null=True)


class BankAccountViewSet(FinanceViewSetMixin, TenantReadOnlyViewSet):
    """The company's bank accounts, each with its bank journal and ledger account."""

    queryset = BankAccount.objects.select_related("journal", "account")
    output_serializer_class = BankAccountOutput
    input_serializer_class = BankAccountInput
    ordering_fields = ("name",)
    ordering = ("name",)

    create = TenantModelViewSet.create

    def create_object(self, *, actor, data):
        return bank_services.bank_account_create(company=actor.company, by=actor.user, **data)


class ImportErrorOutput(serializers.Serializer):
    row = serializers.IntegerField()
    errors = serializers.DictField(child=serializers.ListField(child=serializers.CharField()))


class BankStatementOutput(OutputSerializer):
    import_errors = ImportErrorOutput(many=True, read_only=True)

    class Meta:
        model = BankStatement
        fields = [
            "id",
            "bank_account",
            "name",
            "file_name",
            "preset",
            "line_count",
            "duplicate_count",
            "import_errors",
            "created_at",
        ]
        read_only_fields = fields


class StatementImportInput(InputSerializer):
    bank_account = ScopedRelatedField(model=BankAccount)
    file = serializers.FileField()
    preset = serializers.ChoiceField(choices=[(key, key) for key in PRESETS], default="cn_bank")
    mapping = serializers.JSONField(required=False, help_text=_('{"date": "交易日期", "amount": "金额", …}'))
    name = serializers.CharField(max_length=200, required=False, allow_blank=True)


class BankStatementViewSet(FinanceViewSetMixin, TenantReadOnlyViewSet):
    """Imported bank statements with the rows that could not be read."""

    queryset = BankStatement.objects.select_related("bank_account")
    output_serializer_class = BankStatementOutput
    filterset_fields = ("bank_account",)
    ordering = ("-created_at", "-id")
    policy_actions = {"import_csv": "add"}
    parser_classes = [MultiPartParser, FormParser, JSONParser]

    @extend_schema(request={"multipart/form-data": StatementImportInput}, responses={201: BankStatementOutput})
    @action(detail=False, methods=["post"], url_path="import")
    def import_csv(self, request):
        """Import a CSV statement (UTF-8 or GB18030; presets for Chinese bank exports or an explicit column
        mapping). Bad rows are reported per row, duplicates of already imported lines ignored."""
        data = self.input(StatementImportInput, request)
        upload = data["file"]
        statement = bank_services.statement_import(
            bank_account=data["bank_account"],
            data=upload.read(bank_services.MAX_FILE_BYTES + 1),
            preset=data["preset"],
            mapping=data.get("mapping"),
            name=data.get("name", ""),
            file_name=upload.name,
            by=request.user,
        )
        return Response(self.output(statement), status=status.HTTP_201_CREATED)


class StatementLineOutput(OutputSerializer):
    class Meta:
        model = BankStatementLine
        fields = [
            "id",
            "statement",
            "bank_account",
            "date",
            "amount",
            "description",
            "partner_name",
            "counterparty_account",
            "reference",
            "balance",
            "state",
            "partner",
            "payment",
        ]
        read_only_fields = fields


class SuggestionOutput(serializers.Serializer):
    kind = serializers.CharField()
    object_id = serializers.IntegerField()
    label = serializers.CharField()
    partner_id = serializers.IntegerField()
    partner_name = serializers.CharField()
    amount = serializers.DecimalField(**MONEY)
    date = serializers.DateField()
    score = serializers.IntegerField()
    reasons = serializers.ListField(child=serializers.CharField())


class ReconcileInput(InputSerializer):
    payment = ScopedRelatedField(model=Payment)


class CreatePaymentInput(InputSerializer):
    partner = ScopedRelatedField(model=Partner, required=False)
    invoices = serializers.ListField(child=ScopedRelatedField(model=Invoice), required=False, max_length=50)


class StatementLineViewSet(FinanceViewSetMixin, TenantReadOnlyViewSet):
    """Statement lines to reconcile: suggested matches, match with a payment, create the payment from the line
    (allocated to invoices), undo a match."""

    queryset = BankStatementLine.objects.select_related("bank_account")
    output_serializer_class = StatementLineOutput
    filterset_fields = {"state": ["exact"], "bank_account": ["exact"], "statement": ["exact"], "date": ["gte", "lte"]}
    search_fields = ("description", "partner_name", "reference")
    ordering = ("date", "id")
    policy_actions = {
        "suggestions": "view",
        "reconcile": "reconcile",
        "create_payment": "reconcile",
        "unreconcile": "reconcile",
    }

    @extend_schema(responses={200: SuggestionOutput(many=True)})
    @action(detail=True, methods=["get"])
    def suggestions(self, request, pk=None):
        """Ranked candidate payments and invoices for the line."""
        return Response(SuggestionOutput(bank_selectors.reconcile_suggestions(self.get_object()), many=True).data)

    @extend_schema(request=ReconcileInput, responses={200: StatementLineOutput})
    @action(detail=True, methods=["post"])
    def reconcile(self, request, pk=None):
        """Match the line with a payment of the same bank journal and amount."""
        line = self.get_object()
        data = self.input(ReconcileInput, request)
        return Response(self.output(bank_services.statement_line_reconcile(line=line, by=request.user, **data)))

    @extend_schema(request=CreatePaymentInput, responses={200: StatementLineOutput})
    @action(detail=True, methods=["post"], url_path="create-payment")
    def create_payment(self, request, pk=None):
        """Record the payment the line shows, allocate it (to ``invoices`` or the oldest open) and match it."""
        line = self.get_object()
        data = self.input(CreatePaymentInput, request)
        line = bank_services.statement_line_create_payment(line=line, by=request.user, **data)
        return Response(self.output(line))

    @extend_schema(request=None, responses={200: StatementLineOutput})
    @action(detail=True, methods=["post"])
    def unreconcile(self, request, pk=None):
        """Undo the match (the payment stays posted)."""
        return Response(self.output(bank_services.statement_line_unreconcile(line=self.get_object(), by=request.user)))


# ---------------------------------------------------------------- routes (included at /api/v1/erp/)

router = SimpleRouter()
router.register("partners", PartnerViewSet, basename="erp-partner")
router.register("payment-terms", PaymentTermViewSet, basename="erp-payment-term")
router.register("taxes", TaxViewSet, basename="erp-tax")
router.register("invoices", InvoiceViewSet, basename="erp-invoice")
router.register("payments", PaymentViewSet, basename="erp-payment")
router.register("bank-accounts", BankAccountViewSet, basename="erp-bank-account")
router.register("bank-statements", BankStatementViewSet, basename="erp-bank-statement")
router.register("reconciliation", StatementLineViewSet, basename="erp-statement-line")

urlpatterns = [
    path("reports/aged-balances/", AgedBalancesView.as_view(), name="erp-aged-balances"),
    path("credit-check/", CreditCheckView.as_view(), name="erp-credit-check"),
    *router.urls,
]
