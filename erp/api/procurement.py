"""The procurement and inventory-operations REST API, at the root of /api/v1/erp/:

``purchase-requisitions/`` (+ ``from-reorder/``, ``…/approve/``, ``…/cancel/``, ``…/rfqs/``), ``rfqs/``
(``…/quote/``, ``…/accept/``), ``purchase-orders/`` (create / update while draft; ``…/submit/``, ``…/approve/``,
``…/confirm/``, ``…/cancel/``, ``…/receive/``, ``…/bill/``), ``receipts/``, ``bill-matches/`` (``…/approve/``,
``…/post/``), ``supplier-performance/``, ``stock-counts/`` (``…/record/``, ``…/submit/``, ``…/approve/``,
``…/cancel/``), ``transfers/`` (``…/ship/``, ``…/receive/``, ``…/cancel/``) and ``valuation-layers/``.

State changes are explicit POST actions, never field edits. Errors: bad input → 400 with field errors
(``lines.0.quantity`` …); a request the document's state or the stock refuses → 409 with ``code``; nothing is
written in either case.
"""

from __future__ import annotations

from django.urls import path
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.routers import SimpleRouter
from rest_framework.views import APIView

from erp.api.inventory import InventoryViewSetMixin
from erp.models import (
    GoodsReceipt,
    GoodsReceiptLine,
    Invoice,
    Location,
    Lot,
    Partner,
    Product,
    PurchaseOrder,
    PurchaseOrderLine,
    PurchaseRequisition,
    PurchaseRequisitionLine,
    RequestForQuotation,
    RfqLine,
    StockCount,
    StockCountLine,
    StockTransfer,
    StockTransferLine,
    StockValuationLayer,
    Tax,
    UnitOfMeasure,
    VendorBillMatch,
    Warehouse,
)
from erp.selectors import procurement as selectors
from erp.services import procurement as services
from erp.services import stock_operations as operations
from suite.api.pagination import CursorPagination
from suite.api.permissions import PolicyPermission, request_actor
from suite.api.serializers import InputSerializer, OutputSerializer, ScopedRelatedField
from suite.api.viewsets import TenantModelViewSet, TenantReadOnlyViewSet

QUANTITY = {"max_digits": 18, "decimal_places": 4}
PRICE = {"max_digits": 18, "decimal_places": 4}
MONEY = {"max_digits": 18, "decimal_places": 2}

# ---------------------------------------------------------------- serializers: requisitions and RFQs


class RequisitionLineOutput(OutputSerializer):
    sku = serializers.CharField(source="product.sku", read_only=True)

    class Meta:
        model = PurchaseRequisitionLine
        fields = ["id", "product", "sku", "quantity", "reorder_rule"]
        read_only_fields = fields


class RequisitionOutput(OutputSerializer):
    lines = RequisitionLineOutput(many=True, read_only=True)

    class Meta:
        model = PurchaseRequisition
        fields = [
            "id",
            "number",
            "warehouse",
            "state",
            "source",
            "needed_by",
            "note",
            "requested_by",
            "approved_by",
            "lines",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class RequisitionLineInput(InputSerializer):
    product = ScopedRelatedField(model=Product)
    quantity = serializers.DecimalField(**QUANTITY)


class RequisitionInput(InputSerializer):
    warehouse = ScopedRelatedField(model=Warehouse)
    needed_by = serializers.DateField(required=False, allow_null=True)
    note = serializers.CharField(required=False, allow_blank=True, max_length=200)
    lines = RequisitionLineInput(many=True)


class RequisitionFromReorderInput(InputSerializer):
    warehouse = ScopedRelatedField(model=Warehouse, required=False, allow_null=True)


class RfqsCreateInput(InputSerializer):
    suppliers = ScopedRelatedField(model=Partner, many=True)
    valid_until = serializers.DateField(required=False, allow_null=True)


class RfqLineOutput(OutputSerializer):
    sku = serializers.CharField(source="product.sku", read_only=True)

    class Meta:
        model = RfqLine
        fields = ["id", "product", "sku", "quantity", "unit_price", "lead_time_days", "requisition_line"]
        read_only_fields = fields


class RfqOutput(OutputSerializer):
    lines = RfqLineOutput(many=True, read_only=True)
    supplier_name = serializers.CharField(source="supplier.name", read_only=True)

    class Meta:
        model = RequestForQuotation
        fields = [
            "id",
            "number",
            "requisition",
            "supplier",
            "supplier_name",
            "warehouse",
            "currency",
            "state",
            "valid_until",
            "purchase_order",
            "lines",
            "created_at",
        ]
        read_only_fields = fields


class RfqQuoteLineInput(InputSerializer):
    line = serializers.IntegerField()
    unit_price = serializers.DecimalField(**PRICE, min_value=0)
    lead_time_days = serializers.IntegerField(required=False, allow_null=True, min_value=0, max_value=3650)


class RfqQuoteInput(InputSerializer):
    valid_until = serializers.DateField(required=False, allow_null=True)
    lines = RfqQuoteLineInput(many=True)


# ---------------------------------------------------------------- serializers: orders, receipts, bills


class PurchaseOrderLineOutput(OutputSerializer):
    sku = serializers.CharField(source="product.sku", read_only=True)
    uom_code = serializers.CharField(source="product.uom.code", read_only=True)

    class Meta:
        model = PurchaseOrderLine
        fields = [
            "id",
            "product",
            "sku",
            "uom_code",
            "description",
            "quantity",
            "unit_price",
            "tax",
            "expected_date",
            "subtotal",
            "tax_amount",
            "receipt_limit",
            "received_quantity",
            "billed_quantity",
            "incoming_supply",
        ]
        read_only_fields = fields


class PurchaseOrderOutput(OutputSerializer):
    lines = PurchaseOrderLineOutput(many=True, read_only=True)
    supplier_name = serializers.CharField(source="supplier.name", read_only=True)

    class Meta:
        model = PurchaseOrder
        fields = [
            "id",
            "number",
            "supplier",
            "supplier_name",
            "warehouse",
            "currency",
            "order_date",
            "expected_date",
            "state",
            "supplier_reference",
            "note",
            "amount_untaxed",
            "amount_tax",
            "amount_total",
            "submitted_by",
            "approved_by",
            "approved_at",
            "confirmed_at",
            "lines",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class PurchaseOrderLineInput(InputSerializer):
    product = ScopedRelatedField(model=Product)
    quantity = serializers.DecimalField(**QUANTITY)
    unit_price = serializers.DecimalField(**PRICE)
    tax = ScopedRelatedField(model=Tax, required=False, allow_null=True)
    expected_date = serializers.DateField(required=False, allow_null=True)
    description = serializers.CharField(required=False, allow_blank=True, max_length=255)


class PurchaseOrderInput(InputSerializer):
    supplier = ScopedRelatedField(model=Partner)
    warehouse = ScopedRelatedField(model=Warehouse)
    currency = serializers.CharField(required=False, allow_blank=True, max_length=3)
    order_date = serializers.DateField(required=False, allow_null=True)
    expected_date = serializers.DateField(required=False, allow_null=True)
    supplier_reference = serializers.CharField(required=False, allow_blank=True, max_length=100)
    note = serializers.CharField(required=False, allow_blank=True)
    lines = PurchaseOrderLineInput(many=True)


class PurchaseOrderUpdateInput(InputSerializer):
    expected_date = serializers.DateField(required=False)
    supplier_reference = serializers.CharField(required=False, allow_blank=True, max_length=100)
    note = serializers.CharField(required=False, allow_blank=True)
    lines = PurchaseOrderLineInput(many=True, required=False)


class GoodsReceiveLineInput(InputSerializer):
    order_line = serializers.IntegerField()
    quantity = serializers.DecimalField(**QUANTITY)
    location = ScopedRelatedField(model=Location, required=False, allow_null=True)
    lot = ScopedRelatedField(model=Lot, required=False, allow_null=True)
    lot_code = serializers.CharField(required=False, allow_blank=True, max_length=50)
    expiry_date = serializers.DateField(required=False, allow_null=True)


class GoodsReceiveInput(InputSerializer):
    received_at = serializers.DateTimeField(required=False, allow_null=True)
    delivery_note = serializers.CharField(required=False, allow_blank=True, max_length=100)
    lines = GoodsReceiveLineInput(many=True)


class GoodsReceiptLineOutput(OutputSerializer):
    class Meta:
        model = GoodsReceiptLine
        fields = ["id", "order_line", "product", "lot", "location", "quantity", "unit_cost", "move"]
        read_only_fields = fields


class GoodsReceiptOutput(OutputSerializer):
    lines = GoodsReceiptLineOutput(many=True, read_only=True)

    class Meta:
        model = GoodsReceipt
        fields = ["id", "number", "purchase_order", "warehouse", "received_at", "delivery_note", "lines", "created_at"]
        read_only_fields = fields


class VendorBillLineInput(InputSerializer):
    order_line = serializers.IntegerField()
    quantity = serializers.DecimalField(**QUANTITY)
    unit_price = serializers.DecimalField(**PRICE)


class VendorBillInput(InputSerializer):
    invoice_date = serializers.DateField(required=False)
    fapiao_number = serializers.CharField(required=False, allow_blank=True, max_length=30)
    reference = serializers.CharField(required=False, allow_blank=True, max_length=100)
    lines = VendorBillLineInput(many=True, required=False)


class BillMatchOutput(OutputSerializer):
    invoice_state = serializers.CharField(source="invoice.state", read_only=True)
    invoice_number = serializers.CharField(source="invoice.number", read_only=True)

    class Meta:
        model = VendorBillMatch
        fields = [
            "id",
            "invoice",
            "invoice_number",
            "invoice_state",
            "purchase_order",
            "state",
            "issues",
            "checked_at",
            "approved_by",
            "approved_at",
            "approval_note",
        ]
        read_only_fields = fields


class VarianceNoteInput(InputSerializer):
    note = serializers.CharField(required=False, allow_blank=True, max_length=200)


class SupplierPerformanceOutput(serializers.Serializer):
    supplier_id = serializers.IntegerField()
    supplier_name = serializers.CharField()
    receipt_lines = serializers.IntegerField()
    on_time_lines = serializers.IntegerField()
    on_time_rate = serializers.DecimalField(max_digits=6, decimal_places=4, allow_null=True)
    received_quantity = serializers.DecimalField(**QUANTITY)
    billed_amount_at_order_price = serializers.DecimalField(**MONEY)
    billed_amount = serializers.DecimalField(**MONEY)
    price_variance = serializers.DecimalField(**MONEY)
    price_variance_rate = serializers.DecimalField(max_digits=12, decimal_places=4, allow_null=True)


class SupplierPerformanceQuery(InputSerializer):
    start = serializers.DateField(required=False)
    end = serializers.DateField(required=False)


# ---------------------------------------------------------------- serializers: counts, transfers, valuation


class StockCountLineOutput(OutputSerializer):
    sku = serializers.CharField(source="product.sku", read_only=True)

    class Meta:
        model = StockCountLine
        fields = [
            "id",
            "product",
            "sku",
            "location",
            "lot",
            "expected_quantity",
            "counted_quantity",
            "applied_difference",
            "move",
        ]
        read_only_fields = fields


class StockCountOutput(OutputSerializer):
    lines = StockCountLineOutput(many=True, read_only=True)

    class Meta:
        model = StockCount
        fields = [
            "id",
            "number",
            "warehouse",
            "location",
            "state",
            "note",
            "submitted_by",
            "submitted_at",
            "approved_by",
            "approved_at",
            "lines",
            "created_at",
        ]
        read_only_fields = fields


class StockCountInput(InputSerializer):
    warehouse = ScopedRelatedField(model=Warehouse)
    location = ScopedRelatedField(model=Location, required=False, allow_null=True)
    products = ScopedRelatedField(model=Product, many=True, required=False)
    note = serializers.CharField(required=False, allow_blank=True, max_length=200)


class StockCountRecordLineInput(InputSerializer):
    line = serializers.IntegerField(required=False)
    product = ScopedRelatedField(model=Product, required=False)
    location = ScopedRelatedField(model=Location, required=False)
    lot = ScopedRelatedField(model=Lot, required=False, allow_null=True)
    counted_quantity = serializers.DecimalField(**QUANTITY)


class StockCountRecordInput(InputSerializer):
    lines = StockCountRecordLineInput(many=True)


class StockTransferLineOutput(OutputSerializer):
    sku = serializers.CharField(source="product.sku", read_only=True)

    class Meta:
        model = StockTransferLine
        fields = ["id", "product", "sku", "lot", "quantity", "shipped_quantity", "received_quantity"]
        read_only_fields = fields


class StockTransferOutput(OutputSerializer):
    lines = StockTransferLineOutput(many=True, read_only=True)

    class Meta:
        model = StockTransfer
        fields = [
            "id",
            "number",
            "from_warehouse",
            "to_warehouse",
            "via_transit",
            "state",
            "scheduled_date",
            "note",
            "shipped_at",
            "done_at",
            "lines",
            "created_at",
        ]
        read_only_fields = fields


class StockTransferLineInput(InputSerializer):
    product = ScopedRelatedField(model=Product)
    quantity = serializers.DecimalField(**QUANTITY)
    lot = ScopedRelatedField(model=Lot, required=False, allow_null=True)
    uom = ScopedRelatedField(model=UnitOfMeasure, required=False, allow_null=True)


class StockTransferInput(InputSerializer):
    from_warehouse = ScopedRelatedField(model=Warehouse)
    to_warehouse = ScopedRelatedField(model=Warehouse)
    via_transit = serializers.BooleanField(required=False, default=True)
    scheduled_date = serializers.DateField(required=False, allow_null=True)
    note = serializers.CharField(required=False, allow_blank=True, max_length=200)
    lines = StockTransferLineInput(many=True)


class StockTransferReceiveLineInput(InputSerializer):
    line = serializers.IntegerField()
    quantity = serializers.DecimalField(**QUANTITY)


class StockTransferReceiveInput(InputSerializer):
    location = ScopedRelatedField(model=Location, required=False, allow_null=True)
    lines = StockTransferReceiveLineInput(many=True, required=False)


class ValuationLayerOutput(OutputSerializer):
    class Meta:
        model = StockValuationLayer
        fields = [
            "id",
            "product",
            "move",
            "quantity",
            "unit_cost",
            "value",
            "remaining_quantity",
            "remaining_value",
            "description",
            "journal_entry",
            "created_at",
        ]
        read_only_fields = fields


# ---------------------------------------------------------------- viewsets


class _Base(InventoryViewSetMixin, TenantReadOnlyViewSet):
    def detail_output(self, instance, status_code=status.HTTP_200_OK):
        return Response(self.output(instance), status=status_code)


class RequisitionViewSet(_Base):
    """Purchase requisitions (请购单): what is needed where; from reorder suggestions or by hand."""

    queryset = PurchaseRequisition.objects.select_related("warehouse").prefetch_related("lines__product")
    output_serializer_class = RequisitionOutput
    input_serializer_class = RequisitionInput
    filterset_fields = ("state", "warehouse", "source")
    ordering = ("-id",)
    policy_actions = {
        "approve": "approve",
        "cancel": "cancel",
        "rfqs": "quote",
        "from_reorder": "add",
    }

    create = TenantModelViewSet.create

    def create_object(self, *, actor, data):
        return services.requisition_create(company=actor.company, by=actor.user, **data)

    @extend_schema(request=RequisitionFromReorderInput, responses={201: RequisitionOutput(many=True)})
    @action(detail=False, methods=["post"], url_path="from-reorder")
    def from_reorder(self, request):
        """One requisition per warehouse for the reorder suggestions not yet requested."""
        data = self.input(RequisitionFromReorderInput, request)
        rows = services.requisitions_from_reorder_suggestions(
            company=self.actor.company, warehouse=data.get("warehouse"), by=request.user
        )
        fresh = self.get_queryset().filter(pk__in=[r.pk for r in rows])
        context = self.get_serializer_context()
        return Response(RequisitionOutput(fresh, many=True, context=context).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={200: RequisitionOutput})
    @action(detail=True, methods=["post"])
    def approve(self, request, pk=None):
        return self.detail_output(services.requisition_approve(requisition=self.get_object(), by=request.user))

    @extend_schema(request=None, responses={200: RequisitionOutput})
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        return self.detail_output(services.requisition_cancel(requisition=self.get_object(), by=request.user))

    @extend_schema(request=RfqsCreateInput, responses={201: RfqOutput(many=True)})
    @action(detail=True, methods=["post"])
    def rfqs(self, request, pk=None):
        """Send the approved requisition to several suppliers for quotation."""
        requisition = self.get_object()
        data = self.input(RfqsCreateInput, request)
        rows = services.rfqs_create(requisition=requisition, by=request.user, **data)
        fresh = RequestForQuotation.objects.filter(pk__in=[r.pk for r in rows]).prefetch_related("lines__product")
        context = self.get_serializer_context()
        return Response(
            RfqOutput(fresh.select_related("supplier"), many=True, context=context).data,
            status=status.HTTP_201_CREATED,
        )


class RfqViewSet(_Base):
    """Requests for quotation (询价单), one per supplier; the accepted one becomes a purchase order."""

    queryset = RequestForQuotation.objects.select_related("supplier").prefetch_related("lines__product")
    output_serializer_class = RfqOutput
    filterset_fields = ("state", "supplier", "requisition")
    ordering = ("-id",)
    policy_actions = {"quote": "quote", "accept": "accept"}

    @extend_schema(request=RfqQuoteInput, responses={200: RfqOutput})
    @action(detail=True, methods=["post"])
    def quote(self, request, pk=None):
        """Record the supplier's prices (every line) and lead times."""
        rfq = self.get_object()
        data = self.input(RfqQuoteInput, request)
        return self.detail_output(services.rfq_quote(rfq=rfq, by=request.user, **data))

    @extend_schema(request=None, responses={201: PurchaseOrderOutput})
    @action(detail=True, methods=["post"])
    def accept(self, request, pk=None):
        """Choose this quotation: a draft purchase order at its prices; the others are closed."""
        order = services.rfq_accept(rfq=self.get_object(), by=request.user)
        fresh = (
            PurchaseOrder.objects.select_related("supplier").prefetch_related("lines__product__uom").get(pk=order.pk)
        )
        return Response(
            PurchaseOrderOutput(fresh, context=self.get_serializer_context()).data, status=status.HTTP_201_CREATED
        )


class PurchaseOrderViewSet(_Base):
    """Purchase orders (采购订单): draft → submit (approval above the company's threshold) → approve →
    confirm (expected supply) → receive (partial, with lots) → bill (three-way match); cancel while nothing
    was received."""

    queryset = PurchaseOrder.objects.select_related("supplier").prefetch_related("lines__product__uom")
    output_serializer_class = PurchaseOrderOutput
    input_serializer_class = PurchaseOrderInput
    update_input_serializer_class = PurchaseOrderUpdateInput
    filterset_fields = ("state", "supplier", "warehouse")
    search_fields = ("number", "supplier__name", "supplier_reference")
    ordering_fields = ("order_date", "expected_date", "amount_total", "created_at")
    ordering = ("-id",)
    policy_actions = {
        "submit": "submit",
        "approve": "approve",
        "confirm": "confirm",
        "cancel": "cancel",
        "receive": "receive",
        "bill": "bill",
    }

    create = TenantModelViewSet.create
    update = TenantModelViewSet.update
    partial_update = TenantModelViewSet.partial_update

    def create_object(self, *, actor, data):
        return services.purchase_order_create(company=actor.company, by=actor.user, **data)

    def update_object(self, *, actor, instance, data):
        return services.purchase_order_update(order=instance, by=actor.user, **data)

    @extend_schema(request=None, responses={200: PurchaseOrderOutput})
    @action(detail=True, methods=["post"])
    def submit(self, request, pk=None):
        """Submit the draft: approved at once up to the company's threshold, else waiting for a manager."""
        return self.detail_output(services.purchase_order_submit(order=self.get_object(), by=request.user))

    @extend_schema(request=None, responses={200: PurchaseOrderOutput})
    @action(detail=True, methods=["post"])
    def approve(self, request, pk=None):
        """Approve an order waiting for approval (a manager other than the submitter)."""
        return self.detail_output(services.purchase_order_approve(order=self.get_object(), by=request.user))

    @extend_schema(request=None, responses={200: PurchaseOrderOutput})
    @action(detail=True, methods=["post"])
    def confirm(self, request, pk=None):
        """Confirm the approved order with the supplier: its lines become expected supply."""
        return self.detail_output(services.purchase_order_confirm(order=self.get_object(), by=request.user))

    @extend_schema(request=None, responses={200: PurchaseOrderOutput})
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        return self.detail_output(services.purchase_order_cancel(order=self.get_object(), by=request.user))

    @extend_schema(request=GoodsReceiveInput, responses={201: GoodsReceiptOutput})
    @action(detail=True, methods=["post"])
    def receive(self, request, pk=None):
        """Receive goods on the order (more than ordered + tolerance: 400, nothing written)."""
        order = self.get_object()
        data = self.input(GoodsReceiveInput, request)
        receipt = services.goods_receive(order=order, by=request.user, **data)
        fresh = GoodsReceipt.objects.prefetch_related("lines").get(pk=receipt.pk)
        return Response(GoodsReceiptOutput(fresh, context=self.get_serializer_context()).data, status=201)

    @extend_schema(request=VendorBillInput, responses={201: BillMatchOutput})
    @action(detail=True, methods=["post"])
    def bill(self, request, pk=None):
        """A draft vendor bill for what was received and not billed (or the lines given), matched at once."""
        order = self.get_object()
        data = self.input(VendorBillInput, request)
        invoice = services.vendor_bill_create(order=order, by=request.user, **data)
        match = VendorBillMatch.objects.select_related("invoice").get(invoice=invoice)
        return Response(BillMatchOutput(match, context=self.get_serializer_context()).data, status=201)


class ReceiptViewSet(_Base):
    """Goods receipts (入库单), read-only: they are made by ``purchase-orders/{id}/receive/``."""

    queryset = GoodsReceipt.objects.prefetch_related("lines")
    output_serializer_class = GoodsReceiptOutput
    filterset_fields = ("purchase_order", "warehouse")
    ordering = ("-id",)


class BillMatchViewSet(_Base):
    """Three-way matches of vendor bills; a blocked bill is approved by finance, then posted here."""

    queryset = VendorBillMatch.objects.select_related("invoice")
    output_serializer_class = BillMatchOutput
    filterset_fields = ("state", "purchase_order")
    ordering = ("-id",)
    policy_actions = {"approve": "approve", "post_bill": "post"}

    @extend_schema(request=VarianceNoteInput, responses={200: BillMatchOutput})
    @action(detail=True, methods=["post"])
    def approve(self, request, pk=None):
        """Accept the variance of a blocked bill (finance)."""
        match = self.get_object()
        data = self.input(VarianceNoteInput, request)
        return self.detail_output(services.bill_variance_approve(match=match, by=request.user, **data))

    @extend_schema(request=None, responses={200: BillMatchOutput})
    @action(detail=True, methods=["post"], url_path="post")
    def post_bill(self, request, pk=None):
        """Post the bill (409 ``bill_blocked`` while its variance is not approved)."""
        match = self.get_object()
        invoice = Invoice.objects.get(pk=match.invoice_id)
        services.vendor_bill_post(invoice=invoice, by=request.user)
        return self.detail_output(match)


class StockCountViewSet(_Base):
    """Count sheets (盘点单): create (expected quantities from the books) → record counts → submit → approve
    (someone else; differences become adjustment moves)."""

    queryset = StockCount.objects.prefetch_related("lines__product")
    output_serializer_class = StockCountOutput
    input_serializer_class = StockCountInput
    filterset_fields = ("state", "warehouse")
    ordering = ("-id",)
    policy_actions = {"record": "change", "submit": "submit", "approve": "approve", "cancel": "cancel"}

    create = TenantModelViewSet.create

    def create_object(self, *, actor, data):
        return operations.stock_count_create(company=actor.company, by=actor.user, **data)

    @extend_schema(request=StockCountRecordInput, responses={200: StockCountOutput})
    @action(detail=True, methods=["post"])
    def record(self, request, pk=None):
        count = self.get_object()
        data = self.input(StockCountRecordInput, request)
        return self.detail_output(operations.stock_count_record(count=count, by=request.user, **data))

    @extend_schema(request=None, responses={200: StockCountOutput})
    @action(detail=True, methods=["post"])
    def submit(self, request, pk=None):
        return self.detail_output(operations.stock_count_submit(count=self.get_object(), by=request.user))

    @extend_schema(request=None, responses={200: StockCountOutput})
    @action(detail=True, methods=["post"])
    def approve(self, request, pk=None):
        """Approve and apply (409 when it would count away reserved stock, or for the submitter)."""
        return self.detail_output(operations.stock_count_approve(count=self.get_object(), by=request.user))

    @extend_schema(request=None, responses={200: StockCountOutput})
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        return self.detail_output(operations.stock_count_cancel(count=self.get_object(), by=request.user))


class StockTransferViewSet(_Base):
    """Transfers between warehouses (调拨单): direct, or through transit and received later in parts."""

    queryset = StockTransfer.objects.prefetch_related("lines__product")
    output_serializer_class = StockTransferOutput
    input_serializer_class = StockTransferInput
    filterset_fields = ("state", "from_warehouse", "to_warehouse")
    ordering = ("-id",)
    policy_actions = {"ship": "ship", "receive": "receive", "cancel": "cancel"}

    create = TenantModelViewSet.create

    def create_object(self, *, actor, data):
        return operations.stock_transfer_create(company=actor.company, by=actor.user, **data)

    @extend_schema(request=None, responses={200: StockTransferOutput})
    @action(detail=True, methods=["post"])
    def ship(self, request, pk=None):
        """Ship (409 ``insufficient_stock`` when free stock is short)."""
        return self.detail_output(operations.stock_transfer_ship(transfer=self.get_object(), by=request.user))

    @extend_schema(request=StockTransferReceiveInput, responses={200: StockTransferOutput})
    @action(detail=True, methods=["post"])
    def receive(self, request, pk=None):
        transfer = self.get_object()
        data = self.input(StockTransferReceiveInput, request)
        return self.detail_output(operations.stock_transfer_receive(transfer=transfer, by=request.user, **data))

    @extend_schema(request=None, responses={200: StockTransferOutput})
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        return self.detail_output(operations.stock_transfer_cancel(transfer=self.get_object(), by=request.user))


class ValuationLayerViewSet(_Base):
    """The value each stock move brought in or took out (read-only, newest first)."""

    queryset = StockValuationLayer.objects.all()
    output_serializer_class = ValuationLayerOutput
    pagination_class = CursorPagination
    filterset_fields = ("product", "move")
    ordering = ("-id",)


class SupplierPerformanceView(APIView):
    """On-time receipt rate and billed price variance per supplier (``?start=&end=`` dates)."""

    permission_classes = [PolicyPermission]
    policy_model = PurchaseOrder

    @extend_schema(parameters=[SupplierPerformanceQuery], responses={200: SupplierPerformanceOutput(many=True)})
    def get(self, request):
        query = SupplierPerformanceQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        rows = selectors.supplier_performance(company=request_actor(request).company_id, **query.validated_data)
        return Response(SupplierPerformanceOutput(rows, many=True).data)


router = SimpleRouter()
router.register("purchase-requisitions", RequisitionViewSet, basename="erp-purchase-requisition")
router.register("rfqs", RfqViewSet, basename="erp-rfq")
router.register("purchase-orders", PurchaseOrderViewSet, basename="erp-purchase-order")
router.register("receipts", ReceiptViewSet, basename="erp-goods-receipt")
router.register("bill-matches", BillMatchViewSet, basename="erp-bill-match")
router.register("stock-counts", StockCountViewSet, basename="erp-stock-count")
router.register("transfers", StockTransferViewSet, basename="erp-stock-transfer")
router.register("valuation-layers", ValuationLayerViewSet, basename="erp-valuation-layer")

urlpatterns = [
    path("supplier-performance/", SupplierPerformanceView.as_view(), name="erp-supplier-performance"),
    *router.urls,
]
