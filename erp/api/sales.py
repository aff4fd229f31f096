"""The sales fulfilment REST API: /api/v1/erp/sales-orders/, /deliveries/, /returns/.

Thin: the policy is checked, input validated by explicit input serializers, one service called, the result
serialised. Every change of state is an explicit POST action — ``sales-orders/{id}/confirm/``, ``…/release/``
(a credit hold, managers), ``…/reserve/``, ``…/cancel/``, ``…/close/``, ``…/invoice/``;
``deliveries/{id}/pick/``, ``…/pack/``, ``…/ship/``, ``…/deliver/``, ``…/cancel/``; ``returns/`` (authorise)
and ``returns/{id}/receive/``, ``…/cancel/`` — never a field edit.

Errors: bad input → 400 with field errors (``lines.0.quantity``); a request the order's state or the stock
refuses → 409 with ``code``; confirming an order over the customer's credit limit answers 409 ``credit_hold``
with the reason (the order is saved on hold, a manager releases it).
"""

from __future__ import annotations

from decimal import Decimal

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.routers import SimpleRouter

from erp.api.inventory import InventoryViewSetMixin
from erp.models import (
    DeliveryLine,
    DeliveryOrder,
    DeliveryPick,
    Lot,
    Partner,
    Product,
    ReturnDestination,
    SalesOrder,
    SalesOrderLine,
    SalesOrderState,
    SalesReturn,
    SalesReturnLine,
    Tax,
    Warehouse,
)
from erp.services import sales as services
from suite.api.errors import error_body
from suite.api.serializers import CompanyUserField, InputSerializer, OutputSerializer, ScopedRelatedField
from suite.api.viewsets import TenantModelViewSet, TenantReadOnlyViewSet

QUANTITY = {"max_digits": 18, "decimal_places": 4}

# ---------------------------------------------------------------- serializers: orders


class SalesOrderLineOutput(OutputSerializer):
    sku = serializers.CharField(source="product.sku", read_only=True)
    reserved_quantity = serializers.SerializerMethodField()
    to_invoice_quantity = serializers.DecimalField(**QUANTITY, read_only=True)

    class Meta:
        model = SalesOrderLine
        fields = [
            "id",
            "sequence",
            "product",
            "sku",
            "description",
            "warehouse",
            "quantity",
            "unit_price",
            "price_source",
            "discount",
            "tax",
            "requested_date",
            "promised_date",
            "reserved_quantity",
            "delivered_quantity",
            "returned_quantity",
            "invoiced_quantity",
            "refunded_quantity",
            "cancelled_quantity",
            "to_invoice_quantity",
            "subtotal",
            "tax_amount",
            "total",
        ]
        read_only_fields = fields

    @extend_schema(responses=serializers.DecimalField(**QUANTITY))
    def get_reserved_quantity(self, line) -> str:
        reservation = line.reservation
        held = reservation.open_quantity if reservation is not None and reservation.state == "active" else 0
        return str(held)


class SalesOrderOutput(OutputSerializer):
    partner_name = serializers.CharField(source="partner.name", read_only=True)
    lines = SalesOrderLineOutput(many=True, read_only=True)

    class Meta:
        model = SalesOrder
        fields = [
            "id",
            "number",
            "partner",
            "partner_name",
            "crm_account_id",
            "crm_opportunity_id",
            "salesperson",
            "warehouse",
            "currency",
            "order_date",
            "requested_date",
            "promised_date",
            "state",
            "invoice_status",
            "hold_reason",
            "held_at",
            "released_by",
            "released_at",
            "release_note",
            "confirmed_at",
            "cancelled_at",
            "cancel_reason",
            "origin",
            "client_reference",
            "note",
            "amount_untaxed",
            "amount_tax",
            "amount_total",
            "lines",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class SalesOrderLineInput(InputSerializer):
    product = ScopedRelatedField(model=Product)
    quantity = serializers.DecimalField(**QUANTITY, min_value=Decimal("0"))
    unit_price = serializers.DecimalField(**QUANTITY, required=False, allow_null=True, min_value=Decimal("0"))
    discount = serializers.DecimalField(
        max_digits=5, decimal_places=2, required=False, min_value=Decimal("0"), max_value=Decimal("100")
    )
    tax = ScopedRelatedField(model=Tax, required=False, allow_null=True)
    description = serializers.CharField(max_length=255, required=False, allow_blank=True)
    warehouse = ScopedRelatedField(model=Warehouse, required=False, allow_null=True)
    requested_date = serializers.DateField(required=False, allow_null=True)
    promised_date = serializers.DateField(required=False, allow_null=True)


class _SalesOrderHeaderInput(InputSerializer):
    warehouse = ScopedRelatedField(model=Warehouse, required=False)
    currency = serializers.RegexField(r"^[A-Z]{3}$", required=False)
    order_date = serializers.DateField(required=False)
    requested_date = serializers.DateField(required=False, allow_null=True)
    promised_date = serializers.DateField(required=False, allow_null=True)
    salesperson = CompanyUserField(required=False, allow_null=True)
    client_reference = serializers.CharField(max_length=100, required=False, allow_blank=True)
    note = serializers.CharField(max_length=5000, required=False, allow_blank=True)


class SalesOrderInput(_SalesOrderHeaderInput):
    partner = ScopedRelatedField(model=Partner)
    origin = serializers.CharField(max_length=100, required=False, allow_blank=True)
    crm_opportunity_id = serializers.IntegerField(required=False, allow_null=True, min_value=1)
    lines = SalesOrderLineInput(many=True, allow_empty=False)


class SalesOrderUpdateInput(_SalesOrderHeaderInput):
    lines = SalesOrderLineInput(many=True, allow_empty=False, required=False)


class SalesHoldReleaseInput(InputSerializer):
    note = serializers.CharField(max_length=300, required=False, allow_blank=True, default="")


class SalesOrderCancelInput(InputSerializer):
    reason = serializers.CharField(max_length=300, required=False, allow_blank=True, default="")


class SalesOrderInvoiceInput(InputSerializer):
    invoice_date = serializers.DateField(required=False)


InvoiceCreated = inline_serializer(
    "SalesOrderInvoiceCreated",
    fields={
        "invoice_id": serializers.IntegerField(),
        "kind": serializers.CharField(),
        "state": serializers.CharField(),
        "amount_untaxed": serializers.DecimalField(max_digits=18, decimal_places=2),
        "amount_tax": serializers.DecimalField(max_digits=18, decimal_places=2),
        "amount_total": serializers.DecimalField(max_digits=18, decimal_places=2),
        "sales_order": serializers.IntegerField(),
    },
)

# ---------------------------------------------------------------- serializers: deliveries and returns


class DeliveryPickOutput(OutputSerializer):
    lot_code = serializers.CharField(source="lot.code", read_only=True, default=None)

    class Meta:
        model = DeliveryPick
        fields = ["id", "lot", "lot_code", "quantity"]
        read_only_fields = fields


class DeliveryLineOutput(OutputSerializer):
    sku = serializers.CharField(source="product.sku", read_only=True)
    picks = DeliveryPickOutput(many=True, read_only=True)

    class Meta:
        model = DeliveryLine
        fields = [
            "id",
            "sales_line",
            "product",
            "sku",
            "quantity",
            "picked_quantity",
            "shipped_quantity",
            "returned_quantity",
            "picks",
        ]
        read_only_fields = fields


class DeliveryOrderOutput(OutputSerializer):
    sales_order_number = serializers.CharField(source="sales_order.number", read_only=True)
    lines = DeliveryLineOutput(many=True, read_only=True)

    class Meta:
        model = DeliveryOrder
        fields = [
            "id",
            "number",
            "sales_order",
            "sales_order_number",
            "warehouse",
            "backorder_of",
            "state",
            "scheduled_date",
            "carrier",
            "tracking_number",
            "package_count",
            "weight",
            "picked_at",
            "packed_at",
            "shipped_at",
            "delivered_at",
            "received_by",
            "note",
            "lines",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class DeliveryPickInput(InputSerializer):
    line = serializers.IntegerField()
    quantity = serializers.DecimalField(**QUANTITY, min_value=0)
    lot = ScopedRelatedField(model=Lot, required=False, allow_null=True)


class DeliveryPicksInput(InputSerializer):
    # A ListField, not DeliveryPickInput(many=True, allow_null=True): DRF passes allow_null on to the items, and
    # ``[null]`` would reach the service as a pick.
    picks = serializers.ListField(child=DeliveryPickInput(), required=False, allow_null=True, default=None)


class DeliveryPackInput(InputSerializer):
    package_count = serializers.IntegerField(min_value=1, max_value=10000, default=1)
    weight = serializers.DecimalField(**QUANTITY, min_value=0, required=False, allow_null=True)


class DeliveryShipInput(InputSerializer):
    carrier = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    tracking_number = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    backorder = serializers.BooleanField(default=True)


class DeliveryDeliveredInput(InputSerializer):
    received_by = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    delivered_at = serializers.DateTimeField(required=False, allow_null=True)


PickSuggestion = inline_serializer(
    "DeliveryPickSuggestion",
    fields={
        "line": serializers.IntegerField(),
        "lot": serializers.IntegerField(allow_null=True),
        "lot_code": serializers.CharField(allow_null=True),
        "expiry_date": serializers.DateField(allow_null=True),
        "quantity": serializers.DecimalField(**QUANTITY),
    },
    many=True,
)


class SalesReturnLineOutput(OutputSerializer):
    sku = serializers.CharField(source="product.sku", read_only=True)

    class Meta:
        model = SalesReturnLine
        fields = ["id", "delivery_line", "sales_line", "product", "sku", "lot", "quantity"]
        read_only_fields = fields


class SalesReturnOutput(OutputSerializer):
    lines = SalesReturnLineOutput(many=True, read_only=True)

    class Meta:
        model = SalesReturn
        fields = [
            "id",
            "number",
            "delivery",
            "sales_order",
            "state",
            "destination",
            "location",
            "reason",
            "credit_note",
            "received_at",
            "lines",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class SalesReturnLineInput(InputSerializer):
    delivery_line = serializers.IntegerField()
    quantity = serializers.DecimalField(**QUANTITY)
    lot = ScopedRelatedField(model=Lot, required=False, allow_null=True)


class SalesReturnInput(InputSerializer):
    delivery = ScopedRelatedField(model=DeliveryOrder)
    reason = serializers.CharField(max_length=300)
    destination = serializers.ChoiceField(choices=ReturnDestination.choices, default=ReturnDestination.STOCK)
    lines = SalesReturnLineInput(many=True, allow_empty=False)


# ---------------------------------------------------------------- viewsets


class SalesViewSetMixin(InventoryViewSetMixin):
    """409 for state and stock conflicts (the inventory mixin), and the input helper."""


# 409 of ``confirm`` over the credit limit (issue #7, flow 12): the error with the reason, and the held order.
SalesOrderCreditHold = inline_serializer(
    "SalesOrderCreditHold",
    fields={
        "errors": inline_serializer(
            "SalesOrderCreditHoldError",
            fields={
                "field": serializers.CharField(allow_null=True),
                "code": serializers.CharField(help_text="credit_hold (or invalid_state when not a draft)"),
                "message": serializers.CharField(help_text="exposure + order total against the credit limit"),
            },
            many=True,
        ),
        "order": SalesOrderOutput(),
    },
)


class SalesOrderViewSet(SalesViewSetMixin, TenantReadOnlyViewSet):
    """Sales orders: created as drafts (priced from the customer's price list), changed while draft, then moved
    on only by actions. A salesperson sees their own orders, read-only."""

    queryset = SalesOrder.objects.select_related("partner").prefetch_related("lines__product", "lines__reservation")
    output_serializer_class = SalesOrderOutput
    input_serializer_class = SalesOrderInput
    update_input_serializer_class = SalesOrderUpdateInput
    filterset_fields = ("state", "invoice_status", "partner", "warehouse", "crm_account_id", "crm_opportunity_id")
    search_fields = ("number", "partner__name", "client_reference")
    ordering_fields = ("order_date", "number", "amount_total", "promised_date", "created_at")
    ordering = ("-id",)
    policy_actions = {
        "confirm": "confirm",
        "release": "release",
        "reserve": "reserve",
        "cancel": "cancel",
        "close": "close",
        "invoice": "invoice",
    }

    create = TenantModelViewSet.create
    update = TenantModelViewSet.update
    partial_update = TenantModelViewSet.partial_update

    def create_object(self, *, actor, data):
        data = dict(data)
        lines = [dict(line) for line in data.pop("lines")]
        data.setdefault("salesperson", actor.user)
        return services.sales_order_create(
            company=actor.company, partner=data.pop("partner"), lines=lines, by=actor.user, **data
        )

    def update_object(self, *, actor, instance, data):
        data = dict(data)
        if "lines" in data:
            data["lines"] = [dict(line) for line in data["lines"]]
        return services.sales_order_update(order=instance, by=actor.user, **data)

    @extend_schema(request=None, responses={200: SalesOrderOutput, 409: SalesOrderCreditHold})
    @action(detail=True, methods=["post"])
    def confirm(self, request, pk=None):
        """Confirm: credit check, reservation, deliveries. Over the credit limit: 409 ``credit_hold`` with the
        reason, and the order (saved on hold) under ``order``."""
        order = services.sales_order_confirm(order=self.get_object(), by=request.user)
        if order.state == SalesOrderState.HELD:
            body = error_body("credit_hold", order.hold_reason)
            body["order"] = self.output(order)
            return Response(body, status=status.HTTP_409_CONFLICT)
        return Response(self.output(order))

    @extend_schema(request=SalesHoldReleaseInput, responses={200: SalesOrderOutput})
    @action(detail=True, methods=["post"])
    def release(self, request, pk=None):
        """Release a credit hold (managers) and confirm the order."""
        order = self.get_object()
        data = self.input(SalesHoldReleaseInput, request)
        return Response(self.output(services.sales_order_release_hold(order=order, by=request.user, **data)))

    @extend_schema(request=None, responses={200: SalesOrderOutput})
    @action(detail=True, methods=["post"])
    def reserve(self, request, pk=None):
        """Check availability again and reserve what has become free."""
        return Response(self.output(services.sales_order_reserve(order=self.get_object(), by=request.user)))

    @extend_schema(request=SalesOrderCancelInput, responses={200: SalesOrderOutput})
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        """Cancel an order nothing of which was shipped (reservations released)."""
        order = self.get_object()
        data = self.input(SalesOrderCancelInput, request)
        return Response(self.output(services.sales_order_cancel(order=order, by=request.user, **data)))

    @extend_schema(request=None, responses={200: SalesOrderOutput})
    @action(detail=True, methods=["post"])
    def close(self, request, pk=None):
        """Mark a delivered and invoiced order done."""
        return Response(self.output(services.sales_order_close(order=self.get_object(), by=request.user)))

    @extend_schema(request=SalesOrderInvoiceInput, responses={201: InvoiceCreated})
    @action(detail=True, methods=["post"])
    def invoice(self, request, pk=None):
        """Invoice what was delivered and not yet invoiced (a draft customer invoice); 409 when nothing is."""
        order = self.get_object()
        data = self.input(SalesOrderInvoiceInput, request)
        invoice = services.sales_order_invoice(order=order, by=request.user, **data)
        return Response(
            {
                "invoice_id": invoice.pk,
                "kind": invoice.kind,
                "state": invoice.state,
                "amount_untaxed": str(invoice.amount_untaxed),
                "amount_tax": str(invoice.amount_tax),
                "amount_total": str(invoice.amount_total),
                "sales_order": order.pk,
            },
            status=status.HTTP_201_CREATED,
        )


class DeliveryOrderViewSet(SalesViewSetMixin, TenantReadOnlyViewSet):
    """Delivery orders per warehouse: pick (lots first-expiry-first unless named), pack, ship (carrier,
    tracking number; a backorder for the rest), confirm delivered."""

    queryset = DeliveryOrder.objects.select_related("sales_order").prefetch_related(
        "lines__product", "lines__picks__lot"
    )
    output_serializer_class = DeliveryOrderOutput
    filterset_fields = ("state", "warehouse", "sales_order", "backorder_of")
    search_fields = ("number", "tracking_number", "sales_order__number")
    ordering_fields = ("scheduled_date", "number", "created_at")
    ordering = ("-id",)
    policy_actions = {
        "pick": "pick",
        "suggestion": "view",
        "pack": "pack",
        "ship": "ship",
        "deliver": "deliver",
        "cancel": "cancel",
    }

    @extend_schema(responses={200: PickSuggestion})
    @action(detail=True, methods=["get"], pagination_class=None, filter_backends=[])
    def suggestion(self, request, pk=None):
        """What to pick: the reserved lots first-expiry-first, then free stock of lots not expired."""
        delivery = self.get_object()
        rows = []
        for line_id, items in services.pick_suggestion(delivery).items():
            for lot, quantity in items:
                rows.append(
                    {
                        "line": line_id,
                        "lot": lot.pk if lot else None,
                        "lot_code": lot.code if lot else None,
                        "expiry_date": lot.expiry_date.isoformat() if lot and lot.expiry_date else None,
                        "quantity": str(quantity),
                    }
                )
        return Response(rows)

    @extend_schema(request=DeliveryPicksInput, responses={200: DeliveryOrderOutput})
    @action(detail=True, methods=["post"])
    def pick(self, request, pk=None):
        """Record the picked quantities and lots (without ``picks``: the suggestion)."""
        delivery = self.get_object()
        data = self.input(DeliveryPicksInput, request)
        picks = None if data.get("picks") is None else [dict(pick) for pick in data["picks"]]
        return Response(self.output(services.delivery_pick(delivery=delivery, picks=picks, by=request.user)))

    @extend_schema(request=DeliveryPackInput, responses={200: DeliveryOrderOutput})
    @action(detail=True, methods=["post"])
    def pack(self, request, pk=None):
        """Record packages and weight."""
        delivery = self.get_object()
        data = self.input(DeliveryPackInput, request)
        return Response(self.output(services.delivery_pack(delivery=delivery, by=request.user, **data)))

    @extend_schema(request=DeliveryShipInput, responses={200: DeliveryOrderOutput})
    @action(detail=True, methods=["post"])
    def ship(self, request, pk=None):
        """Ship: stock leaves (reservations consumed), the rest goes to a backorder; 409 when stock is short."""
        delivery = self.get_object()
        data = self.input(DeliveryShipInput, request)
        return Response(self.output(services.delivery_ship(delivery=delivery, by=request.user, **data)))

    @extend_schema(request=DeliveryDeliveredInput, responses={200: DeliveryOrderOutput})
    @action(detail=True, methods=["post"])
    def deliver(self, request, pk=None):
        """The customer received the shipment (proof of delivery)."""
        delivery = self.get_object()
        data = self.input(DeliveryDeliveredInput, request)
        return Response(self.output(services.delivery_confirm_delivered(delivery=delivery, by=request.user, **data)))

    @extend_schema(request=None, responses={200: DeliveryOrderOutput})
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        """Cancel a delivery not yet shipped (its quantities are cancelled on the order)."""
        return Response(self.output(services.delivery_cancel(delivery=self.get_object(), by=request.user)))


class SalesReturnViewSet(SalesViewSetMixin, TenantReadOnlyViewSet):
    """Customer returns (RMA): authorised from a shipped delivery, then received to stock, quarantine or scrap
    with a credit note for what had been invoiced."""

    queryset = SalesReturn.objects.prefetch_related("lines__product")
    output_serializer_class = SalesReturnOutput
    input_serializer_class = SalesReturnInput
    filterset_fields = ("state", "destination", "delivery", "sales_order")
    search_fields = ("number", "reason")
    ordering_fields = ("created_at", "number")
    ordering = ("-id",)
    policy_actions = {"receive": "receive", "cancel": "cancel"}

    create = TenantModelViewSet.create

    def create_object(self, *, actor, data):
        data = dict(data)
        lines = [dict(line) for line in data.pop("lines")]
        return services.sales_return_create(by=actor.user, lines=lines, **data)

    @extend_schema(request=None, responses={200: SalesReturnOutput})
    @action(detail=True, methods=["post"])
    def receive(self, request, pk=None):
        """The goods came back: stock moves and the credit note."""
        return Response(self.output(services.sales_return_receive(sales_return=self.get_object(), by=request.user)))

    @extend_schema(request=None, responses={200: SalesReturnOutput})
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        """Cancel a return whose goods did not come back."""
        return Response(self.output(services.sales_return_cancel(sales_return=self.get_object(), by=request.user)))


# ---------------------------------------------------------------- routes (included at /api/v1/erp/)

router = SimpleRouter()
router.register("sales-orders", SalesOrderViewSet, basename="erp-sales-order")
router.register("deliveries", DeliveryOrderViewSet, basename="erp-delivery")
router.register("returns", SalesReturnViewSet, basename="erp-sales-return")

urlpatterns = router.urls
