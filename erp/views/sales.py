"""Sales fulfilment pages under /erp/sales/: the order list, an order (with its actions), the order form, the
delivery list and pick / pack / ship screen, and customer returns. Thin: the policy decides, services write,
service errors come back as messages or field errors on the form."""

from __future__ import annotations

from decimal import Decimal

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from erp.models import (
    DeliveryOrder,
    DeliveryState,
    Lot,
    Partner,
    Product,
    ReturnDestination,
    SalesOrder,
    SalesOrderState,
    SalesReturn,
    Tax,
    Warehouse,
)
from erp.selectors import dashboards_supply
from erp.selectors import sales as selectors
from erp.services import sales as services
from suite import policy
from suite.ui import search as shell_search
from suite.ui.records import actor_required
from suite.ui.saved_views import default_view_redirect

PAGE_SIZE = 25
LINE_ROWS = 5


def _require(actor, action: str, target) -> None:
    if not policy.can(actor, action, target):
        raise PermissionDenied


def _page(request, queryset):
    return Paginator(queryset, PAGE_SIZE).get_page(request.GET.get("page"))


def _visible(actor, queryset, pk):
    try:
        return policy.scope(actor, queryset).get(pk=pk)
    except queryset.model.DoesNotExist:
        raise Http404 from None


def _error_messages(request, error) -> None:
    if isinstance(error, ValidationError):
        for field, items in error.message_dict.items():
            for item in items:
                messages.error(request, f"{field}: {item}" if field != "__all__" else item)
    else:
        messages.error(request, str(getattr(error, "message", error)))


# ---------------------------------------------------------------- orders


@actor_required
def order_list(request):
    actor = request.actor
    _require(actor, "view", SalesOrder)
    if opened_with_default := default_view_redirect(request, "erp:sales-order-list"):
        return opened_with_default
    query = shell_search.normalize(request.GET.get("q", ""))
    state = request.GET.get("state", "")
    if state not in SalesOrderState.values:
        state = ""
    orders = selectors.sales_orders_visible_to(actor, search=query, state=state).order_by("-id")
    at_risk = request.GET.get("at_risk") == "1"  # the dashboard's ATP risk figure (issue #7)
    orders = dashboards_supply.sales_orders_at_risk(orders, actor, request.GET)
    return render(
        request,
        "erp/sales/order_list.html",
        {
            "at_risk": at_risk,
            "page": _page(request, orders),
            "query": query,
            "state": state,
            "states": SalesOrderState.choices,
            "can_add": policy.can(actor, "add", SalesOrder),
        },
    )


@actor_required
def order_detail(request, pk: int):
    actor = request.actor
    order = _visible(actor, SalesOrder.objects.select_related("partner", "warehouse", "salesperson"), pk)
    actions = [
        (name, label)
        for name, label, states in ORDER_ACTIONS
        if order.state in states and policy.can(actor, POLICY_OF_ACTION[name], SalesOrder)
    ]
    return render(
        request,
        "erp/sales/order_detail.html",
        {
            "order": order,
            "lines": selectors.sales_order_lines(order),
            "deliveries": order.deliveries.select_related("warehouse").order_by("id"),
            "returns": order.returns.select_related("credit_note").order_by("id"),
            "invoices": _order_invoices(order),
            "actions": actions,
        },
    )


def _order_invoices(order):
    from erp.models import Invoice

    return Invoice.objects.filter(company_id=order.company_id, lines__sales_line__order=order).distinct().order_by("id")


OPEN = (SalesOrderState.CONFIRMED, SalesOrderState.PARTIALLY_DELIVERED)
ORDER_ACTIONS = (
    ("confirm", gettext_lazy("Confirm"), (SalesOrderState.DRAFT,)),
    ("release", gettext_lazy("Release credit hold"), (SalesOrderState.HELD,)),
    ("reserve", gettext_lazy("Check availability"), OPEN),
    ("invoice", gettext_lazy("Create invoice"), (*OPEN, SalesOrderState.DELIVERED, SalesOrderState.INVOICED)),
    ("close", gettext_lazy("Close"), (SalesOrderState.DELIVERED, SalesOrderState.INVOICED)),
    ("cancel", gettext_lazy("Cancel order"), (SalesOrderState.DRAFT, SalesOrderState.HELD, SalesOrderState.CONFIRMED)),
)
POLICY_OF_ACTION = {name: name for name, _label, _states in ORDER_ACTIONS}


@require_POST
@actor_required
def order_action(request, pk: int, name: str):
    actor = request.actor
    if name not in POLICY_OF_ACTION:
        raise Http404
    order = _visible(actor, SalesOrder.objects.all(), pk)
    _require(actor, POLICY_OF_ACTION[name], SalesOrder)
    note = request.POST.get("note", "")[:300]
    calls = {
        "confirm": lambda: services.sales_order_confirm(order=order, by=actor.user),
        "release": lambda: services.sales_order_release_hold(order=order, by=actor.user, note=note),
        "reserve": lambda: services.sales_order_reserve(order=order, by=actor.user),
        "invoice": lambda: services.sales_order_invoice(order=order, by=actor.user),
        "close": lambda: services.sales_order_close(order=order, by=actor.user),
        "cancel": lambda: services.sales_order_cancel(order=order, by=actor.user, reason=note),
    }
    try:
        result = calls[name]()
    except (ValidationError, services.StockConflict) as error:
        _error_messages(request, error)
    else:
        if name == "confirm" and result.state == SalesOrderState.HELD:
            messages.warning(request, _("The order is on credit hold: %(reason)s") % {"reason": result.hold_reason})
        else:
            messages.success(request, _("Done."))
    return redirect("erp:sales-order-detail", pk=order.pk)


class OrderForm(forms.Form):
    partner = forms.ModelChoiceField(queryset=Partner.objects.none(), label=gettext_lazy("Customer"))
    warehouse = forms.ModelChoiceField(queryset=Warehouse.objects.none(), label=gettext_lazy("Warehouse"))
    requested_date = forms.DateField(
        required=False, label=gettext_lazy("Requested delivery date"), widget=forms.DateInput(attrs={"type": "date"})
    )
    client_reference = forms.CharField(required=False, max_length=100, label=gettext_lazy("Customer reference"))
    note = forms.CharField(
        required=False, max_length=5000, widget=forms.Textarea(attrs={"rows": 2}), label=gettext_lazy("Note")
    )

    def __init__(self, *args, actor, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["partner"].queryset = Partner.objects.filter(
            company_id=actor.company_id, is_customer=True, is_active=True
        ).order_by("name")
        self.fields["warehouse"].queryset = Warehouse.objects.filter(company_id=actor.company_id, is_active=True)


class OrderLineForm(forms.Form):
    product = forms.ModelChoiceField(queryset=Product.objects.none(), required=False, label=gettext_lazy("Product"))
    quantity = forms.DecimalField(required=False, max_digits=18, decimal_places=4, label=gettext_lazy("Quantity"))
    unit_price = forms.DecimalField(
        required=False, max_digits=18, decimal_places=4, label=gettext_lazy("Unit price (empty: price list)")
    )
    discount = forms.DecimalField(required=False, max_digits=5, decimal_places=2, label=gettext_lazy("Discount %"))
    tax = forms.ModelChoiceField(queryset=Tax.objects.none(), required=False, label=gettext_lazy("Tax"))

    def __init__(self, *args, actor, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["product"].queryset = Product.objects.filter(company_id=actor.company_id, is_active=True)
        self.fields["tax"].queryset = Tax.objects.filter(company_id=actor.company_id, use="sale", is_active=True)


@actor_required
def order_create(request):
    actor = request.actor
    _require(actor, "add", SalesOrder)
    data = request.POST if request.method == "POST" else None
    form = OrderForm(data, actor=actor)
    line_forms = [OrderLineForm(data, actor=actor, prefix=f"line{i}") for i in range(LINE_ROWS)]
    if data is not None and form.is_valid() and all(f.is_valid() for f in line_forms):
        lines = []
        for line_form in line_forms:
            values = {k: v for k, v in line_form.cleaned_data.items() if v not in (None, "")}
            if values.get("product"):
                lines.append(values)
        header = {k: v for k, v in form.cleaned_data.items() if k != "partner"}
        try:
            order = services.sales_order_create(
                company=actor.company,
                partner=form.cleaned_data["partner"],
                lines=lines,
                by=actor.user,
                salesperson=actor.user,
                **header,
            )
        except ValidationError as error:
            for field, items in error.message_dict.items():
                parts = field.split(".")
                if parts[0] == "lines" and len(parts) == 3 and int(parts[1]) < len(lines):
                    target = [f for f in line_forms if f.cleaned_data.get("product")][int(parts[1])]
                    for item in items:
                        target.add_error(parts[2] if parts[2] in target.fields else None, item)
                elif field in form.fields:
                    for item in items:
                        form.add_error(field, item)
                else:
                    for item in items:
                        form.add_error(None, item)
        else:
            messages.success(request, _("Order %(number)s created.") % {"number": order.number})
            return redirect("erp:sales-order-detail", pk=order.pk)
    return render(request, "erp/sales/order_form.html", {"form": form, "line_forms": line_forms})


# ---------------------------------------------------------------- deliveries


@actor_required
def delivery_list(request):
    actor = request.actor
    _require(actor, "view", DeliveryOrder)
    state = request.GET.get("state", "")
    if state not in DeliveryState.values:
        state = ""
    deliveries = selectors.deliveries_visible_to(actor, state=state).order_by("-id")
    return render(
        request,
        "erp/sales/delivery_list.html",
        {"page": _page(request, deliveries), "state": state, "states": DeliveryState.choices},
    )


@actor_required
def delivery_detail(request, pk: int):
    """The pick screen: each line with the suggested lots (first expiry first) pre-filled."""
    actor = request.actor
    delivery = _visible(actor, DeliveryOrder.objects.select_related("sales_order__partner", "warehouse"), pk)
    lines = list(selectors.delivery_lines(delivery))
    suggestion = services.pick_suggestion(delivery) if delivery.state == DeliveryState.READY else {}
    rows = []
    for line in lines:
        picks = [(pick.lot, pick.quantity) for pick in line.pick_list] or suggestion.get(line.pk, [])
        lots = (
            Lot.objects.filter(product_id=line.product_id).order_by("expiry_date", "code")
            if line.product.tracks_lots
            else []
        )
        rows.append({"line": line, "picks": picks or [(None, Decimal("0"))], "lots": lots})
    can = {name: policy.can(actor, name, DeliveryOrder) for name in ("pick", "pack", "ship", "deliver", "cancel")}
    can["return"] = policy.can(actor, "add", SalesReturn)
    return render(
        request,
        "erp/sales/delivery_detail.html",
        {"delivery": delivery, "rows": rows, "can": can, "destinations": ReturnDestination.choices},
    )


@require_POST
@actor_required
def delivery_action(request, pk: int, name: str):
    actor = request.actor
    if name not in ("pick", "pack", "ship", "deliver", "cancel"):
        raise Http404
    delivery = _visible(actor, DeliveryOrder.objects.all(), pk)
    _require(actor, name, DeliveryOrder)
    post = request.POST
    try:
        if name == "pick":
            picks = []
            for line_id, lot, quantity in zip(
                post.getlist("line"), post.getlist("lot"), post.getlist("quantity"), strict=False
            ):
                if quantity.strip():
                    picks.append({"line": line_id, "lot": lot or None, "quantity": quantity.strip()})
            services.delivery_pick(delivery=delivery, picks=picks, by=actor.user)
        elif name == "pack":
            try:
                count = int(post.get("package_count") or 1)
            except ValueError:
                count = 0
            services.delivery_pack(
                delivery=delivery, package_count=count, weight=post.get("weight") or None, by=actor.user
            )
        elif name == "ship":
            services.delivery_ship(
                delivery=delivery,
                carrier=post.get("carrier", ""),
                tracking_number=post.get("tracking_number", ""),
                backorder=post.get("backorder", "1") == "1",
                by=actor.user,
            )
        elif name == "deliver":
            services.delivery_confirm_delivered(
                delivery=delivery, received_by=post.get("received_by", ""), by=actor.user
            )
        else:
            services.delivery_cancel(delivery=delivery, by=actor.user)
    except (ValidationError, services.StockConflict) as error:
        _error_messages(request, error)
    else:
        messages.success(request, _("Done."))
    return redirect("erp:delivery-detail", pk=delivery.pk)


# ---------------------------------------------------------------- returns


@actor_required
def return_list(request):
    actor = request.actor
    _require(actor, "view", SalesReturn)
    returns = selectors.returns_visible_to(actor).order_by("-id")
    return render(request, "erp/sales/return_list.html", {"page": _page(request, returns)})


@require_POST
@actor_required
def return_create(request, delivery_pk: int):
    """Authorise a return from the delivery screen: one quantity (and lot) per delivery line."""
    actor = request.actor
    delivery = _visible(actor, DeliveryOrder.objects.all(), delivery_pk)
    _require(actor, "add", SalesReturn)
    post = request.POST
    lines = [
        {"delivery_line": line_id, "quantity": quantity.strip(), "lot": lot or None}
        for line_id, quantity, lot in zip(
            post.getlist("delivery_line"), post.getlist("return_quantity"), post.getlist("return_lot"), strict=False
        )
        if quantity.strip()
    ]
    try:
        sales_return = services.sales_return_create(
            delivery=delivery,
            lines=lines,
            reason=post.get("reason", ""),
            destination=post.get("destination", ReturnDestination.STOCK),
            by=actor.user,
        )
    except (ValidationError, services.StockConflict) as error:
        _error_messages(request, error)
        return redirect("erp:delivery-detail", pk=delivery.pk)
    messages.success(request, _("Return %(number)s authorised.") % {"number": sales_return.number})
    return redirect("erp:sales-return-detail", pk=sales_return.pk)


@actor_required
def return_detail(request, pk: int):
    actor = request.actor
    sales_return = _visible(
        actor, SalesReturn.objects.select_related("delivery", "sales_order__partner", "credit_note", "location"), pk
    )
    return render(
        request,
        "erp/sales/return_detail.html",
        {
            "sales_return": sales_return,
            "lines": selectors.return_lines(sales_return),
            "can_receive": policy.can(actor, "receive", SalesReturn),
        },
    )


@require_POST
@actor_required
def return_action(request, pk: int, name: str):
    actor = request.actor
    if name not in ("receive", "cancel"):
        raise Http404
    sales_return = _visible(actor, SalesReturn.objects.all(), pk)
    _require(actor, name, SalesReturn)
    try:
        if name == "receive":
            services.sales_return_receive(sales_return=sales_return, by=actor.user)
        else:
            services.sales_return_cancel(sales_return=sales_return, by=actor.user)
    except (ValidationError, services.StockConflict) as error:
        _error_messages(request, error)
    else:
        messages.success(request, _("Done."))
    return redirect("erp:sales-return-detail", pk=sales_return.pk)
