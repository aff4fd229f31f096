"""Production pages under /erp/production/: production orders (list, detail with its actions and receipts),
MRP (runs with a live progress bar, planned orders with their explanation and a Confirm button), the shop floor
(big buttons for operators, live progress by htmx polling), the Gantt chart of scheduled operations (SVG drawn on
the server) and quality (defect rates, non-conformances). Thin: the policy decides, services write, errors come
back as messages."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from erp.models import (
    MrpRun,
    MrpRunStatus,
    NonConformance,
    OperationState,
    PlannedOrder,
    PlannedState,
    ProductionOperation,
    ProductionOrder,
    ProductionState,
    Warehouse,
    WorkCenter,
)
from erp.selectors import dashboards_supply
from erp.selectors import production as selectors
from erp.selectors.fulfilment import field_complaints_by_product
from erp.services import inventory as inventory_services
from erp.services import mrp
from erp.services import production as services
from suite import policy
from suite.ui import search as shell_search
from suite.ui.records import actor_required
from suite.ui.saved_views import default_view_redirect

PAGE_SIZE = 25
GANTT_DAYS = 7
GANTT_WIDTH = 980
GANTT_LABEL = 120
GANTT_ROW = 34


def _require(actor, action: str, target) -> None:
    if not policy.can(actor, action, target):
        raise PermissionDenied


def _error(request, error) -> None:
    if isinstance(error, ValidationError) and hasattr(error, "message_dict"):
        for field, items in error.message_dict.items():
            for item in items:
                messages.error(request, f"{field}: {item}" if field != "__all__" else item)
    else:
        messages.error(request, str(getattr(error, "message", error)))


def _decimal(value: str) -> Decimal:
    try:
        return Decimal((value or "0").strip() or "0")
    except InvalidOperation:
        raise ValidationError({"quantity": [_("Enter a number.")]}) from None


def _visible(queryset, pk):
    try:
        return queryset.get(pk=pk)
    except queryset.model.DoesNotExist:
        raise Http404 from None


# ---------------------------------------------------------------- production orders


@actor_required
def order_list(request):
    actor = request.actor
    _require(actor, "view", ProductionOrder)
    if opened_with_default := default_view_redirect(request, "erp:production-order-list"):
        return opened_with_default
    state = request.GET.get("state", "")
    if state not in ProductionState.values:
        state = ""
    query = shell_search.normalize(request.GET.get("q", ""))
    orders = selectors.production_orders_visible_to(actor, state=state, search=query)
    orders, drill = _drilled(orders, request.GET, dashboards_supply.production_orders_drilled)
    page = Paginator(orders, PAGE_SIZE).get_page(request.GET.get("page"))
    progress = {row.order_id: row for row in selectors.production_progress(list(page.object_list))}
    return render(
        request,
        "erp/production/order_list.html",
        {
            "page": page,
            "rows": [(order, progress[order.pk]) for order in page.object_list],
            "state": state,
            "query": query,
            "states": ProductionState.choices,
            "drill": drill,
        },
    )


ORDER_ACTIONS = (
    ("release", gettext_lazy("Release"), {ProductionState.DRAFT}),
    ("issue", gettext_lazy("Issue components"), {ProductionState.RELEASED, ProductionState.IN_PROGRESS}),
    ("cancel", gettext_lazy("Cancel"), {ProductionState.DRAFT, ProductionState.RELEASED}),
)


@actor_required
def order_detail(request, pk: int):
    actor = request.actor
    _require(actor, "view", ProductionOrder)
    order = _visible(selectors.production_orders_visible_to(actor), pk)
    actions = [
        (name, label)
        for name, label, states in ORDER_ACTIONS
        if order.state in states and policy.can(actor, name, order)
    ]
    can_receive = order.state in selectors.OPEN_STATES and policy.can(actor, "receive", order)
    [progress] = selectors.production_progress([order])
    return render(
        request,
        "erp/production/order_detail.html",
        {
            "order": order,
            "progress": progress,
            "materials": order.materials.select_related("product__uom"),
            "operations": order.operations.select_related("work_center"),
            "receipts": order.receipts.select_related("lot"),
            "non_conformances": order.non_conformances.all(),
            "actions": actions,
            "can_receive": can_receive,
            "show_costs": "material_cost" not in policy.hidden_fields(actor, ProductionOrder),
        },
    )


@actor_required
@require_POST
def order_action(request, pk: int, name: str):
    actor = request.actor
    order = _visible(selectors.production_orders_visible_to(actor), pk)
    if name not in {"release", "issue", "cancel", "receive"}:
        raise Http404
    _require(actor, name, order)
    try:
        if name == "release":
            services.production_order_release(order=order, by=request.user)
            messages.success(request, _("Released: components reserved, operations scheduled."))
        elif name == "issue":
            services.production_issue(order=order, by=request.user)
            messages.success(request, _("Components issued to production."))
        elif name == "cancel":
            services.production_order_cancel(order=order, by=request.user)
            messages.success(request, _("Cancelled."))
        else:
            receipt = services.production_receive(
                order=order,
                quantity=_decimal(request.POST.get("quantity")),
                scrap_quantity=_decimal(request.POST.get("scrap_quantity")),
                lot_code=request.POST.get("lot_code", ""),
                close=request.POST.get("close") == "1",
                by=request.user,
            )
            messages.success(
                request,
                _("Received %(qty)s into stock%(lot)s.")
                % {"qty": receipt.quantity.normalize(), "lot": f" ({receipt.lot.code})" if receipt.lot else ""},
            )
    except (ValidationError, inventory_services.StockConflict) as error:
        _error(request, error)
    return redirect("erp:production-order-detail", pk=order.pk)


# ---------------------------------------------------------------- MRP


@actor_required
def mrp_list(request):
    actor = request.actor
    _require(actor, "view", MrpRun)
    warehouses = Warehouse.objects.filter(company=actor.company, is_active=True).order_by("code")
    if request.method == "POST":
        _require(actor, "add", MrpRun)
        try:
            warehouse = warehouses.get(pk=int(request.POST.get("warehouse") or 0))
            run = mrp.mrp_run_start(
                company=actor.company,
                warehouse=warehouse,
                horizon_days=int(request.POST.get("horizon_days") or 90),
                bucket_days=int(request.POST.get("bucket_days") or 1),
                include_forecasts=request.POST.get("include_forecasts") == "1",
                by=request.user,
            )
        except (Warehouse.DoesNotExist, ValueError):
            messages.error(request, _("Choose a warehouse and whole numbers of days."))
        except ValidationError as error:
            _error(request, error)
        else:
            return redirect("erp:production-mrp-detail", pk=run.pk)
    runs = Paginator(selectors.mrp_runs_visible_to(actor), PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "erp/production/mrp_list.html",
        {"page": runs, "warehouses": warehouses, "can_run": policy.can(actor, "add", MrpRun)},
    )


@actor_required
def mrp_detail(request, pk: int):
    actor = request.actor
    _require(actor, "view", MrpRun)
    run = _visible(selectors.mrp_runs_visible_to(actor), pk)
    template = "erp/production/_mrp_progress.html" if request.htmx else "erp/production/mrp_detail.html"
    if request.htmx and run.status not in (MrpRunStatus.QUEUED, MrpRunStatus.RUNNING):
        response = render(request, template, {"run": run})
        response["HX-Refresh"] = "true"  # done: reload the page to show the planned orders
        return response
    state = request.GET.get("state", "")
    planned = selectors.planned_orders_of(run, state=state if state in PlannedState.values else "")
    return render(
        request,
        template,
        {
            "run": run,
            "planned": Paginator(planned, 50).get_page(request.GET.get("page")),
            "state": state,
            "states": PlannedState.choices,
            "can_confirm": policy.can(actor, "confirm", PlannedOrder),
        },
    )


@actor_required
@require_POST
def planned_action(request, pk: int, name: str):
    actor = request.actor
    planned = _visible(policy.scope(actor, PlannedOrder.objects.all()), pk)
    if name not in {"confirm", "dismiss"}:
        raise Http404
    _require(actor, name, planned)
    try:
        if name == "confirm":
            planned = mrp.planned_order_confirm(planned=planned, by=request.user)
            target = planned.production_order or planned.purchase_order or planned.requisition
            messages.success(request, _("Confirmed: %(doc)s created.") % {"doc": target.number})
        else:
            mrp.planned_order_dismiss(planned=planned, by=request.user)
            messages.success(request, _("Dismissed."))
    except (ValidationError, inventory_services.StockConflict) as error:
        _error(request, error)
    return redirect("erp:production-mrp-detail", pk=planned.run_id)


# ---------------------------------------------------------------- shop floor


@actor_required
def shop_floor(request):
    actor = request.actor
    _require(actor, "view", ProductionOperation)
    work_center = request.GET.get("wc")
    work_center = int(work_center) if work_center and work_center.isdigit() else None
    operations = list(selectors.shop_floor_operations(actor, work_center=work_center)[:100])
    orders = list(
        selectors.production_orders_visible_to(actor).filter(state__in=selectors.OPEN_STATES).order_by("due_date")[:50]
    )
    context = {
        "operations": operations,
        "progress": selectors.production_progress(orders),
        "work_center": work_center,
        "work_centers": policy.scope(actor, WorkCenter.objects.filter(is_active=True)).order_by("code"),
        "can_operate": policy.can(actor, "operate", ProductionOperation),
        "now": timezone.now(),
    }
    if request.htmx and request.GET.get("part") == "progress":
        return render(request, "erp/production/_shop_progress.html", context)
    return render(request, "erp/production/shop_floor.html", context)


@actor_required
@require_POST
def operation_action(request, pk: int, name: str):
    actor = request.actor
    operation = _visible(
        ProductionOperation.objects.filter(order__in=policy.scope(actor, ProductionOrder.objects.all())).select_related(
            "order"
        ),
        pk,
    )
    if name not in {"start", "stop", "report"}:
        raise Http404
    _require(actor, "operate", operation)
    try:
        if name == "start":
            services.operation_start(operation=operation, by=request.user)
        elif name == "stop":
            services.operation_stop(operation=operation, by=request.user)
        else:
            services.operation_report(
                operation=operation,
                good_quantity=_decimal(request.POST.get("good_quantity")),
                scrap_quantity=_decimal(request.POST.get("scrap_quantity")),
                finish=request.POST.get("finish") == "1",
                by=request.user,
            )
            messages.success(
                request, _("%(order)s %(op)s: reported.") % {"order": operation.order.number, "op": operation.name}
            )
    except (ValidationError, inventory_services.StockConflict) as error:
        _error(request, error)
    target = request.POST.get("next") or ""
    if target.startswith("/erp/production/"):
        return redirect(target)
    return redirect("erp:production-shop-floor")


# ---------------------------------------------------------------- Gantt


@actor_required
def gantt(request):
    actor = request.actor
    _require(actor, "view", ProductionOperation)
    try:
        start_day = dt.date.fromisoformat(request.GET.get("start", ""))
    except ValueError:
        start_day = timezone.localdate()
    tz = timezone.get_current_timezone()
    start = timezone.make_aware(dt.datetime.combine(start_day, dt.time.min), tz)
    end = start + dt.timedelta(days=GANTT_DAYS)
    operations = selectors.gantt_rows(actor, start=start, end=end)
    span = (end - start).total_seconds()
    scale = (GANTT_WIDTH - GANTT_LABEL) / span
    rows: list[dict] = []
    index: dict[tuple[int, int], dict] = {}
    for op in operations:
        key = (op.work_center_id, op.station or 1)
        if key not in index:
            index[key] = {"label": f"{op.work_center.code} #{op.station or 1}", "bars": [], "y": 0}
            rows.append(index[key])
        bar_start, bar_end = selectors.gantt_span(op)
        x0 = max((bar_start - start).total_seconds(), 0) * scale + GANTT_LABEL
        x1 = min((bar_end - start).total_seconds(), span) * scale + GANTT_LABEL
        done = op.state == OperationState.DONE
        index[key]["bars"].append(
            {
                "x": round(x0, 1),
                "w": round(max(x1 - x0, 2), 1),
                "op": op,
                "start": bar_start,
                "end": bar_end,
                "done": done,
                "late": not done and op.order.due_date < timezone.localtime(bar_end).date(),
            }
        )
    for number, row in enumerate(rows):
        row["y"] = 30 + number * GANTT_ROW
    days = [
        {"x": round(GANTT_LABEL + i * 86400 * scale, 1), "label": start_day + dt.timedelta(days=i)}
        for i in range(GANTT_DAYS)
    ]
    return render(
        request,
        "erp/production/gantt.html",
        {
            "rows": rows,
            "days": days,
            "width": GANTT_WIDTH,
            "height": 40 + len(rows) * GANTT_ROW,
            "label_width": GANTT_LABEL,
            "row_height": GANTT_ROW - 8,
            "start": start_day,
            "previous": start_day - dt.timedelta(days=GANTT_DAYS),
            "next": start_day + dt.timedelta(days=GANTT_DAYS),
            "can_schedule": policy.can(actor, "schedule", ProductionOrder),
        },
    )


@actor_required
@require_POST
def gantt_reschedule(request):
    actor = request.actor
    _require(actor, "schedule", ProductionOrder)
    count = services.production_schedule(company=actor.company)
    messages.success(request, _("%(count)s operations scheduled.") % {"count": count})
    return redirect("erp:production-gantt")


# ---------------------------------------------------------------- quality


@actor_required
def quality(request):
    actor = request.actor
    _require(actor, "view", NonConformance)
    by = request.GET.get("by", "product")
    by = by if by in ("product", "work_center") else "product"
    period = request.GET.get("period", "month")
    period = period if period in ("month", "week") else "month"
    complaints = field_complaints_by_product(actor.company, period=period)
    non_conformances, drill = _drilled(
        policy.scope(actor, NonConformance.objects.select_related("product", "lot", "production_order")),
        request.GET,
        dashboards_supply.non_conformances_drilled,
    )
    non_conformances = Paginator(non_conformances.order_by("-id"), PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "erp/production/quality.html",
        {
            "rates": _with_field_complaints(
                selectors.defect_rates(actor.company, by=by, period=period), complaints, by
            ),
            "field_complaints": complaints,
            "by": by,
            "period": period,
            "page": non_conformances,
            "drill": drill,
        },
    )


DRILL_PARAMS = ("done_from", "done_to", "late", "overdue", "product", "field")


def _drilled(queryset, params, narrow):
    """The list narrowed as a dashboard figure links it (issue #7), and the drill parameters it was given (kept
    in the filter form and shown as a note)."""
    drill = {name: params[name] for name in DRILL_PARAMS if params.get(name)}
    return (narrow(queryset, params) if drill else queryset), drill


def _with_field_complaints(rates: list[dict], complaints: list[dict], by: str) -> list[dict]:
    """Defect rates by product with the field complaints (non-conformances from CRM tickets) of the same product
    and period (closed loop, flow 5)."""
    counts = {(row["key"], row["period"]): row["complaints"] for row in complaints}
    for row in rates:
        row["field_complaints"] = counts.get((row["key"], row["period"]), 0) if by == "product" else None
    return rates
