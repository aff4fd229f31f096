"""Production (生产): planning data, MRP, production orders with their operations, and quality.

* Planning data: ``ProductPlanning`` (make or buy, lead time, safety stock, lot sizing per product),
  ``WorkCalendar`` (shifts per weekday, closed days), ``WorkCenter`` (parallel stations, labour and overhead rates),
  ``Routing`` with ``RoutingOperation``\\s, ``Bom`` (versions with effective dates) with ``BomLine``\\s (quantity
  per output unit, scrap factor). A component that has its own BOM is made in turn: BOMs are multi-level.
* MRP: ``DemandForecast`` lines (by source; CRM's weighted pipeline feeds one source later), an ``MrpRun``
  (status, progress, parameters) and the ``PlannedOrder``\\s it proposes, each with its explanation; a planner
  confirms one into a ``ProductionOrder`` or a purchase order.
* Execution: ``ProductionOrder`` (released → in progress → done), its ``ProductionMaterial`` lines (reserved and
  issued through the stock services), its ``ProductionOperation``\\s (scheduled on work centres, started, stopped,
  reported by operators) and ``ProductionReceipt``\\s (finished goods into stock with a new lot). Costs (material,
  labour, overhead) accumulate on the order as work in progress and leave it with the finished goods.
* Quality: ``InspectionPlan`` per product (and operation), ``Inspection`` with pass/fail and measured values,
  ``NonConformance`` linked to lot, production order and, when a customer complained, a CRM ticket id.

Quantities ``NUMERIC(18, 4)``, money ``NUMERIC(18, 2)``; invariants in CHECK constraints.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from suite.audit import audited
from suite.models import TenantModel

QUANTITY = {"max_digits": 18, "decimal_places": 4}
MONEY = {"max_digits": 18, "decimal_places": 2}
RATE = {"max_digits": 18, "decimal_places": 4}
FRACTION = {"max_digits": 7, "decimal_places": 6}
ZERO = Decimal("0")


# ---------------------------------------------------------------- planning data


class Procurement(models.TextChoices):
    MAKE = "make", _("Make")
    BUY = "buy", _("Buy")


class LotRule(models.TextChoices):
    LOT_FOR_LOT = "lot_for_lot", _("Lot for lot")
    FIXED = "fixed", _("Fixed lot (multiples)")
    MINIMUM = "minimum", _("Minimum lot")


@audited
class ProductPlanning(TenantModel):
    """How MRP plans a product: made or bought, lead time, safety stock and lot sizing."""

    product = models.OneToOneField(
        "erp.Product", on_delete=models.CASCADE, related_name="planning", verbose_name=_("product")
    )
    procurement = models.CharField(_("procurement"), max_length=4, choices=Procurement.choices, default=Procurement.BUY)
    lead_time_days = models.PositiveSmallIntegerField(_("lead time (days)"), default=0)
    safety_stock = models.DecimalField(_("safety stock"), default=ZERO, **QUANTITY)
    lot_rule = models.CharField(_("lot sizing"), max_length=12, choices=LotRule.choices, default=LotRule.LOT_FOR_LOT)
    lot_size = models.DecimalField(_("lot size"), default=ZERO, **QUANTITY)

    class Meta:
        verbose_name = _("product planning")
        verbose_name_plural = _("product planning")
        ordering = ["product"]
        constraints = [
            models.CheckConstraint(condition=Q(safety_stock__gte=0), name="erp_planning_safety_not_negative"),
            models.CheckConstraint(condition=Q(lot_size__gte=0), name="erp_planning_lot_size_not_negative"),
            models.CheckConstraint(
                condition=~Q(lot_rule="fixed") | Q(lot_size__gt=0), name="erp_planning_fixed_lot_positive"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.product_id}: {self.procurement}"


@audited
class WorkCalendar(TenantModel):
    """Working time: shifts per weekday (``{"0": [["08:00", "12:00"], ["13:00", "17:00"]], …}``, 0 = Monday)
    and closed days (ISO dates)."""

    name = models.CharField(_("name"), max_length=100)
    shifts = models.JSONField(_("shifts per weekday"), default=dict)
    closed_dates = models.JSONField(_("closed days"), default=list, blank=True)

    class Meta:
        verbose_name = _("work calendar")
        verbose_name_plural = _("work calendars")
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["company", "name"], name="erp_workcalendar_name_unique")]

    def __str__(self) -> str:
        return self.name


@audited
class WorkCenter(TenantModel):
    """A machine group or line (工作中心): ``units`` identical stations work in parallel in each shift of its
    calendar; labour and overhead are charged per hour of operation time."""

    code = models.CharField(_("code"), max_length=20)
    name = models.CharField(_("name"), max_length=100)
    calendar = models.ForeignKey(
        WorkCalendar, on_delete=models.PROTECT, related_name="work_centers", verbose_name=_("calendar")
    )
    units = models.PositiveSmallIntegerField(_("stations per shift"), default=1)
    labour_rate = models.DecimalField(_("labour rate per hour"), default=ZERO, **RATE)
    overhead_rate = models.DecimalField(_("overhead rate per hour"), default=ZERO, **RATE)
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("work centre")
        verbose_name_plural = _("work centres")
        ordering = ["code"]
        constraints = [
            models.UniqueConstraint(fields=["company", "code"], name="erp_workcenter_code_unique"),
            models.CheckConstraint(condition=Q(units__gte=1), name="erp_workcenter_units_positive"),
            models.CheckConstraint(
                condition=Q(labour_rate__gte=0) & Q(overhead_rate__gte=0), name="erp_workcenter_rates_not_negative"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"


@audited
class Routing(TenantModel):
    """The sequence of operations that makes a product (工艺路线)."""

    name = models.CharField(_("name"), max_length=100)
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("routing")
        verbose_name_plural = _("routings")
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["company", "name"], name="erp_routing_name_unique")]

    def __str__(self) -> str:
        return self.name


@audited
class RoutingOperation(TenantModel):
    """One step of a routing: on a work centre, a setup time per order and a run time per unit."""

    routing = models.ForeignKey(Routing, on_delete=models.CASCADE, related_name="operations", verbose_name=_("routing"))
    sequence = models.PositiveSmallIntegerField(_("sequence"), default=10)
    name = models.CharField(_("name"), max_length=100)
    work_center = models.ForeignKey(
        WorkCenter, on_delete=models.PROTECT, related_name="routing_operations", verbose_name=_("work centre")
    )
    setup_minutes = models.PositiveIntegerField(_("setup (minutes)"), default=0)
    run_minutes = models.DecimalField(_("run time per unit (minutes)"), default=ZERO, **RATE)
    queue_minutes = models.PositiveIntegerField(_("queue/move time (minutes)"), default=0)

    class Meta:
        verbose_name = _("routing operation")
        verbose_name_plural = _("routing operations")
        ordering = ["routing", "sequence", "id"]
        constraints = [
            models.UniqueConstraint(fields=["routing", "sequence"], name="erp_routingoperation_sequence_unique"),
            models.CheckConstraint(condition=Q(run_minutes__gte=0), name="erp_routingoperation_run_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.sequence} {self.name}"


@audited
class Bom(TenantModel):
    """A bill of materials (物料清单) for ``quantity`` units of a product, one version among several; the version
    in force on a day is the active one whose effective dates include it."""

    product = models.ForeignKey("erp.Product", on_delete=models.PROTECT, related_name="boms", verbose_name=_("product"))
    version = models.CharField(_("version"), max_length=20, default="1")
    quantity = models.DecimalField(_("output quantity"), default=Decimal("1"), **QUANTITY)
    effective_from = models.DateField(_("effective from"), null=True, blank=True)
    effective_to = models.DateField(_("effective to"), null=True, blank=True)
    routing = models.ForeignKey(
        Routing, null=True, blank=True, on_delete=models.PROTECT, related_name="boms", verbose_name=_("routing")
    )
    is_active = models.BooleanField(_("active"), default=True)
    note = models.CharField(_("note"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("bill of materials")
        verbose_name_plural = _("bills of materials")
        ordering = ["product", "-effective_from", "version"]
        constraints = [
            models.UniqueConstraint(fields=["company", "product", "version"], name="erp_bom_version_unique"),
            models.CheckConstraint(condition=Q(quantity__gt=0), name="erp_bom_quantity_positive"),
            models.CheckConstraint(
                condition=Q(effective_from__isnull=True)
                | Q(effective_to__isnull=True)
                | Q(effective_to__gte=F("effective_from")),
                name="erp_bom_dates_ordered",
            ),
        ]

    def __str__(self) -> str:
        return f"BOM {self.product_id} v{self.version}"


@audited
class BomLine(TenantModel):
    """A component: ``quantity`` per BOM quantity of the parent, of which the fraction ``scrap_factor`` is lost."""

    bom = models.ForeignKey(Bom, on_delete=models.CASCADE, related_name="lines", verbose_name=_("BOM"))
    component = models.ForeignKey(
        "erp.Product", on_delete=models.PROTECT, related_name="used_in_bom_lines", verbose_name=_("component")
    )
    quantity = models.DecimalField(_("quantity"), **QUANTITY)
    scrap_factor = models.DecimalField(_("scrap factor"), default=ZERO, **FRACTION)
    sequence = models.PositiveSmallIntegerField(_("sequence"), default=10)

    class Meta:
        verbose_name = _("BOM line")
        verbose_name_plural = _("BOM lines")
        ordering = ["bom", "sequence", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gt=0), name="erp_bomline_quantity_positive"),
            models.CheckConstraint(
                condition=Q(scrap_factor__gte=0) & Q(scrap_factor__lt=1), name="erp_bomline_scrap_in_range"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.bom_id}: {self.quantity} × {self.component_id}"


# ---------------------------------------------------------------- MRP


@audited
class DemandForecast(TenantModel):
    """Expected demand for a product on a date from one ``source`` ("manual", "crm_pipeline" …); a source's
    lines are replaced as a whole by ``forecast_lines_replace``."""

    product = models.ForeignKey(
        "erp.Product", on_delete=models.CASCADE, related_name="forecasts", verbose_name=_("product")
    )
    date = models.DateField(_("date"))
    quantity = models.DecimalField(_("quantity"), **QUANTITY)
    source = models.CharField(_("source"), max_length=40, default="manual")
    note = models.CharField(_("note"), max_length=200, blank=True)
    # Where the line came from, for the planner (closed loop, issue #7): the CRM opportunities behind a pipeline
    # line, the customers behind a social-intent line, the snapshot time of the event that wrote it.
    reference = models.JSONField(_("reference"), default=dict, blank=True)

    class Meta:
        verbose_name = _("demand forecast")
        verbose_name_plural = _("demand forecasts")
        ordering = ["date", "product"]
        constraints = [models.CheckConstraint(condition=Q(quantity__gt=0), name="erp_forecast_quantity_positive")]
        indexes = [models.Index(fields=["company", "source"], name="erp_forecast_source_idx")]

    def __str__(self) -> str:
        return f"{self.product_id} {self.date} {self.quantity}"


class MrpRunStatus(models.TextChoices):
    QUEUED = "queued", _("Queued")
    RUNNING = "running", _("Running")
    DONE = "done", _("Done")
    FAILED = "failed", _("Failed")


@audited
class MrpRun(TenantModel):
    """One MRP calculation (a Celery job): its parameters, progress and outcome."""

    number = models.CharField(_("number"), max_length=20, blank=True)
    status = models.CharField(_("status"), max_length=10, choices=MrpRunStatus.choices, default=MrpRunStatus.QUEUED)
    progress = models.PositiveSmallIntegerField(_("progress %"), default=0)
    warehouse = models.ForeignKey(
        "erp.Warehouse", on_delete=models.PROTECT, related_name="+", verbose_name=_("warehouse")
    )
    horizon_days = models.PositiveSmallIntegerField(_("horizon (days)"), default=90)
    bucket_days = models.PositiveSmallIntegerField(_("bucket (days)"), default=1)
    include_forecasts = models.BooleanField(_("include forecasts"), default=True)
    today = models.DateField(_("planning date"), null=True, blank=True)
    message = models.CharField(_("message"), max_length=500, blank=True)
    demand_count = models.PositiveIntegerField(_("demand lines"), default=0)
    planned_count = models.PositiveIntegerField(_("planned orders"), default=0)
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        verbose_name = _("MRP run")
        verbose_name_plural = _("MRP runs")
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(condition=Q(progress__lte=100), name="erp_mrprun_progress_max100"),
            models.CheckConstraint(condition=Q(bucket_days__gte=1), name="erp_mrprun_bucket_positive"),
        ]

    def __str__(self) -> str:
        return self.number or f"MRP {self.pk}"


class PlannedKind(models.TextChoices):
    PRODUCE = "produce", _("Produce")
    PURCHASE = "purchase", _("Purchase")


class PlannedState(models.TextChoices):
    PROPOSED = "proposed", _("Proposed")
    CONFIRMED = "confirmed", _("Confirmed")
    CANCELLED = "cancelled", _("Dismissed")


@audited
class PlannedOrder(TenantModel):
    """An order MRP proposes, with why: the requirements it covers and the stock projection that fell short.
    Confirmed, it becomes a production order (make) or a purchase order (buy)."""

    run = models.ForeignKey(MrpRun, on_delete=models.CASCADE, related_name="planned_orders", verbose_name=_("run"))
    product = models.ForeignKey("erp.Product", on_delete=models.PROTECT, related_name="+", verbose_name=_("product"))
    kind = models.CharField(_("kind"), max_length=10, choices=PlannedKind.choices)
    quantity = models.DecimalField(_("quantity"), **QUANTITY)
    due_date = models.DateField(_("due"))
    release_date = models.DateField(_("release"))
    level = models.PositiveSmallIntegerField(_("BOM level"), default=0)
    late = models.BooleanField(_("late (expedite)"), default=False)
    reason = models.CharField(_("reason"), max_length=300)
    covers = models.JSONField(_("requirements covered"), default=list)
    state = models.CharField(_("state"), max_length=10, choices=PlannedState.choices, default=PlannedState.PROPOSED)
    production_order = models.ForeignKey(
        "erp.ProductionOrder", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    purchase_order = models.ForeignKey(
        "erp.PurchaseOrder", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    requisition = models.ForeignKey(
        "erp.PurchaseRequisition", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        verbose_name = _("planned order")
        verbose_name_plural = _("planned orders")
        ordering = ["run", "level", "product", "due_date"]
        constraints = [models.CheckConstraint(condition=Q(quantity__gt=0), name="erp_plannedorder_quantity_positive")]
        indexes = [models.Index(fields=["run", "state"], name="erp_plannedorder_run_idx")]

    def __str__(self) -> str:
        return f"{self.kind} {self.quantity} × {self.product_id} by {self.due_date}"

    @property
    def explanation(self) -> str:
        sources = "; ".join(f"{c.get('quantity')} for {c.get('source')} on {c.get('due')}" for c in self.covers[:5])
        more = f" (+{len(self.covers) - 5} more)" if len(self.covers) > 5 else ""
        return f"{self.reason}. Covers: {sources}{more}" if sources else self.reason


# ---------------------------------------------------------------- production orders


class ProductionState(models.TextChoices):
    DRAFT = "draft", _("Draft")
    RELEASED = "released", _("Released")
    IN_PROGRESS = "in_progress", _("In progress")
    DONE = "done", _("Done")
    CANCELLED = "cancelled", _("Cancelled")


@audited
class ProductionOrder(TenantModel):
    """A production order (生产订单 / 工单): make ``quantity`` of a product from a BOM version in a warehouse.

    ``material_cost``, ``labour_cost`` and ``overhead_cost`` are what was charged to work in progress;
    ``finished_cost`` what left it with the finished goods (and scrap written off at closing). At ``done`` the
    two are equal: WIP of the order is zero."""

    number = models.CharField(_("number"), max_length=20, blank=True)
    product = models.ForeignKey(
        "erp.Product", on_delete=models.PROTECT, related_name="production_orders", verbose_name=_("product")
    )
    bom = models.ForeignKey(Bom, on_delete=models.PROTECT, related_name="production_orders", verbose_name=_("BOM"))
    warehouse = models.ForeignKey(
        "erp.Warehouse", on_delete=models.PROTECT, related_name="production_orders", verbose_name=_("warehouse")
    )
    quantity = models.DecimalField(_("quantity"), **QUANTITY)
    produced_quantity = models.DecimalField(_("produced"), default=ZERO, **QUANTITY)
    scrapped_quantity = models.DecimalField(_("scrapped"), default=ZERO, **QUANTITY)
    state = models.CharField(_("state"), max_length=12, choices=ProductionState.choices, default=ProductionState.DRAFT)
    priority = models.PositiveSmallIntegerField(_("priority"), default=100, help_text=_("Lower runs first."))
    planned_start = models.DateField(_("planned start"))
    due_date = models.DateField(_("due"))
    scheduled_start = models.DateTimeField(_("scheduled start"), null=True, blank=True)
    promised_at = models.DateTimeField(_("promised completion"), null=True, blank=True)
    material_cost = models.DecimalField(_("material cost"), default=ZERO, **MONEY)
    labour_cost = models.DecimalField(_("labour cost"), default=ZERO, **MONEY)
    overhead_cost = models.DecimalField(_("overhead cost"), default=ZERO, **MONEY)
    finished_cost = models.DecimalField(_("cost out of WIP"), default=ZERO, **MONEY)
    origin = models.CharField(_("origin"), max_length=100, blank=True)
    # The customer order it is made for (MRP pegging, closed loop): set when a planned order covering a sales
    # order line is confirmed — the first such order; all of them are in the planned order's covers.
    sales_order = models.ForeignKey(
        "erp.SalesOrder",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="production_orders",
        verbose_name=_("made for sales order"),
    )
    released_at = models.DateTimeField(_("released at"), null=True, blank=True)
    done_at = models.DateTimeField(_("done at"), null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        verbose_name = _("production order")
        verbose_name_plural = _("production orders")
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gt=0), name="erp_productionorder_quantity_positive"),
            models.CheckConstraint(
                condition=Q(produced_quantity__gte=0) & Q(scrapped_quantity__gte=0),
                name="erp_productionorder_progress_not_negative",
            ),
            models.CheckConstraint(
                condition=Q(material_cost__gte=0)
                & Q(labour_cost__gte=0)
                & Q(overhead_cost__gte=0)
                & Q(finished_cost__gte=0),
                name="erp_productionorder_costs_not_negative",
            ),
            models.CheckConstraint(
                condition=~Q(state="done")
                | Q(finished_cost=F("material_cost") + F("labour_cost") + F("overhead_cost")),
                name="erp_productionorder_done_wip_zero",
            ),
            models.CheckConstraint(
                condition=Q(finished_cost__lte=F("material_cost") + F("labour_cost") + F("overhead_cost")),
                name="erp_productionorder_wip_not_negative",
            ),
        ]
        indexes = [models.Index(fields=["company", "state"], name="erp_productionorder_state_idx")]

    def __str__(self) -> str:
        return self.number or f"MO {self.pk}"

    @property
    def wip_value(self) -> Decimal:
        return self.material_cost + self.labour_cost + self.overhead_cost - self.finished_cost

    @property
    def remaining_quantity(self) -> Decimal:
        return max(self.quantity - self.produced_quantity - self.scrapped_quantity, ZERO)


@audited
class ProductionMaterial(TenantModel):
    """A component the order needs: ``required_quantity`` (BOM quantity with scrap), reserved in the order's
    warehouse by ``reservation``, ``issued_quantity`` consumed into production."""

    order = models.ForeignKey(
        ProductionOrder, on_delete=models.CASCADE, related_name="materials", verbose_name=_("order")
    )
    product = models.ForeignKey("erp.Product", on_delete=models.PROTECT, related_name="+", verbose_name=_("component"))
    required_quantity = models.DecimalField(_("required"), **QUANTITY)
    issued_quantity = models.DecimalField(_("issued"), default=ZERO, **QUANTITY)
    issued_cost = models.DecimalField(_("issued cost"), default=ZERO, **MONEY)
    reservation = models.ForeignKey(
        "erp.StockReservation", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        verbose_name = _("production material")
        verbose_name_plural = _("production materials")
        ordering = ["order", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(required_quantity__gt=0), name="erp_prodmaterial_required_positive"),
            models.CheckConstraint(condition=Q(issued_quantity__gte=0), name="erp_prodmaterial_issued_not_negative"),
            models.UniqueConstraint(fields=["order", "product"], name="erp_prodmaterial_one_per_product"),
        ]

    def __str__(self) -> str:
        return f"{self.order_id}: {self.required_quantity} × {self.product_id}"


class OperationState(models.TextChoices):
    PENDING = "pending", _("Waiting")
    RUNNING = "running", _("Running")
    PAUSED = "paused", _("Paused")
    DONE = "done", _("Done")


@audited
class ProductionOperation(TenantModel):
    """One operation of an order on a work centre: scheduled start/end (finite capacity), and what operators
    recorded — time worked, good and scrapped quantities."""

    order = models.ForeignKey(
        ProductionOrder, on_delete=models.CASCADE, related_name="operations", verbose_name=_("order")
    )
    sequence = models.PositiveSmallIntegerField(_("sequence"), default=10)
    name = models.CharField(_("name"), max_length=100)
    work_center = models.ForeignKey(
        WorkCenter, on_delete=models.PROTECT, related_name="operations", verbose_name=_("work centre")
    )
    setup_minutes = models.PositiveIntegerField(_("setup (minutes)"), default=0)
    run_minutes = models.PositiveIntegerField(_("run (minutes, whole order)"), default=0)
    queue_minutes = models.PositiveIntegerField(_("queue (minutes)"), default=0)
    state = models.CharField(_("state"), max_length=10, choices=OperationState.choices, default=OperationState.PENDING)
    scheduled_start = models.DateTimeField(_("scheduled start"), null=True, blank=True)
    scheduled_end = models.DateTimeField(_("scheduled end"), null=True, blank=True)
    station = models.PositiveSmallIntegerField(_("station"), null=True, blank=True)
    started_at = models.DateTimeField(_("running since"), null=True, blank=True)
    first_started_at = models.DateTimeField(_("first started"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    worked_minutes = models.DecimalField(_("worked (minutes)"), default=ZERO, **QUANTITY)
    costed_minutes = models.DecimalField(_("costed (minutes)"), default=ZERO, **QUANTITY)
    good_quantity = models.DecimalField(_("good"), default=ZERO, **QUANTITY)
    scrap_quantity = models.DecimalField(_("scrapped"), default=ZERO, **QUANTITY)
    late_notified_at = models.DateTimeField(_("late alert sent"), null=True, blank=True)

    class Meta:
        verbose_name = _("production operation")
        verbose_name_plural = _("production operations")
        ordering = ["order", "sequence", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(worked_minutes__gte=0)
                & Q(costed_minutes__gte=0)
                & Q(good_quantity__gte=0)
                & Q(scrap_quantity__gte=0),
                name="erp_prodoperation_not_negative",
            ),
            models.CheckConstraint(
                condition=~Q(state="running") | Q(started_at__isnull=False), name="erp_prodoperation_running_since"
            ),
        ]
        indexes = [models.Index(fields=["work_center", "scheduled_start"], name="erp_prodoperation_wc_idx")]

    def __str__(self) -> str:
        return f"{self.order_id}/{self.sequence} {self.name}"


@audited
class ProductionReceipt(TenantModel):
    """Finished goods received from an order into stock, as a new lot, at the cost taken out of WIP."""

    order = models.ForeignKey(ProductionOrder, on_delete=models.PROTECT, related_name="receipts")
    lot = models.ForeignKey("erp.Lot", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    quantity = models.DecimalField(_("quantity"), **QUANTITY)
    scrapped_quantity = models.DecimalField(_("scrapped"), default=ZERO, **QUANTITY)
    cost = models.DecimalField(_("cost"), default=ZERO, **MONEY)
    move = models.ForeignKey("erp.StockMove", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        verbose_name = _("production receipt")
        verbose_name_plural = _("production receipts")
        ordering = ["order", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(quantity__gte=0) & Q(scrapped_quantity__gte=0) & Q(cost__gte=0),
                name="erp_prodreceipt_not_negative",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.order_id}: {self.quantity}"


# ---------------------------------------------------------------- quality


@audited
class InspectionPlan(TenantModel):
    """What to check on a product (at an operation of that name, or at receipt): characteristics with limits,
    ``[{"name": "diameter", "min": "9.95", "max": "10.05", "unit": "mm"}]``."""

    name = models.CharField(_("name"), max_length=100)
    product = models.ForeignKey("erp.Product", on_delete=models.CASCADE, related_name="inspection_plans")
    operation_name = models.CharField(_("at operation"), max_length=100, blank=True)
    characteristics = models.JSONField(_("characteristics"), default=list)
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("inspection plan")
        verbose_name_plural = _("inspection plans")
        ordering = ["product", "name"]
        constraints = [
            models.UniqueConstraint(fields=["company", "product", "name"], name="erp_inspectionplan_name_unique")
        ]

    def __str__(self) -> str:
        return self.name


class InspectionResult(models.TextChoices):
    PASS = "pass", _("Pass")
    FAIL = "fail", _("Fail")


@audited
class Inspection(TenantModel):
    """One inspection of an order's output (or a lot): measured values, inspected and defective quantities."""

    plan = models.ForeignKey(InspectionPlan, on_delete=models.PROTECT, related_name="inspections")
    product = models.ForeignKey("erp.Product", on_delete=models.PROTECT, related_name="+")
    production_order = models.ForeignKey(
        ProductionOrder, null=True, blank=True, on_delete=models.PROTECT, related_name="inspections"
    )
    operation = models.ForeignKey(
        ProductionOperation, null=True, blank=True, on_delete=models.PROTECT, related_name="inspections"
    )
    work_center = models.ForeignKey(WorkCenter, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    lot = models.ForeignKey("erp.Lot", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    result = models.CharField(_("result"), max_length=4, choices=InspectionResult.choices)
    measurements = models.JSONField(_("measured values"), default=list)
    inspected_quantity = models.DecimalField(_("inspected"), default=Decimal("1"), **QUANTITY)
    defect_quantity = models.DecimalField(_("defective"), default=ZERO, **QUANTITY)
    inspected_at = models.DateTimeField(_("inspected at"))
    inspected_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        verbose_name = _("inspection")
        verbose_name_plural = _("inspections")
        ordering = ["-inspected_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(inspected_quantity__gt=0), name="erp_inspection_inspected_positive"),
            models.CheckConstraint(
                condition=Q(defect_quantity__gte=0) & Q(defect_quantity__lte=F("inspected_quantity")),
                name="erp_inspection_defects_in_range",
            ),
        ]
        indexes = [models.Index(fields=["company", "inspected_at"], name="erp_inspection_date_idx")]

    def __str__(self) -> str:
        return f"{self.plan_id}: {self.result}"


class NonConformanceState(models.TextChoices):
    OPEN = "open", _("Open")
    CLOSED = "closed", _("Closed")


@audited
class NonConformance(TenantModel):
    """A non-conformance (不合格品报告): what was wrong, with which lot and production order; ``crm_ticket_id``
    names the customer complaint it answers (a plain id: CRM is another app)."""

    number = models.CharField(_("number"), max_length=20, blank=True)
    product = models.ForeignKey("erp.Product", on_delete=models.PROTECT, related_name="+")
    production_order = models.ForeignKey(
        ProductionOrder, null=True, blank=True, on_delete=models.PROTECT, related_name="non_conformances"
    )
    lot = models.ForeignKey("erp.Lot", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    inspection = models.ForeignKey(
        Inspection, null=True, blank=True, on_delete=models.SET_NULL, related_name="non_conformances"
    )
    crm_ticket_id = models.BigIntegerField(_("CRM ticket id"), null=True, blank=True)
    quantity = models.DecimalField(_("quantity affected"), default=ZERO, **QUANTITY)
    description = models.TextField(_("description"))
    disposition = models.CharField(_("disposition"), max_length=200, blank=True)
    state = models.CharField(
        _("state"), max_length=10, choices=NonConformanceState.choices, default=NonConformanceState.OPEN
    )
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True)

    class Meta:
        verbose_name = _("non-conformance")
        verbose_name_plural = _("non-conformances")
        ordering = ["-id"]
        constraints = [models.CheckConstraint(condition=Q(quantity__gte=0), name="erp_nc_quantity_not_negative")]
        indexes = [models.Index(fields=["company", "crm_ticket_id"], name="erp_nc_ticket_idx")]

    def __str__(self) -> str:
        return self.number or f"NC {self.pk}"
