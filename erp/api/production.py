"""The production REST API, under /api/v1/erp/production/:

``work-calendars/``, ``work-centers/``, ``routings/``, ``boms/`` (``…/archive/``), ``planning/`` (product
planning: make/buy, lead time, safety stock, lot sizing), ``forecasts/`` (``replace/``: all lines of a source),
``mrp-runs/`` (POST queues a run; GET shows status and progress), ``planned-orders/`` (``…/confirm/``,
``…/dismiss/``), ``orders/`` (production orders: ``…/release/``, ``…/issue/``, ``…/receive/``, ``…/cancel/``,
``schedule/``), ``operations/`` (``…/start/``, ``…/stop/``, ``…/report/``), ``operation-reports/`` (who
reported what, read only), ``inspection-plans/``, ``inspections/``, ``non-conformances/`` (``…/close/``) and
``defect-rates/``.

State changes are explicit POST actions. Bad input → 400 with field errors; a request the state or the stock
refuses → 409 with ``code``; nothing is written in either case.
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
    Bom,
    BomLine,
    DemandForecast,
    Inspection,
    InspectionPlan,
    Lot,
    MrpRun,
    NonConformance,
    OperationReport,
    PlannedOrder,
    Product,
    ProductionMaterial,
    ProductionOperation,
    ProductionOrder,
    ProductPlanning,
    Routing,
    RoutingOperation,
    Warehouse,
    WorkCalendar,
    WorkCenter,
)
from erp.selectors import production as selectors
from erp.services import mrp
from erp.services import production as services
from suite.api.permissions import PolicyPermission, request_actor
from suite.api.serializers import InputSerializer, OutputSerializer, ScopedRelatedField
from suite.api.viewsets import TenantModelViewSet, TenantReadOnlyViewSet

QUANTITY = {"max_digits": 18, "decimal_places": 4}
RATE = {"max_digits": 18, "decimal_places": 4}

# ---------------------------------------------------------------- serializers: planning data


class WorkCalendarOutput(OutputSerializer):
    class Meta:
        model = WorkCalendar
        fields = ["id", "name", "shifts", "closed_dates", "created_at"]
        read_only_fields = fields


class WorkCalendarInput(InputSerializer):
    name = serializers.CharField(max_length=100)
    shifts = serializers.DictField(
        child=serializers.ListField(child=serializers.ListField(child=serializers.CharField(), min_length=2)),
        required=False,
        help_text="Shifts per weekday (0 = Monday): {'0': [['08:00', '12:00'], ['13:00', '17:00']]}",
    )
    closed_dates = serializers.ListField(child=serializers.DateField(), required=False)


class WorkCenterOutput(OutputSerializer):
    class Meta:
        model = WorkCenter
        fields = ["id", "code", "name", "calendar", "units", "labour_rate", "overhead_rate", "is_active"]
        read_only_fields = fields


class WorkCenterInput(InputSerializer):
    code = serializers.CharField(max_length=20)
    name = serializers.CharField(max_length=100)
    calendar = ScopedRelatedField(model=WorkCalendar, required=False, allow_null=True)
    units = serializers.IntegerField(min_value=1, max_value=1000, required=False, default=1)
    labour_rate = serializers.DecimalField(**RATE, min_value=0, required=False)
    overhead_rate = serializers.DecimalField(**RATE, min_value=0, required=False)


class WorkCenterUpdateInput(InputSerializer):
    name = serializers.CharField(max_length=100, required=False)
    calendar = ScopedRelatedField(model=WorkCalendar, required=False)
    units = serializers.IntegerField(min_value=1, max_value=1000, required=False)
    labour_rate = serializers.DecimalField(**RATE, min_value=0, required=False)
    overhead_rate = serializers.DecimalField(**RATE, min_value=0, required=False)
    is_active = serializers.BooleanField(required=False)


class RoutingOperationOutput(OutputSerializer):
    class Meta:
        model = RoutingOperation
        fields = ["id", "sequence", "name", "work_center", "setup_minutes", "run_minutes", "queue_minutes"]
        read_only_fields = fields


class RoutingOutput(OutputSerializer):
    operations = RoutingOperationOutput(many=True, read_only=True)

    class Meta:
        model = Routing
        fields = ["id", "name", "is_active", "operations"]
        read_only_fields = fields


class RoutingOperationInput(InputSerializer):
    sequence = serializers.IntegerField(min_value=1, max_value=32000, required=False)
    name = serializers.CharField(max_length=100)
    work_center = ScopedRelatedField(model=WorkCenter)
    setup_minutes = serializers.IntegerField(min_value=0, required=False, default=0)
    run_minutes = serializers.DecimalField(**RATE, min_value=0, required=False)
    queue_minutes = serializers.IntegerField(min_value=0, required=False, default=0)


class RoutingInput(InputSerializer):
    name = serializers.CharField(max_length=100)
    operations = RoutingOperationInput(many=True)


class BomLineOutput(OutputSerializer):
    sku = serializers.CharField(source="component.sku", read_only=True)

    class Meta:
        model = BomLine
        fields = ["id", "component", "sku", "quantity", "scrap_factor", "sequence"]
        read_only_fields = fields


class BomOutput(OutputSerializer):
    lines = BomLineOutput(many=True, read_only=True)

    class Meta:
        model = Bom
        fields = [
            "id",
            "product",
            "version",
            "quantity",
            "effective_from",
            "effective_to",
            "routing",
            "is_active",
            "note",
            "lines",
        ]
        read_only_fields = fields


class BomLineInput(InputSerializer):
    component = ScopedRelatedField(model=Product)
    quantity = serializers.DecimalField(**QUANTITY)
    scrap_factor = serializers.DecimalField(max_digits=7, decimal_places=6, min_value=0, required=False)


class BomInput(InputSerializer):
    product = ScopedRelatedField(model=Product)
    version = serializers.CharField(max_length=20, required=False, default="1")
    quantity = serializers.DecimalField(**QUANTITY, required=False)
    effective_from = serializers.DateField(required=False, allow_null=True)
    effective_to = serializers.DateField(required=False, allow_null=True)
    routing = ScopedRelatedField(model=Routing, required=False, allow_null=True)
    note = serializers.CharField(max_length=200, required=False, allow_blank=True)
    lines = BomLineInput(many=True)


class PlanningOutput(OutputSerializer):
    class Meta:
        model = ProductPlanning
        fields = ["id", "product", "procurement", "lead_time_days", "safety_stock", "lot_rule", "lot_size"]
        read_only_fields = fields


class PlanningInput(InputSerializer):
    product = ScopedRelatedField(model=Product)
    procurement = serializers.ChoiceField(choices=["make", "buy"], required=False)
    lead_time_days = serializers.IntegerField(min_value=0, max_value=3650, required=False)
    safety_stock = serializers.DecimalField(**QUANTITY, min_value=0, required=False)
    lot_rule = serializers.ChoiceField(choices=["lot_for_lot", "fixed", "minimum"], required=False)
    lot_size = serializers.DecimalField(**QUANTITY, min_value=0, required=False)


class ForecastOutput(OutputSerializer):
    class Meta:
        model = DemandForecast
        fields = ["id", "product", "date", "quantity", "source", "note", "reference"]
        read_only_fields = fields


class ForecastLineInput(InputSerializer):
    product = ScopedRelatedField(model=Product)
    date = serializers.DateField()
    quantity = serializers.DecimalField(**QUANTITY)
    note = serializers.CharField(max_length=200, required=False, allow_blank=True)


class ForecastReplaceInput(InputSerializer):
    source = serializers.CharField(max_length=40)
    lines = ForecastLineInput(many=True)


class ForecastReplaceOutput(serializers.Serializer):
    source = serializers.CharField()
    count = serializers.IntegerField()


# ---------------------------------------------------------------- serializers: MRP


class MrpRunOutput(OutputSerializer):
    class Meta:
        model = MrpRun
        fields = [
            "id",
            "number",
            "status",
            "progress",
            "warehouse",
            "horizon_days",
            "bucket_days",
            "include_forecasts",
            "today",
            "message",
            "demand_count",
            "planned_count",
            "started_at",
            "finished_at",
            "created_at",
        ]
        read_only_fields = fields


class MrpRunInput(InputSerializer):
    warehouse = ScopedRelatedField(model=Warehouse)
    horizon_days = serializers.IntegerField(min_value=1, max_value=730, required=False, default=90)
    bucket_days = serializers.IntegerField(min_value=1, max_value=31, required=False, default=1)
    include_forecasts = serializers.BooleanField(required=False, default=True)


class PlannedOrderOutput(OutputSerializer):
    sku = serializers.CharField(source="product.sku", read_only=True)
    explanation = serializers.CharField(read_only=True)

    class Meta:
        model = PlannedOrder
        fields = [
            "id",
            "run",
            "product",
            "sku",
            "kind",
            "quantity",
            "due_date",
            "release_date",
            "level",
            "late",
            "reason",
            "covers",
            "explanation",
            "state",
            "production_order",
            "purchase_order",
            "requisition",
        ]
        read_only_fields = fields


class PlannedConfirmInput(InputSerializer):
    quantity = serializers.DecimalField(**QUANTITY, required=False)
    due_date = serializers.DateField(required=False)


# ---------------------------------------------------------------- serializers: production orders


class MaterialOutput(OutputSerializer):
    sku = serializers.CharField(source="product.sku", read_only=True)

    class Meta:
        model = ProductionMaterial
        fields = ["id", "product", "sku", "required_quantity", "issued_quantity", "issued_cost", "reservation"]
        read_only_fields = fields


class OperationOutput(OutputSerializer):
    order_number = serializers.CharField(source="order.number", read_only=True)

    class Meta:
        model = ProductionOperation
        fields = [
            "id",
            "order",
            "order_number",
            "sequence",
            "name",
            "work_center",
            "setup_minutes",
            "run_minutes",
            "state",
            "scheduled_start",
            "scheduled_end",
            "station",
            "started_at",
            "finished_at",
            "worked_minutes",
            "good_quantity",
            "scrap_quantity",
        ]
        read_only_fields = fields


class ProductionOrderOutput(OutputSerializer):
    sku = serializers.CharField(source="product.sku", read_only=True)
    materials = MaterialOutput(many=True, read_only=True)
    operations = OperationOutput(many=True, read_only=True)

    class Meta:
        model = ProductionOrder
        fields = [
            "id",
            "number",
            "product",
            "sku",
            "bom",
            "warehouse",
            "quantity",
            "produced_quantity",
            "scrapped_quantity",
            "state",
            "priority",
            "planned_start",
            "due_date",
            "scheduled_start",
            "promised_at",
            "material_cost",
            "labour_cost",
            "overhead_cost",
            "finished_cost",
            "origin",
            "released_at",
            "done_at",
            "materials",
            "operations",
            "created_at",
        ]
        read_only_fields = fields


class ProductionOrderInput(InputSerializer):
    product = ScopedRelatedField(model=Product)
    quantity = serializers.DecimalField(**QUANTITY)
    warehouse = ScopedRelatedField(model=Warehouse)
    due_date = serializers.DateField()
    planned_start = serializers.DateField(required=False, allow_null=True)
    bom = ScopedRelatedField(model=Bom, required=False, allow_null=True)
    priority = serializers.IntegerField(min_value=0, max_value=32000, required=False, default=100)
    origin = serializers.CharField(max_length=100, required=False, allow_blank=True)


class ProductionReceiveInput(InputSerializer):
    quantity = serializers.DecimalField(**QUANTITY, min_value=0)
    scrap_quantity = serializers.DecimalField(**QUANTITY, min_value=0, required=False, default=0)
    lot_code = serializers.CharField(max_length=64, required=False, allow_blank=True)
    close = serializers.BooleanField(required=False, default=False)


class ReceiptOutput(serializers.Serializer):
    id = serializers.IntegerField()
    order = serializers.IntegerField(source="order_id")
    lot = serializers.IntegerField(source="lot_id", allow_null=True)
    lot_code = serializers.CharField(source="lot.code", allow_null=True, default=None)
    quantity = serializers.DecimalField(**QUANTITY)
    scrapped_quantity = serializers.DecimalField(**QUANTITY)
    cost = serializers.DecimalField(max_digits=18, decimal_places=2)


class OperationReportInput(InputSerializer):
    good_quantity = serializers.DecimalField(**QUANTITY, min_value=0, required=False, default=0)
    scrap_quantity = serializers.DecimalField(**QUANTITY, min_value=0, required=False, default=0)
    finish = serializers.BooleanField(required=False, default=False)
    lot_code = serializers.CharField(max_length=64, required=False, allow_blank=True)


class ScheduleOutput(serializers.Serializer):
    scheduled_operations = serializers.IntegerField()


# ---------------------------------------------------------------- serializers: quality


class InspectionPlanOutput(OutputSerializer):
    class Meta:
        model = InspectionPlan
        fields = ["id", "name", "product", "operation_name", "characteristics", "is_active"]
        read_only_fields = fields


class CharacteristicInput(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    min = serializers.DecimalField(max_digits=18, decimal_places=6, required=False, allow_null=True)
    max = serializers.DecimalField(max_digits=18, decimal_places=6, required=False, allow_null=True)
    unit = serializers.CharField(max_length=20, required=False, allow_blank=True)


class InspectionPlanInput(InputSerializer):
    name = serializers.CharField(max_length=100)
    product = ScopedRelatedField(model=Product)
    operation_name = serializers.CharField(max_length=100, required=False, allow_blank=True)
    characteristics = CharacteristicInput(many=True)


class InspectionOutput(OutputSerializer):
    class Meta:
        model = Inspection
        fields = [
            "id",
            "plan",
            "product",
            "production_order",
            "operation",
            "work_center",
            "lot",
            "result",
            "measurements",
            "inspected_quantity",
            "defect_quantity",
            "inspected_at",
            "inspected_by",
        ]
        read_only_fields = fields


class InspectionInput(InputSerializer):
    plan = ScopedRelatedField(model=InspectionPlan)
    measurements = serializers.DictField(child=serializers.CharField(), required=False)
    inspected_quantity = serializers.DecimalField(**QUANTITY, required=False)
    defect_quantity = serializers.DecimalField(**QUANTITY, min_value=0, required=False, allow_null=True)
    production_order = ScopedRelatedField(model=ProductionOrder, required=False, allow_null=True)
    operation = ScopedRelatedField(model=ProductionOperation, required=False, allow_null=True)
    lot = ScopedRelatedField(model=Lot, required=False, allow_null=True)
    result = serializers.ChoiceField(choices=["pass", "fail"], required=False)


class NonConformanceOutput(OutputSerializer):
    class Meta:
        model = NonConformance
        fields = [
            "id",
            "number",
            "product",
            "production_order",
            "lot",
            "inspection",
            "crm_ticket_id",
            "quantity",
            "description",
            "disposition",
            "state",
            "closed_at",
            "created_at",
        ]
        read_only_fields = fields


class NonConformanceInput(InputSerializer):
    product = ScopedRelatedField(model=Product)
    description = serializers.CharField(max_length=4000)
    production_order = ScopedRelatedField(model=ProductionOrder, required=False, allow_null=True)
    lot = ScopedRelatedField(model=Lot, required=False, allow_null=True)
    crm_ticket_id = serializers.IntegerField(required=False, allow_null=True, min_value=1)
    quantity = serializers.DecimalField(**QUANTITY, min_value=0, required=False)


class NonConformanceCloseInput(InputSerializer):
    disposition = serializers.CharField(max_length=200, required=False, allow_blank=True)


class DefectRateOutput(serializers.Serializer):
    key = serializers.IntegerField()
    label = serializers.CharField()
    period = serializers.CharField()
    inspected = serializers.DecimalField(**QUANTITY)
    defective = serializers.DecimalField(**QUANTITY)
    rate = serializers.DecimalField(max_digits=10, decimal_places=4)


class DefectRateQuery(InputSerializer):
    by = serializers.ChoiceField(choices=["product", "work_center"], required=False, default="product")
    period = serializers.ChoiceField(choices=["month", "week"], required=False, default="month")
    start = serializers.DateField(required=False)
    end = serializers.DateField(required=False)


# ---------------------------------------------------------------- viewsets


class _Base(InventoryViewSetMixin, TenantReadOnlyViewSet):
    def detail_output(self, instance, status_code=status.HTTP_200_OK):
        return Response(self.output(instance), status=status_code)


class WorkCalendarViewSet(_Base):
    """Working-time calendars: shifts per weekday and closed days."""

    queryset = WorkCalendar.objects.all()
    output_serializer_class = WorkCalendarOutput
    input_serializer_class = WorkCalendarInput
    ordering = ("name",)
    create = TenantModelViewSet.create

    def create_object(self, *, actor, data):
        return services.work_calendar_create(company=actor.company, by=actor.user, **data)


class WorkCenterViewSet(_Base):
    """Work centres (工作中心): parallel stations per shift, calendar, labour and overhead rates per hour."""

    queryset = WorkCenter.objects.all()
    output_serializer_class = WorkCenterOutput
    input_serializer_class = WorkCenterInput
    update_input_serializer_class = WorkCenterUpdateInput
    filterset_fields = ("is_active",)
    search_fields = ("code", "name")
    ordering = ("code",)
    create = TenantModelViewSet.create
    update = TenantModelViewSet.update
    partial_update = TenantModelViewSet.partial_update

    def create_object(self, *, actor, data):
        return services.work_center_create(company=actor.company, by=actor.user, **data)

    def update_object(self, *, actor, instance, data):
        return services.work_center_update(work_center=instance, by=actor.user, **data)


class RoutingViewSet(_Base):
    """Routings (工艺路线) with their operations."""

    queryset = Routing.objects.prefetch_related("operations")
    output_serializer_class = RoutingOutput
    input_serializer_class = RoutingInput
    ordering = ("name",)
    create = TenantModelViewSet.create

    def create_object(self, *, actor, data):
        return services.routing_create(company=actor.company, by=actor.user, **data)


class BomViewSet(_Base):
    """Bills of materials (物料清单): versions with effective dates; components with quantity and scrap."""

    queryset = Bom.objects.prefetch_related("lines__component")
    output_serializer_class = BomOutput
    input_serializer_class = BomInput
    filterset_fields = ("product", "is_active")
    ordering = ("product", "version")
    policy_actions = {"archive": "change"}
    create = TenantModelViewSet.create

    def create_object(self, *, actor, data):
        return services.bom_create(company=actor.company, by=actor.user, **data)

    @extend_schema(request=None, responses={200: BomOutput})
    @action(detail=True, methods=["post"])
    def archive(self, request, pk=None):
        """Retire this version."""
        return self.detail_output(services.bom_archive(bom=self.get_object(), by=request.user))


class PlanningViewSet(_Base):
    """How MRP plans each product; POST sets it (creating or changing the product's row)."""

    queryset = ProductPlanning.objects.all()
    output_serializer_class = PlanningOutput
    input_serializer_class = PlanningInput
    filterset_fields = ("procurement", "product")
    ordering = ("product",)
    create = TenantModelViewSet.create

    def create_object(self, *, actor, data):
        product = data.pop("product")
        return services.product_planning_set(product=product, by=actor.user, **data)


class ForecastViewSet(_Base):
    """Demand forecasts by source; ``replace/`` swaps every line of one source."""

    queryset = DemandForecast.objects.all()
    output_serializer_class = ForecastOutput
    filterset_fields = ("product", "source")
    ordering = ("date", "product")
    policy_actions = {"replace": "add"}

    @extend_schema(request=ForecastReplaceInput, responses={200: ForecastReplaceOutput})
    @action(detail=False, methods=["post"])
    def replace(self, request):
        data = self.input(ForecastReplaceInput, request)
        count = mrp.forecast_lines_replace(company=self.actor.company, source=data["source"], lines=data["lines"])
        return Response({"source": data["source"], "count": count})


class MrpRunViewSet(_Base):
    """MRP runs: POST queues one (a Celery job); GET shows its status and progress."""

    queryset = MrpRun.objects.all()
    output_serializer_class = MrpRunOutput
    input_serializer_class = MrpRunInput
    filterset_fields = ("status", "warehouse")
    ordering = ("-id",)
    create = TenantModelViewSet.create

    def create_object(self, *, actor, data):
        return mrp.mrp_run_start(company=actor.company, by=actor.user, **data)


class PlannedOrderViewSet(_Base):
    """Planned orders of the runs, with why each exists; confirm one into a production or purchase order."""

    queryset = PlannedOrder.objects.select_related("product")
    output_serializer_class = PlannedOrderOutput
    filterset_fields = ("run", "state", "kind", "product", "late")
    ordering = ("level", "product", "due_date")
    policy_actions = {"confirm": "confirm", "dismiss": "dismiss"}

    @extend_schema(request=PlannedConfirmInput, responses={200: PlannedOrderOutput})
    @action(detail=True, methods=["post"])
    def confirm(self, request, pk=None):
        """A draft production order (make) or purchase order / requisition (buy); 409 when done already."""
        planned = self.get_object()
        data = self.input(PlannedConfirmInput, request)
        return self.detail_output(mrp.planned_order_confirm(planned=planned, by=request.user, **data))

    @extend_schema(request=None, responses={200: PlannedOrderOutput})
    @action(detail=True, methods=["post"])
    def dismiss(self, request, pk=None):
        return self.detail_output(mrp.planned_order_dismiss(planned=self.get_object(), by=request.user))


class ProductionOrderViewSet(_Base):
    """Production orders (生产订单): draft → release (reserve components) → operations reported on the shop
    floor / receipts (partial, with a new lot) → done; costs on the order and in the ledger."""

    queryset = ProductionOrder.objects.select_related("product").prefetch_related(
        "materials__product", "operations__order"
    )
    output_serializer_class = ProductionOrderOutput
    input_serializer_class = ProductionOrderInput
    filterset_fields = ("state", "product", "warehouse")
    search_fields = ("number", "product__sku", "product__name")
    ordering_fields = ("due_date", "promised_at", "created_at")
    ordering = ("-id",)
    policy_actions = {
        "release": "release",
        "issue": "issue",
        "receive": "receive",
        "cancel": "cancel",
        "schedule": "schedule",
    }
    create = TenantModelViewSet.create

    def create_object(self, *, actor, data):
        return services.production_order_create(company=actor.company, by=actor.user, **data)

    @extend_schema(request=None, responses={200: ProductionOrderOutput})
    @action(detail=True, methods=["post"])
    def release(self, request, pk=None):
        """Reserve the components (409 ``insufficient_stock`` when short) and schedule."""
        return self.detail_output(services.production_order_release(order=self.get_object(), by=request.user))

    @extend_schema(request=None, responses={200: ProductionOrderOutput})
    @action(detail=True, methods=["post"])
    def issue(self, request, pk=None):
        """Issue every reserved component to production."""
        return self.detail_output(services.production_issue(order=self.get_object(), by=request.user))

    @extend_schema(request=ProductionReceiveInput, responses={201: ReceiptOutput})
    @action(detail=True, methods=["post"])
    def receive(self, request, pk=None):
        """Receive finished goods (a new lot) and scrap; ``close`` finishes the order short."""
        order = self.get_object()
        data = self.input(ProductionReceiveInput, request)
        receipt = services.production_receive(order=order, by=request.user, **data)
        return Response(ReceiptOutput(receipt).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={200: ProductionOrderOutput})
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        return self.detail_output(services.production_order_cancel(order=self.get_object(), by=request.user))

    @extend_schema(request=None, responses={200: ScheduleOutput})
    @action(detail=False, methods=["post"])
    def schedule(self, request):
        """Re-schedule every released operation (finite capacity) and store the promised dates."""
        count = services.production_schedule(company=self.actor.company)
        return Response({"scheduled_operations": count})


class OperationViewSet(_Base):
    """Operations of production orders; operators start, stop and report them."""

    queryset = ProductionOperation.objects.select_related("order")
    output_serializer_class = OperationOutput
    filterset_fields = ("order", "work_center", "state")
    ordering = ("scheduled_start", "order", "sequence")
    policy_actions = {"start": "operate", "stop": "operate", "report": "operate"}

    @extend_schema(request=None, responses={200: OperationOutput})
    @action(detail=True, methods=["post"])
    def start(self, request, pk=None):
        return self.detail_output(services.operation_start(operation=self.get_object(), by=request.user))

    @extend_schema(request=None, responses={200: OperationOutput})
    @action(detail=True, methods=["post"])
    def stop(self, request, pk=None):
        return self.detail_output(services.operation_stop(operation=self.get_object(), by=request.user))

    @extend_schema(request=OperationReportInput, responses={200: OperationOutput})
    @action(detail=True, methods=["post"])
    def report(self, request, pk=None):
        """Good / scrapped units; ``finish`` ends the operation (the last one receives the good units)."""
        operation = self.get_object()
        data = self.input(OperationReportInput, request)
        return self.detail_output(services.operation_report(operation=operation, by=request.user, **data))


class OperationReportOutput(OutputSerializer):
    class Meta:
        model = OperationReport
        fields = [
            "id",
            "operation",
            "order",
            "work_center",
            "operator",
            "good_quantity",
            "scrap_quantity",
            "reported_at",
        ]
        read_only_fields = fields


class OperationReportViewSet(_Base):
    """Shop-floor reports: who reported which good and scrapped units of an operation, and when (read only;
    written by ``operations/{id}/report/``)."""

    queryset = OperationReport.objects.all()
    output_serializer_class = OperationReportOutput
    filterset_fields = ("operation", "order", "work_center", "operator")
    ordering = ("-reported_at", "-id")


class InspectionPlanViewSet(_Base):
    queryset = InspectionPlan.objects.all()
    output_serializer_class = InspectionPlanOutput
    input_serializer_class = InspectionPlanInput
    filterset_fields = ("product", "is_active")
    ordering = ("product", "name")
    create = TenantModelViewSet.create

    def create_object(self, *, actor, data):
        characteristics = [
            {k: (str(v) if v is not None else None) for k, v in item.items() if v is not None}
            for item in data.pop("characteristics")
        ]
        return services.inspection_plan_create(
            company=actor.company, characteristics=characteristics, by=actor.user, **data
        )


class InspectionViewSet(_Base):
    """Inspections with measured values; a failed one opens a non-conformance."""

    queryset = Inspection.objects.all()
    output_serializer_class = InspectionOutput
    input_serializer_class = InspectionInput
    filterset_fields = ("plan", "product", "production_order", "result", "lot")
    ordering = ("-inspected_at",)
    create = TenantModelViewSet.create

    def create_object(self, *, actor, data):
        return services.inspection_record(by=actor.user, **data)


class NonConformanceViewSet(_Base):
    """Non-conformances, linked to lot, production order and (plain id) the CRM ticket of a complaint."""

    queryset = NonConformance.objects.all()
    output_serializer_class = NonConformanceOutput
    input_serializer_class = NonConformanceInput
    filterset_fields = ("product", "production_order", "lot", "state", "crm_ticket_id")
    ordering = ("-id",)
    policy_actions = {"close": "close"}
    create = TenantModelViewSet.create

    def create_object(self, *, actor, data):
        return services.non_conformance_create(company=actor.company, by=actor.user, **data)

    @extend_schema(request=NonConformanceCloseInput, responses={200: NonConformanceOutput})
    @action(detail=True, methods=["post"])
    def close(self, request, pk=None):
        nc = self.get_object()
        data = self.input(NonConformanceCloseInput, request)
        return self.detail_output(services.non_conformance_close(nc=nc, by=request.user, **data))


class DefectRateView(APIView):
    """Defect rate (defective ÷ inspected) per product or work centre and month or week."""

    permission_classes = [PolicyPermission]
    policy_model = Inspection

    @extend_schema(parameters=[DefectRateQuery], responses={200: DefectRateOutput(many=True)})
    def get(self, request):
        query = DefectRateQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        actor = request_actor(request)
        rows = selectors.defect_rates(actor.company, **query.validated_data)
        return Response(DefectRateOutput(rows, many=True).data)


router = SimpleRouter()
router.register("work-calendars", WorkCalendarViewSet, basename="erp-production-calendar")
router.register("work-centers", WorkCenterViewSet, basename="erp-production-workcenter")
router.register("routings", RoutingViewSet, basename="erp-production-routing")
router.register("boms", BomViewSet, basename="erp-production-bom")
router.register("planning", PlanningViewSet, basename="erp-production-planning")
router.register("forecasts", ForecastViewSet, basename="erp-production-forecast")
router.register("mrp-runs", MrpRunViewSet, basename="erp-production-mrprun")
router.register("planned-orders", PlannedOrderViewSet, basename="erp-production-planned")
router.register("orders", ProductionOrderViewSet, basename="erp-production-order")
router.register("operations", OperationViewSet, basename="erp-production-operation")
router.register("operation-reports", OperationReportViewSet, basename="erp-production-opreport")
router.register("inspection-plans", InspectionPlanViewSet, basename="erp-production-inspectionplan")
router.register("inspections", InspectionViewSet, basename="erp-production-inspection")
router.register("non-conformances", NonConformanceViewSet, basename="erp-production-nc")

urlpatterns = [
    path("defect-rates/", DefectRateView.as_view(), name="erp-production-defect-rates"),
    *router.urls,
]
