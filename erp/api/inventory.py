"""The inventory REST API: /api/v1/erp/inventory/.

Thin, like every API here: the policy is checked (``PolicyPermission``, scoped querysets), input is validated
by an explicit input serializer, one service is called, the result is serialised. Stock is changed only by
explicit POST actions — ``moves/receive/``, ``moves/deliver/``, ``moves/transfer/``, ``adjustments/`` (a
request) with ``…/approve/`` and ``…/reject/``, ``reservations/reserve/`` with ``…/release/`` and
``…/consume/`` — never by editing a move, a quant or a reservation. Reads that other modules use are
``atp/`` (available-to-promise by date) and ``price/`` (the price of a quantity for a customer group).

Errors: bad input → 400 with field errors; a request the stock refuses (more than is free, a decided
adjustment, a closed reservation) → 409 with ``code`` (``insufficient_stock`` also gives ``requested`` and
``available``); nothing is written in either case.
"""

from __future__ import annotations

import datetime as dt

from django.urls import path
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.routers import SimpleRouter
from rest_framework.views import APIView

from erp.models import (
    CostMethod,
    IncomingSupply,
    Location,
    LocationKind,
    Lot,
    Partner,
    PriceList,
    PriceListItem,
    Product,
    ProductCategory,
    ProductSupplier,
    ReorderRule,
    StockAdjustment,
    StockMove,
    StockQuant,
    StockReservation,
    SupplyKind,
    UnitOfMeasure,
    UomConversion,
    UomDimension,
    Warehouse,
)
from erp.selectors import inventory as selectors
from erp.services import inventory as services
from suite import policy
from suite.api.errors import error_body
from suite.api.filters import FilterBackend
from suite.api.pagination import CursorPagination
from suite.api.permissions import PolicyPermission, request_actor
from suite.api.serializers import InputModelSerializer, InputSerializer, OutputSerializer, ScopedRelatedField
from suite.api.viewsets import TenantModelViewSet, TenantReadOnlyViewSet

QUANTITY = {"max_digits": 18, "decimal_places": 4}

# ---------------------------------------------------------------- serializers: master data


class UnitOfMeasureOutput(OutputSerializer):
    class Meta:
        model = UnitOfMeasure
        fields = ["id", "code", "name", "name_en", "dimension", "factor", "decimal_places", "is_active"]
        read_only_fields = fields


class UnitOfMeasureInput(InputModelSerializer):
    dimension = serializers.ChoiceField(choices=UomDimension.choices, required=False)
    decimal_places = serializers.IntegerField(min_value=0, max_value=4, required=False)

    class Meta:
        model = UnitOfMeasure
        fields = ["code", "name", "name_en", "dimension", "factor", "decimal_places", "is_active"]
        validators = []


class ProductCategoryOutput(OutputSerializer):
    class Meta:
        model = ProductCategory
        fields = ["id", "name", "name_en", "parent", "created_at", "updated_at"]
        read_only_fields = fields


class ProductCategoryInput(InputModelSerializer):
    parent = ScopedRelatedField(model=ProductCategory, allow_null=True, required=False)

    class Meta:
        model = ProductCategory
        fields = ["name", "name_en", "parent"]
        validators = []


class ProductOutput(OutputSerializer):
    uom_code = serializers.CharField(source="uom.code", read_only=True)
    category_name = serializers.CharField(source="category.name", read_only=True, default=None)

    class Meta:
        model = Product
        fields = [
            "id",
            "sku",
            "barcode",
            "name",
            "name_en",
            "description",
            "category",
            "category_name",
            "uom",
            "uom_code",
            "is_stockable",
            "tracks_lots",
            "cost_method",
            "average_cost",
            "list_price",
            "is_active",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class ProductInput(InputModelSerializer):
    category = ScopedRelatedField(model=ProductCategory, allow_null=True, required=False)
    uom = ScopedRelatedField(model=UnitOfMeasure)
    cost_method = serializers.ChoiceField(choices=CostMethod.choices, required=False)
    list_price = serializers.DecimalField(**QUANTITY, min_value=0, required=False)

    class Meta:
        model = Product
        fields = [
            "sku",
            "barcode",
            "name",
            "name_en",
            "description",
            "category",
            "uom",
            "is_stockable",
            "tracks_lots",
            "cost_method",
            "list_price",
            "is_active",
        ]
        validators = []


class UomConversionOutput(OutputSerializer):
    class Meta:
        model = UomConversion
        fields = ["id", "product", "uom", "factor"]
        read_only_fields = fields


class UomConversionInput(InputSerializer):
    product = ScopedRelatedField(model=Product)
    uom = ScopedRelatedField(model=UnitOfMeasure)
    factor = serializers.DecimalField(max_digits=18, decimal_places=6)


class UomConversionUpdateInput(InputSerializer):
    factor = serializers.DecimalField(max_digits=18, decimal_places=6)


class ProductSupplierOutput(OutputSerializer):
    class Meta:
        model = ProductSupplier
        fields = [
            "id",
            "product",
            "supplier_name",
            "partner",
            "supplier_sku",
            "lead_time_days",
            "min_order_quantity",
            "unit_price",
            "currency",
            "is_preferred",
        ]
        read_only_fields = fields


class ProductSupplierInput(InputModelSerializer):
    product = ScopedRelatedField(model=Product)
    partner = ScopedRelatedField(model=Partner, required=False, allow_null=True)

    class Meta:
        model = ProductSupplier
        fields = [
            "product",
            "supplier_name",
            "partner",
            "supplier_sku",
            "lead_time_days",
            "min_order_quantity",
            "unit_price",
            "currency",
            "is_preferred",
        ]
        validators = []


class ProductSupplierUpdateInput(ProductSupplierInput):
    class Meta(ProductSupplierInput.Meta):
        fields = [f for f in ProductSupplierInput.Meta.fields if f != "product"]


class PriceListOutput(OutputSerializer):
    class Meta:
        model = PriceList
        fields = ["id", "name", "name_en", "customer_group", "currency", "valid_from", "valid_to", "is_active"]
        read_only_fields = fields


class PriceListInput(InputModelSerializer):
    class Meta:
        model = PriceList
        fields = ["name", "name_en", "customer_group", "currency", "valid_from", "valid_to", "is_active"]
        validators = []


class PriceListItemOutput(OutputSerializer):
    sku = serializers.CharField(source="product.sku", read_only=True)

    class Meta:
        model = PriceListItem
        fields = ["id", "price_list", "product", "sku", "min_quantity", "unit_price"]
        read_only_fields = fields


class PriceListItemInput(InputSerializer):
    price_list = ScopedRelatedField(model=PriceList)
    product = ScopedRelatedField(model=Product)
    min_quantity = serializers.DecimalField(**QUANTITY, min_value=0, required=False)
    unit_price = serializers.DecimalField(**QUANTITY, min_value=0)


class PriceListItemUpdateInput(InputSerializer):
    min_quantity = serializers.DecimalField(**QUANTITY, min_value=0, required=False)
    unit_price = serializers.DecimalField(**QUANTITY, min_value=0, required=False)


class WarehouseOutput(OutputSerializer):
    class Meta:
        model = Warehouse
        fields = ["id", "code", "name", "name_en", "address", "is_active", "created_at", "updated_at"]
        read_only_fields = fields


class WarehouseInput(InputModelSerializer):
    class Meta:
        model = Warehouse
        fields = ["code", "name", "name_en", "address", "is_active"]
        validators = []


class LocationOutput(OutputSerializer):
    class Meta:
        model = Location
        fields = ["id", "warehouse", "code", "name", "name_en", "kind", "is_default", "is_active"]
        read_only_fields = fields


class LocationInput(InputModelSerializer):
    warehouse = ScopedRelatedField(model=Warehouse)

    class Meta:
        model = Location
        fields = ["warehouse", "code", "name", "name_en"]
        validators = []


class LocationUpdateInput(InputModelSerializer):
    class Meta:
        model = Location
        fields = ["code", "name", "name_en", "is_active"]
        validators = []


class LotOutput(OutputSerializer):
    sku = serializers.CharField(source="product.sku", read_only=True)

    class Meta:
        model = Lot
        fields = ["id", "product", "sku", "code", "production_date", "expiry_date", "note", "created_at"]
        read_only_fields = fields


class LotInput(InputModelSerializer):
    product = ScopedRelatedField(model=Product)

    class Meta:
        model = Lot
        fields = ["product", "code", "production_date", "expiry_date", "note"]
        validators = []


class LotUpdateInput(InputModelSerializer):
    class Meta:
        model = Lot
        fields = ["production_date", "expiry_date", "note"]
        validators = []


# ---------------------------------------------------------------- serializers: stock


class StockQuantOutput(OutputSerializer):
    sku = serializers.CharField(source="product.sku", read_only=True)
    lot_code = serializers.CharField(source="lot.code", read_only=True, default=None)
    free = serializers.DecimalField(**QUANTITY, read_only=True)

    class Meta:
        model = StockQuant
        fields = ["id", "product", "sku", "warehouse", "location", "lot", "lot_code", "quantity", "reserved", "free"]
        read_only_fields = fields


class StockMoveOutput(OutputSerializer):
    sku = serializers.CharField(source="product.sku", read_only=True)
    lot_code = serializers.CharField(source="lot.code", read_only=True, default=None)

    class Meta:
        model = StockMove
        fields = [
            "id",
            "product",
            "sku",
            "lot",
            "lot_code",
            "from_location",
            "to_location",
            "quantity",
            "kind",
            "reference",
            "moved_at",
            "unit_cost",
            "reservation",
            "created_by",
            "created_at",
        ]
        read_only_fields = fields


class MovesOutput(serializers.Serializer):
    moves = StockMoveOutput(many=True, read_only=True)


class _StockInput(InputSerializer):
    product = ScopedRelatedField(model=Product)
    quantity = serializers.DecimalField(**QUANTITY)
    uom = ScopedRelatedField(model=UnitOfMeasure, required=False, allow_null=True, help_text=_("Default: stock unit."))
    lot = ScopedRelatedField(model=Lot, required=False, allow_null=True)
    reference = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")


class ReceiveInput(_StockInput):
    warehouse = ScopedRelatedField(model=Warehouse, required=False, allow_null=True)
    location = ScopedRelatedField(model=Location, required=False, allow_null=True)
    unit_cost = serializers.DecimalField(**QUANTITY, required=False, allow_null=True)
    incoming_supply = ScopedRelatedField(model=IncomingSupply, required=False, allow_null=True)
    moved_at = serializers.DateTimeField(required=False, allow_null=True)


class DeliverInput(_StockInput):
    warehouse = ScopedRelatedField(model=Warehouse, required=False, allow_null=True)
    location = ScopedRelatedField(model=Location, required=False, allow_null=True)
    moved_at = serializers.DateTimeField(required=False, allow_null=True)


class TransferInput(_StockInput):
    from_warehouse = ScopedRelatedField(model=Warehouse, required=False, allow_null=True)
    from_location = ScopedRelatedField(model=Location, required=False, allow_null=True)
    to_warehouse = ScopedRelatedField(model=Warehouse, required=False, allow_null=True)
    to_location = ScopedRelatedField(model=Location, required=False, allow_null=True)
    moved_at = serializers.DateTimeField(required=False, allow_null=True)


class StockReservationOutput(OutputSerializer):
    sku = serializers.CharField(source="product.sku", read_only=True)
    open_quantity = serializers.DecimalField(**QUANTITY, read_only=True)

    class Meta:
        model = StockReservation
        fields = [
            "id",
            "product",
            "sku",
            "warehouse",
            "lot",
            "quantity",
            "consumed_quantity",
            "released_quantity",
            "open_quantity",
            "reference",
            "required_date",
            "state",
            "created_by",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class ReserveInput(_StockInput):
    warehouse = ScopedRelatedField(model=Warehouse)
    reference = serializers.CharField(max_length=100, help_text=_("What the stock is held for, e.g. SO-1024/3."))
    required_date = serializers.DateField(required=False, allow_null=True)


class ReleaseInput(InputSerializer):
    quantity = serializers.DecimalField(**QUANTITY, required=False, allow_null=True, help_text=_("Default: all."))


class ConsumeInput(ReleaseInput):
    to = serializers.ChoiceField(
        choices=[(LocationKind.CUSTOMER, _("Customers")), (LocationKind.PRODUCTION, _("Production"))],
        required=False,
        default=LocationKind.CUSTOMER,
    )
    reference = serializers.CharField(max_length=100, required=False, allow_null=True)
    moved_at = serializers.DateTimeField(required=False, allow_null=True)


class ConsumeOutput(serializers.Serializer):
    reservation = StockReservationOutput(read_only=True)
    moves = StockMoveOutput(many=True, read_only=True)


class StockAdjustmentOutput(OutputSerializer):
    sku = serializers.CharField(source="product.sku", read_only=True)

    class Meta:
        model = StockAdjustment
        fields = [
            "id",
            "product",
            "sku",
            "location",
            "lot",
            "quantity_delta",
            "reason",
            "state",
            "requested_by",
            "decided_by",
            "decided_at",
            "decision_note",
            "move",
            "created_at",
        ]
        read_only_fields = fields


class AdjustInput(InputSerializer):
    product = ScopedRelatedField(model=Product)
    location = ScopedRelatedField(model=Location)
    lot = ScopedRelatedField(model=Lot, required=False, allow_null=True)
    uom = ScopedRelatedField(model=UnitOfMeasure, required=False, allow_null=True)
    quantity_delta = serializers.DecimalField(**QUANTITY, help_text=_("Positive: found; negative: lost or damaged."))
    reason = serializers.CharField(max_length=200)


class RejectInput(InputSerializer):
    note = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")


class IncomingSupplyOutput(OutputSerializer):
    sku = serializers.CharField(source="product.sku", read_only=True)
    open_quantity = serializers.DecimalField(**QUANTITY, read_only=True)

    class Meta:
        model = IncomingSupply
        fields = [
            "id",
            "product",
            "sku",
            "warehouse",
            "kind",
            "expected_date",
            "quantity",
            "received_quantity",
            "open_quantity",
            "reference",
            "state",
            "created_at",
        ]
        read_only_fields = fields


class IncomingSupplyInput(InputSerializer):
    product = ScopedRelatedField(model=Product)
    warehouse = ScopedRelatedField(model=Warehouse)
    kind = serializers.ChoiceField(choices=SupplyKind.choices, required=False, default=SupplyKind.PURCHASE)
    expected_date = serializers.DateField()
    quantity = serializers.DecimalField(**QUANTITY)
    reference = serializers.CharField(max_length=100)


class IncomingSupplyUpdateInput(InputSerializer):
    expected_date = serializers.DateField(required=False)
    quantity = serializers.DecimalField(**QUANTITY, required=False)


class ReorderRuleOutput(OutputSerializer):
    sku = serializers.CharField(source="product.sku", read_only=True)

    class Meta:
        model = ReorderRule
        fields = ["id", "product", "sku", "warehouse", "min_quantity", "max_quantity", "multiple", "is_active"]
        read_only_fields = fields


class ReorderRuleInput(InputSerializer):
    product = ScopedRelatedField(model=Product)
    warehouse = ScopedRelatedField(model=Warehouse)
    min_quantity = serializers.DecimalField(**QUANTITY, min_value=0)
    max_quantity = serializers.DecimalField(**QUANTITY, min_value=0)
    multiple = serializers.DecimalField(**QUANTITY, required=False)


class ReorderRuleUpdateInput(InputSerializer):
    min_quantity = serializers.DecimalField(**QUANTITY, min_value=0, required=False)
    max_quantity = serializers.DecimalField(**QUANTITY, min_value=0, required=False)
    multiple = serializers.DecimalField(**QUANTITY, required=False)
    is_active = serializers.BooleanField(required=False)


class ReorderSuggestionOutput(serializers.Serializer):
    rule_id = serializers.IntegerField()
    product_id = serializers.IntegerField()
    sku = serializers.CharField()
    warehouse_id = serializers.IntegerField()
    free = serializers.DecimalField(**QUANTITY)
    incoming = serializers.DecimalField(**QUANTITY)
    projected = serializers.DecimalField(**QUANTITY)
    min_quantity = serializers.DecimalField(**QUANTITY)
    max_quantity = serializers.DecimalField(**QUANTITY)
    suggested_quantity = serializers.DecimalField(**QUANTITY)
    supplier_name = serializers.CharField()
    lead_time_days = serializers.IntegerField()
    expected_date = serializers.DateField()


# ---------------------------------------------------------------- viewsets


class InventoryViewSetMixin:
    """Stock conflicts as 409 in the one error format (with what was asked and what is free)."""

    def handle_exception(self, exc):
        if isinstance(exc, services.StockConflict):
            body = error_body(exc.code, exc.message, exc.field)
            if isinstance(exc, services.InsufficientStock):
                body["requested"] = str(exc.requested)
                body["available"] = str(exc.available)
            return Response(body, status=status.HTTP_409_CONFLICT)
        return super().handle_exception(exc)

    def input(self, serializer_class, request):
        serializer = serializer_class(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data


class CreateUpdateViewSet(InventoryViewSetMixin, TenantReadOnlyViewSet):
    """List, retrieve, create, update — no delete (records that history refers to are retired, not deleted)."""

    create = TenantModelViewSet.create
    update = TenantModelViewSet.update
    partial_update = TenantModelViewSet.partial_update


class CrudViewSet(InventoryViewSetMixin, TenantModelViewSet):
    """List, retrieve, create, update, delete — through services."""


class UnitOfMeasureViewSet(CreateUpdateViewSet):
    """Units of measure; units of one dimension convert by their factors."""

    queryset = UnitOfMeasure.objects.all()
    output_serializer_class = UnitOfMeasureOutput
    input_serializer_class = UnitOfMeasureInput
    filterset_fields = ("dimension", "is_active")
    ordering_fields = ("code", "dimension")
    ordering = ("dimension", "code")

    def create_object(self, *, actor, data):
        return services.uom_create(company=actor.company, by=actor.user, **data)

    def update_object(self, *, actor, instance, data):
        return services.uom_update(uom=instance, by=actor.user, **data)


class ProductCategoryViewSet(CreateUpdateViewSet):
    queryset = ProductCategory.objects.all()
    output_serializer_class = ProductCategoryOutput
    input_serializer_class = ProductCategoryInput
    filterset_fields = ("parent",)
    search_fields = ("name", "name_en")
    ordering_fields = ("name",)
    ordering = ("name",)

    def create_object(self, *, actor, data):
        return services.product_category_create(company=actor.company, by=actor.user, **data)

    def update_object(self, *, actor, instance, data):
        return services.product_category_update(category=instance, by=actor.user, **data)


class ProductViewSet(CreateUpdateViewSet):
    """Products: SKU (unique in the company), barcode, names, category, stock unit, cost method. Retired with
    ``is_active`` rather than deleted; the average cost follows receipts and is hidden from sales."""

    queryset = Product.objects.select_related("uom", "category")
    output_serializer_class = ProductOutput
    input_serializer_class = ProductInput
    filterset_fields = ("category", "is_active", "is_stockable", "tracks_lots", "uom")
    search_fields = ("sku", "barcode", "name", "name_en")
    ordering_fields = ("sku", "name", "list_price", "created_at", "updated_at")
    ordering = ("sku",)

    def create_object(self, *, actor, data):
        return services.product_create(company=actor.company, by=actor.user, **data)

    def update_object(self, *, actor, instance, data):
        return services.product_update(product=instance, by=actor.user, **data)


class UomConversionViewSet(CrudViewSet):
    """A product's own units (packaging): 1 ``uom`` = ``factor`` stock units."""

    queryset = UomConversion.objects.all()
    output_serializer_class = UomConversionOutput
    input_serializer_class = UomConversionInput
    update_input_serializer_class = UomConversionUpdateInput
    filterset_fields = ("product",)
    ordering = ("product", "uom")

    def create_object(self, *, actor, data):
        return services.uom_conversion_set(by=actor.user, **data)

    def update_object(self, *, actor, instance, data):
        return services.uom_conversion_set(product=instance.product, uom=instance.uom, by=actor.user, **data)

    def delete_object(self, *, actor, instance):
        services.uom_conversion_delete(conversion=instance, by=actor.user)


class ProductSupplierViewSet(CrudViewSet):
    """Who supplies a product, at what lead time (the supplier is a name until procurement's register)."""

    queryset = ProductSupplier.objects.all()
    output_serializer_class = ProductSupplierOutput
    input_serializer_class = ProductSupplierInput
    update_input_serializer_class = ProductSupplierUpdateInput
    filterset_fields = ("product", "is_preferred")
    search_fields = ("supplier_name",)
    ordering_fields = ("supplier_name", "lead_time_days")
    ordering = ("product", "-is_preferred", "lead_time_days")

    def create_object(self, *, actor, data):
        return services.product_supplier_create(by=actor.user, **data)

    def update_object(self, *, actor, instance, data):
        return services.product_supplier_update(supplier=instance, by=actor.user, **data)

    def delete_object(self, *, actor, instance):
        services.product_supplier_delete(supplier=instance, by=actor.user)


class PriceListViewSet(CreateUpdateViewSet):
    """Price lists per customer group and currency with validity dates."""

    queryset = PriceList.objects.all()
    output_serializer_class = PriceListOutput
    input_serializer_class = PriceListInput
    filterset_fields = ("currency", "customer_group", "is_active")
    search_fields = ("name", "name_en")
    ordering_fields = ("name", "valid_from")
    ordering = ("currency", "customer_group", "name")

    def create_object(self, *, actor, data):
        return services.price_list_create(company=actor.company, by=actor.user, **data)

    def update_object(self, *, actor, instance, data):
        return services.price_list_update(price_list=instance, by=actor.user, **data)


class PriceListItemViewSet(CrudViewSet):
    """Prices of products on price lists, by quantity tier (``min_quantity``)."""

    queryset = PriceListItem.objects.select_related("product")
    output_serializer_class = PriceListItemOutput
    input_serializer_class = PriceListItemInput
    update_input_serializer_class = PriceListItemUpdateInput
    filterset_fields = ("price_list", "product")
    ordering = ("price_list", "product", "min_quantity")

    def create_object(self, *, actor, data):
        return services.price_list_item_set(by=actor.user, **data)

    def update_object(self, *, actor, instance, data):
        return services.price_list_item_update(item=instance, by=actor.user, **data)

    def delete_object(self, *, actor, instance):
        services.price_list_item_delete(item=instance, by=actor.user)


class WarehouseViewSet(CreateUpdateViewSet):
    """Warehouses; each comes with its default stock location."""

    queryset = Warehouse.objects.all()
    output_serializer_class = WarehouseOutput
    input_serializer_class = WarehouseInput
    filterset_fields = ("is_active",)
    search_fields = ("code", "name", "name_en")
    ordering_fields = ("code", "name")
    ordering = ("code",)

    def create_object(self, *, actor, data):
        data.pop("is_active", None)
        return services.warehouse_create(company=actor.company, by=actor.user, **data)

    def update_object(self, *, actor, instance, data):
        return services.warehouse_update(warehouse=instance, by=actor.user, **data)


class LocationViewSet(CreateUpdateViewSet):
    """Locations: the internal ones of warehouses and the company's virtual ones (suppliers, customers …)."""

    queryset = Location.objects.all()
    output_serializer_class = LocationOutput
    input_serializer_class = LocationInput
    update_input_serializer_class = LocationUpdateInput
    filterset_fields = ("warehouse", "kind", "is_active")
    search_fields = ("code", "name")
    ordering_fields = ("code",)
    ordering = ("warehouse", "code")

    def create_object(self, *, actor, data):
        return services.location_create(by=actor.user, **data)

    def update_object(self, *, actor, instance, data):
        return services.location_update(location=instance, by=actor.user, **data)


class LotViewSet(CreateUpdateViewSet):
    """Lots (batches) of lot-tracked products with production and expiry dates."""

    queryset = Lot.objects.select_related("product")
    output_serializer_class = LotOutput
    input_serializer_class = LotInput
    update_input_serializer_class = LotUpdateInput
    filterset_fields = ("product", "code", "expiry_date")
    ordering_fields = ("code", "expiry_date")
    ordering = ("product", "expiry_date", "code")

    def create_object(self, *, actor, data):
        return services.lot_create(by=actor.user, **data)

    def update_object(self, *, actor, instance, data):
        return services.lot_update(lot=instance, by=actor.user, **data)


class StockQuantViewSet(InventoryViewSetMixin, TenantReadOnlyViewSet):
    """Stock on hand per product, location and lot, with what is reserved (read-only: it follows the moves)."""

    queryset = StockQuant.objects.select_related("product", "lot")
    output_serializer_class = StockQuantOutput
    filterset_fields = ("product", "warehouse", "location", "lot")
    ordering_fields = ("quantity", "reserved")
    ordering = ("product", "location", "lot")


class StockMoveViewSet(InventoryViewSetMixin, TenantReadOnlyViewSet):
    """The stock ledger (read-only, newest first, cursor-paginated) and the actions that add to it."""

    queryset = StockMove.objects.select_related("product", "lot")
    output_serializer_class = StockMoveOutput
    pagination_class = CursorPagination
    filter_backends = [FilterBackend]
    filterset_fields = ("product", "kind", "lot", "reference", "from_location", "to_location", "reservation")
    policy_actions = {"receive": "receive", "deliver": "deliver", "transfer": "transfer"}

    @extend_schema(request=ReceiveInput, responses={201: StockMoveOutput})
    @action(detail=False, methods=["post"])
    def receive(self, request):
        """Receive stock from a supplier into a warehouse (its default location) or a location."""
        data = self.input(ReceiveInput, request)
        move = services.stock_receive(by=request.user, **data)
        return Response(self.output(move), status=status.HTTP_201_CREATED)

    @extend_schema(request=DeliverInput, responses={201: MovesOutput})
    @action(detail=False, methods=["post"])
    def deliver(self, request):
        """Deliver free stock to a customer (first expiry first); 409 when free stock is short."""
        data = self.input(DeliverInput, request)
        moves = services.stock_deliver(by=request.user, **data)
        return Response(self.moves_output(moves), status=status.HTTP_201_CREATED)

    @extend_schema(request=TransferInput, responses={201: MovesOutput})
    @action(detail=False, methods=["post"])
    def transfer(self, request):
        """Move free stock to another location or warehouse; 409 when free stock at the source is short."""
        data = self.input(TransferInput, request)
        moves = services.stock_transfer(by=request.user, **data)
        return Response(self.moves_output(moves), status=status.HTTP_201_CREATED)

    def moves_output(self, moves) -> dict:
        rows = StockMove.objects.filter(pk__in=[m.pk for m in moves]).select_related("product", "lot").order_by("pk")
        return {"moves": StockMoveOutput(rows, many=True, context=self.get_serializer_context()).data}


class StockReservationViewSet(InventoryViewSetMixin, TenantReadOnlyViewSet):
    """Reservations of free stock for sales order lines or production orders."""

    queryset = StockReservation.objects.select_related("product")
    output_serializer_class = StockReservationOutput
    filterset_fields = ("product", "warehouse", "state", "reference")
    ordering_fields = ("created_at", "required_date")
    ordering = ("-id",)
    policy_actions = {"reserve": "reserve", "release": "release", "consume": "consume"}

    @extend_schema(request=ReserveInput, responses={201: StockReservationOutput})
    @action(detail=False, methods=["post"])
    def reserve(self, request):
        """Hold free stock in a warehouse for a reference; 409 when less is free than asked for."""
        data = self.input(ReserveInput, request)
        reservation = services.stock_reserve(by=request.user, **data)
        return Response(self.output(reservation), status=status.HTTP_201_CREATED)

    @extend_schema(request=ReleaseInput, responses={200: StockReservationOutput})
    @action(detail=True, methods=["post"])
    def release(self, request, pk=None):
        """Give back all (or ``quantity``) of what the reservation holds."""
        reservation = self.get_object()
        data = self.input(ReleaseInput, request)
        reservation = services.stock_release(reservation=reservation, by=request.user, **data)
        return Response(self.output(reservation))

    @extend_schema(request=ConsumeInput, responses={201: ConsumeOutput})
    @action(detail=True, methods=["post"])
    def consume(self, request, pk=None):
        """Deliver all (or ``quantity``) of the reserved stock to the customer or to production."""
        reservation = self.get_object()
        data = self.input(ConsumeInput, request)
        moves = services.stock_consume_reservation(reservation=reservation, by=request.user, **data)
        context = self.get_serializer_context()
        rows = StockMove.objects.filter(pk__in=[m.pk for m in moves]).select_related("product", "lot").order_by("pk")
        return Response(
            {"reservation": self.output(reservation), "moves": StockMoveOutput(rows, many=True, context=context).data},
            status=status.HTTP_201_CREATED,
        )


class StockAdjustmentViewSet(InventoryViewSetMixin, TenantReadOnlyViewSet):
    """Adjustments: requested (POST), then approved (applied) or rejected by a manager — never by the
    requester."""

    queryset = StockAdjustment.objects.select_related("product")
    output_serializer_class = StockAdjustmentOutput
    input_serializer_class = AdjustInput
    filterset_fields = ("product", "location", "state")
    ordering_fields = ("created_at",)
    ordering = ("-id",)
    policy_actions = {"approve": "approve", "reject": "approve"}

    create = TenantModelViewSet.create

    def create_object(self, *, actor, data):
        return services.stock_adjust(by=actor.user, **data)

    @extend_schema(request=None, responses={200: StockAdjustmentOutput})
    @action(detail=True, methods=["post"])
    def approve(self, request, pk=None):
        """Approve the adjustment and apply it to stock (409 if it would take reserved or missing stock)."""
        adjustment = services.stock_adjustment_approve(adjustment=self.get_object(), by=request.user)
        return Response(self.output(adjustment))

    @extend_schema(request=RejectInput, responses={200: StockAdjustmentOutput})
    @action(detail=True, methods=["post"])
    def reject(self, request, pk=None):
        """Reject the adjustment (nothing moves)."""
        adjustment = self.get_object()
        data = self.input(RejectInput, request)
        adjustment = services.stock_adjustment_reject(adjustment=adjustment, by=request.user, **data)
        return Response(self.output(adjustment))


class IncomingSupplyViewSet(InventoryViewSetMixin, TenantReadOnlyViewSet):
    """Stock expected in a warehouse by date (purchase receipts, planned production), counted by ATP."""

    queryset = IncomingSupply.objects.select_related("product")
    output_serializer_class = IncomingSupplyOutput
    input_serializer_class = IncomingSupplyInput
    update_input_serializer_class = IncomingSupplyUpdateInput
    filterset_fields = ("product", "warehouse", "state", "kind", "reference")
    ordering_fields = ("expected_date",)
    ordering = ("expected_date", "id")
    policy_actions = {"cancel": "cancel"}

    create = TenantModelViewSet.create
    update = TenantModelViewSet.update
    partial_update = TenantModelViewSet.partial_update

    def create_object(self, *, actor, data):
        return services.incoming_supply_plan(by=actor.user, **data)

    def update_object(self, *, actor, instance, data):
        return services.incoming_supply_update(supply=instance, by=actor.user, **data)

    @extend_schema(request=None, responses={200: IncomingSupplyOutput})
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        """Stop expecting this supply."""
        supply = services.incoming_supply_cancel(supply=self.get_object(), by=request.user)
        return Response(self.output(supply))


class ReorderRuleViewSet(CrudViewSet):
    """Reorder points per product and warehouse; ``suggestions/`` lists what to order now."""

    queryset = ReorderRule.objects.select_related("product")
    output_serializer_class = ReorderRuleOutput
    input_serializer_class = ReorderRuleInput
    update_input_serializer_class = ReorderRuleUpdateInput
    filterset_fields = ("product", "warehouse", "is_active")
    ordering = ("warehouse", "product")

    def create_object(self, *, actor, data):
        return services.reorder_rule_create(by=actor.user, **data)

    def update_object(self, *, actor, instance, data):
        return services.reorder_rule_update(rule=instance, by=actor.user, **data)

    def delete_object(self, *, actor, instance):
        services.reorder_rule_delete(rule=instance, by=actor.user)

    @extend_schema(responses={200: ReorderSuggestionOutput(many=True)})
    @action(detail=False, methods=["get"], pagination_class=None, filter_backends=[])
    def suggestions(self, request):
        """What to order now: rules whose free stock plus expected supply is below the reorder point
        (``?warehouse=`` narrows to one warehouse)."""
        warehouse = None
        if request.query_params.get("warehouse"):
            warehouse = _scoped_or_400(self.actor, Warehouse, request.query_params["warehouse"], "warehouse")
        rows = selectors.reorder_suggestions(company=self.actor.company_id, warehouse=warehouse)
        return Response(ReorderSuggestionOutput(rows, many=True).data)


def _scoped_or_400(actor, model, value, field):
    try:
        return policy.scope(actor, model.objects.all()).get(pk=int(value))
    except (ValueError, TypeError, model.DoesNotExist):
        raise serializers.ValidationError({field: [_("Unknown record.")]}) from None


# ---------------------------------------------------------------- reads for other modules: ATP and price


class AtpQuery(InputSerializer):
    product = ScopedRelatedField(model=Product)
    warehouse = ScopedRelatedField(model=Warehouse, required=False, allow_null=True)
    quantity = serializers.DecimalField(**QUANTITY, required=False, min_value=0)
    horizon_days = serializers.IntegerField(required=False, min_value=1, max_value=366, default=90)
    start = serializers.DateField(required=False)


AtpOutput = inline_serializer(
    "AvailableToPromise",
    fields={
        "product": serializers.IntegerField(),
        "warehouse": serializers.IntegerField(allow_null=True),
        "on_hand": serializers.DecimalField(**QUANTITY),
        "reserved": serializers.DecimalField(**QUANTITY),
        "free": serializers.DecimalField(**QUANTITY),
        "quantity": serializers.DecimalField(**QUANTITY, allow_null=True),
        "earliest_date": serializers.DateField(allow_null=True),
        "days": inline_serializer(
            "AvailableToPromiseDay",
            fields={
                "date": serializers.DateField(),
                "incoming": serializers.DecimalField(**QUANTITY),
                "expiring": serializers.DecimalField(**QUANTITY),
                "available": serializers.DecimalField(**QUANTITY),
            },
            many=True,
        ),
    },
)


class _ReadView(APIView):
    permission_classes = [PolicyPermission]
    policy_model = Product
    policy_action = "view"

    def query(self, serializer_class, request):
        context = {"request": request, "actor": request_actor(request), "view": self}
        serializer = serializer_class(data=request.query_params, context=context)
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data


class AvailableToPromiseView(_ReadView):
    """Available-to-promise of a product per day (``?product=&warehouse=&quantity=&horizon_days=&start=``):
    free stock plus expected supply, cumulative; with ``quantity``, the earliest date it can be promised."""

    @extend_schema(parameters=[AtpQuery], responses={200: AtpOutput})
    def get(self, request):
        data = self.query(AtpQuery, request)
        actor = request_actor(request)
        atp = selectors.available_to_promise(
            company=actor.company_id,
            product=data["product"],
            warehouse=data.get("warehouse"),
            horizon_days=data["horizon_days"],
            start=data.get("start"),
        )
        quantity = data.get("quantity")
        body = {
            "product": atp.product_id,
            "warehouse": atp.warehouse_id,
            "on_hand": str(atp.on_hand),
            "reserved": str(atp.reserved),
            "free": str(atp.free),
            "quantity": str(quantity) if quantity is not None else None,
            "earliest_date": _iso(atp.earliest_date_for(quantity)) if quantity is not None else None,
            "days": [
                {
                    "date": day.date.isoformat(),
                    "incoming": str(day.incoming),
                    "expiring": str(day.expiring),
                    "available": str(day.available),
                }
                for day in atp.days
            ],
        }
        return Response(body)


def _iso(day: dt.date | None) -> str | None:
    return day.isoformat() if day else None


class PriceQuery(InputSerializer):
    product = ScopedRelatedField(model=Product)
    quantity = serializers.DecimalField(**QUANTITY, required=False, min_value=0, default=1)
    customer_group = serializers.SlugField(max_length=50, required=False, allow_blank=True)
    currency = serializers.RegexField(r"^[A-Z]{3}$", required=False, default="CNY")
    on = serializers.DateField(required=False)


PriceOutput = inline_serializer(
    "ProductPrice",
    fields={
        "product": serializers.IntegerField(),
        "quantity": serializers.DecimalField(**QUANTITY),
        "unit_price": serializers.DecimalField(**QUANTITY),
        "currency": serializers.CharField(),
        "source": serializers.ChoiceField(choices=["price_list", "list_price"]),
        "price_list": serializers.IntegerField(allow_null=True),
        "min_quantity": serializers.DecimalField(**QUANTITY),
    },
)


class PriceView(_ReadView):
    """The unit price of ``quantity`` of a product for a customer group in a currency on a date (price list
    tier, else the list price); 404 when the product has no price in that currency."""

    @extend_schema(parameters=[PriceQuery], responses={200: PriceOutput})
    def get(self, request):
        data = self.query(PriceQuery, request)
        price = selectors.price_for(
            company=request_actor(request).company_id,
            product=data["product"],
            quantity=data["quantity"],
            customer_group=data.get("customer_group") or None,
            currency=data["currency"],
            on=data.get("on"),
        )
        if price is None:
            return Response(
                error_body("no_price", _("No price for this product in this currency."), "currency"),
                status=status.HTTP_404_NOT_FOUND,
            )
        return Response(
            {
                "product": data["product"].pk,
                "quantity": str(data["quantity"]),
                "unit_price": str(price.unit_price),
                "currency": price.currency,
                "source": price.source,
                "price_list": price.price_list_id,
                "min_quantity": str(price.min_quantity),
            }
        )


# ---------------------------------------------------------------- routes (included at /api/v1/erp/inventory/)

router = SimpleRouter()
router.register("units", UnitOfMeasureViewSet, basename="erp-uom")
router.register("categories", ProductCategoryViewSet, basename="erp-product-category")
router.register("products", ProductViewSet, basename="erp-product")
router.register("unit-conversions", UomConversionViewSet, basename="erp-uom-conversion")
router.register("product-suppliers", ProductSupplierViewSet, basename="erp-product-supplier")
router.register("price-lists", PriceListViewSet, basename="erp-price-list")
router.register("price-list-items", PriceListItemViewSet, basename="erp-price-list-item")
router.register("warehouses", WarehouseViewSet, basename="erp-warehouse")
router.register("locations", LocationViewSet, basename="erp-location")
router.register("lots", LotViewSet, basename="erp-lot")
router.register("quants", StockQuantViewSet, basename="erp-stock-quant")
router.register("moves", StockMoveViewSet, basename="erp-stock-move")
router.register("reservations", StockReservationViewSet, basename="erp-stock-reservation")
router.register("adjustments", StockAdjustmentViewSet, basename="erp-stock-adjustment")
router.register("incoming", IncomingSupplyViewSet, basename="erp-incoming-supply")
router.register("reorder-rules", ReorderRuleViewSet, basename="erp-reorder-rule")


urlpatterns = [
    path("atp/", AvailableToPromiseView.as_view(), name="erp-inventory-atp"),
    path("price/", PriceView.as_view(), name="erp-inventory-price"),
    *router.urls,
]
