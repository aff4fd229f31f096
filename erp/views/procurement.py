"""Procurement and inventory-operation pages under /erp/: purchase orders (list, detail with its actions, form
with lines, receive screen), count sheets (list, new, the sheet with counted quantities, submit / approve) and
transfers (list, new, ship / receive). Thin: the policy decides, services write, service errors come back as
messages or as field errors next to the field."""

from __future__ import annotations

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
    CountState,
    Partner,
    Product,
    PurchaseOrder,
    PurchaseOrderState,
    StockCount,
    StockTransfer,
    Tax,
    TransferState,
    Warehouse,
)
from erp.selectors import procurement as selectors
from erp.services import inventory as inventory_services
from erp.services import procurement as services
from erp.services import stock_operations as operations
from suite import policy
from suite.ui import search as shell_search
from suite.ui.choices import chosen
from suite.ui.records import actor_required
from suite.ui.saved_views import default_view_redirect

PAGE_SIZE = 25
LINE_ROWS = 5


def _require(actor, action: str, target) -> None:
    if not policy.can(actor, action, target):
        raise PermissionDenied


def _page(request, queryset):
    return Paginator(queryset, PAGE_SIZE).get_page(request.GET.get("page"))


def _visible(queryset, pk):
    try:
        return queryset.get(pk=pk)
    except queryset.model.DoesNotExist:
        raise Http404 from None


def _error_messages(request, error) -> None:
    if isinstance(error, ValidationError):
        for field, items in error.message_dict.items():
            for item in items:
                messages.error(request, f"{field}: {item}" if field != "__all__" else item)
    else:
        messages.error(request, str(getattr(error, "message", error)))


def _errors_to_forms(error: ValidationError, form, line_forms, used) -> None:
    """Service field errors onto the header form or the line form they name (``lines.1.quantity``)."""
    for field, items in error.message_dict.items():
        parts = field.split(".")
        if parts[0] == "lines" and len(parts) == 3 and parts[1].isdigit() and int(parts[1]) < len(used):
            target = used[int(parts[1])]
            for item in items:
                target.add_error(parts[2] if parts[2] in target.fields else None, item)
        else:
            for item in items:
                form.add_error(field if field in form.fields else None, item)


# ---------------------------------------------------------------- purchase orders


@actor_required
def order_list(request):
    actor = request.actor
    _require(actor, "view", PurchaseOrder)
    if opened_with_default := default_view_redirect(request, "erp:purchase-order-list"):
        return opened_with_default
    state = request.GET.get("state", "")
    if state not in PurchaseOrderState.values:
        state = ""
    query = shell_search.normalize(request.GET.get("q", ""))
    orders = selectors.purchase_orders_visible_to(actor)
    if state:
        orders = orders.filter(state=state)
    if query:
        orders = orders.filter(number__icontains=query) | orders.filter(supplier__name__icontains=query)
    return render(
        request,
        "erp/procurement/order_list.html",
        {
            "page": _page(request, orders.order_by("-id")),
            "state": state,
            "query": query,
            "states": PurchaseOrderState.choices,
            "can_add": policy.can(actor, "add", PurchaseOrder),
        },
    )


ORDER_ACTIONS = (
    ("submit", gettext_lazy("Submit"), {PurchaseOrderState.DRAFT}),
    ("approve", gettext_lazy("Approve"), {PurchaseOrderState.TO_APPROVE}),
    ("confirm", gettext_lazy("Confirm with the supplier"), {PurchaseOrderState.APPROVED}),
    ("bill", gettext_lazy("Create vendor bill"), {PurchaseOrderState.CONFIRMED, PurchaseOrderState.DONE}),
    (
        "cancel",
        gettext_lazy("Cancel"),
        {
            PurchaseOrderState.DRAFT,
            PurchaseOrderState.TO_APPROVE,
            PurchaseOrderState.APPROVED,
            PurchaseOrderState.CONFIRMED,
        },
    ),
)


@actor_required
def order_detail(request, pk: int):
    actor = request.actor
    _require(actor, "view", PurchaseOrder)
    order = selectors.purchase_order_detail(actor, pk)
    if order is None:
        raise Http404
    actions = [
        (name, label)
        for name, label, states in ORDER_ACTIONS
        if order.state in states and policy.can(actor, name, order)
    ]
    can_receive = order.state == PurchaseOrderState.CONFIRMED and policy.can(actor, "receive", PurchaseOrder)
    matches = order.bill_matches.select_related("invoice").order_by("-id")
    return render(
        request,
        "erp/procurement/order_detail.html",
        {
            "order": order,
            "lines": order.lines.all(),
            "receipts": order.receipts.all(),
            "matches": matches,
            "actions": actions,
            "can_receive": can_receive,
        },
    )


@require_POST
@actor_required
def order_action(request, pk: int, name: str):
    actor = request.actor
    calls = {
        "submit": lambda order: services.purchase_order_submit(order=order, by=actor.user),
        "approve": lambda order: services.purchase_order_approve(order=order, by=actor.user),
        "confirm": lambda order: services.purchase_order_confirm(order=order, by=actor.user),
        "cancel": lambda order: services.purchase_order_cancel(order=order, by=actor.user),
        "bill": lambda order: services.vendor_bill_create(order=order, by=actor.user),
    }
    if name not in calls:
        raise Http404
    order = _visible(selectors.purchase_orders_visible_to(actor), pk)
    _require(actor, name, order)
    try:
        calls[name](order)
    except (ValidationError, inventory_services.StockConflict) as error:
        _error_messages(request, error)
    else:
        messages.success(request, _("Done."))
    return redirect("erp:purchase-order-detail", pk=order.pk)


class OrderForm(forms.Form):
    supplier = forms.ModelChoiceField(queryset=Partner.objects.none(), label=gettext_lazy("Supplier"))
    warehouse = forms.ModelChoiceField(queryset=Warehouse.objects.none(), label=gettext_lazy("Warehouse"))
    expected_date = forms.DateField(
        required=False, label=gettext_lazy("Expected on"), widget=forms.DateInput(attrs={"type": "date"})
    )
    supplier_reference = forms.CharField(required=False, max_length=100, label=gettext_lazy("Supplier's reference"))
    note = forms.CharField(
        required=False, max_length=5000, widget=forms.Textarea(attrs={"rows": 2}), label=gettext_lazy("Note")
    )

    def __init__(self, *args, actor, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["supplier"].queryset = Partner.objects.filter(
            company_id=actor.company_id, is_supplier=True, is_active=True
        ).order_by("name")
        self.fields["warehouse"].queryset = Warehouse.objects.filter(company_id=actor.company_id, is_active=True)


class OrderLineForm(forms.Form):
    product = forms.ModelChoiceField(queryset=Product.objects.none(), required=False, label=gettext_lazy("Product"))
    quantity = forms.DecimalField(required=False, max_digits=18, decimal_places=4, label=gettext_lazy("Quantity"))
    unit_price = forms.DecimalField(required=False, max_digits=18, decimal_places=4, label=gettext_lazy("Unit price"))
    tax = forms.ModelChoiceField(queryset=Tax.objects.none(), required=False, label=gettext_lazy("Tax"))
    expected_date = forms.DateField(
        required=False, label=gettext_lazy("Expected on"), widget=forms.DateInput(attrs={"type": "date"})
    )

    def __init__(self, *args, actor, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["product"].queryset = Product.objects.filter(company_id=actor.company_id, is_active=True)
        self.fields["tax"].queryset = Tax.objects.filter(company_id=actor.company_id, use="purchase", is_active=True)


@actor_required
def order_create(request):
    actor = request.actor
    _require(actor, "add", PurchaseOrder)
    data = request.POST if request.method == "POST" else None
    form = OrderForm(data, actor=actor)
    line_forms = [OrderLineForm(data, actor=actor, prefix=f"line{i}") for i in range(LINE_ROWS)]
    if data is not None and form.is_valid() and all(f.is_valid() for f in line_forms):
        used = [f for f in line_forms if f.cleaned_data.get("product")]
        lines = [{k: v for k, v in f.cleaned_data.items() if v not in (None, "")} for f in used]
        try:
            order = services.purchase_order_create(
                company=actor.company, lines=lines, by=actor.user, **form.cleaned_data
            )
        except ValidationError as error:
            _errors_to_forms(error, form, line_forms, used)
        else:
            messages.success(request, _("Order %(number)s created.") % {"number": order.number})
            return redirect("erp:purchase-order-detail", pk=order.pk)
    return render(request, "erp/procurement/order_form.html", {"form": form, "line_forms": line_forms})


class ReceiveLineForm(forms.Form):
    quantity = forms.DecimalField(required=False, max_digits=18, decimal_places=4, label=gettext_lazy("Receive now"))
    lot_code = forms.CharField(required=False, max_length=50, label=gettext_lazy("Lot"))
    expiry_date = forms.DateField(
        required=False, label=gettext_lazy("Expires on"), widget=forms.DateInput(attrs={"type": "date"})
    )


@actor_required
def order_receive(request, pk: int):
    """The receive screen: one row per line with what is still open; enter what arrived (and its lots)."""
    actor = request.actor
    _require(actor, "receive", PurchaseOrder)
    order = selectors.purchase_order_detail(actor, pk)
    if order is None:
        raise Http404
    lines = list(order.lines.all())
    data = request.POST if request.method == "POST" else None
    rows = [(line, ReceiveLineForm(data, prefix=f"line{line.pk}")) for line in lines]
    note = (data or {}).get("delivery_note", "")
    if data is not None and all(f.is_valid() for _line, f in rows):
        used = [(line, f) for line, f in rows if f.cleaned_data.get("quantity")]
        payload = [
            {"order_line": line.pk, **{k: v for k, v in f.cleaned_data.items() if v not in (None, "")}}
            for line, f in used
        ]
        try:
            receipt = services.goods_receive(order=order, lines=payload, delivery_note=note, by=actor.user)
        except ValidationError as error:
            header = forms.Form()
            _errors_to_forms(error, header, [f for _l, f in used], [f for _l, f in used])
            for item in header.non_field_errors():
                messages.error(request, item)
        except inventory_services.StockConflict as error:
            _error_messages(request, error)
        else:
            messages.success(request, _("Receipt %(number)s recorded.") % {"number": receipt.number})
            return redirect("erp:purchase-order-detail", pk=order.pk)
    return render(request, "erp/procurement/order_receive.html", {"order": order, "rows": rows, "note": note})


# ---------------------------------------------------------------- count sheets


@actor_required
def count_list(request):
    actor = request.actor
    _require(actor, "view", StockCount)
    counts = selectors.stock_counts_visible_to(actor).order_by("-id")
    return render(
        request,
        "erp/procurement/count_list.html",
        {
            "page": _page(request, counts),
            "can_add": policy.can(actor, "add", StockCount),
            "warehouses": Warehouse.objects.filter(company_id=actor.company_id, is_active=True),
        },
    )


@require_POST
@actor_required
def count_create(request):
    actor = request.actor
    _require(actor, "add", StockCount)
    warehouse = chosen(Warehouse.objects.filter(company_id=actor.company_id), request.POST.get("warehouse"))
    if warehouse is None:
        messages.error(request, _("Choose a warehouse."))
        return redirect("erp:stock-count-list")
    count = operations.stock_count_create(company=actor.company, warehouse=warehouse, by=actor.user)
    return redirect("erp:stock-count-detail", pk=count.pk)


@actor_required
def count_detail(request, pk: int):
    """The count sheet: counted quantities are entered here while counting; then submit / approve."""
    actor = request.actor
    _require(actor, "view", StockCount)
    count = _visible(selectors.stock_counts_visible_to(actor), pk)
    lines = list(count.lines.select_related("product", "product__uom", "location", "lot").order_by("location", "pk"))
    errors: dict = {}
    if request.method == "POST":
        _require(actor, "change", count)
        entries = []
        for line in lines:
            raw = request.POST.get(f"counted-{line.pk}", "").strip()
            if raw:
                entries.append({"line": line.pk, "counted_quantity": raw})
        try:
            operations.stock_count_record(count=count, lines=entries, by=actor.user)
        except ValidationError as error:
            for field, items in error.message_dict.items():
                parts = field.split(".")
                if len(parts) == 3 and parts[1].isdigit():
                    errors[entries[int(parts[1])]["line"]] = items
                else:
                    _error_messages(request, ValidationError({field: items}))
        except inventory_services.StockConflict as error:
            _error_messages(request, error)
        else:
            messages.success(request, _("Counts saved."))
            return redirect("erp:stock-count-detail", pk=count.pk)
    rows = [(line, errors.get(line.pk, []), request.POST.get(f"counted-{line.pk}")) for line in lines]
    actions = []
    if count.state == CountState.COUNTING and policy.can(actor, "submit", count):
        actions.append(("submit", _("Submit for approval")))
    if count.state == CountState.SUBMITTED and policy.can(actor, "approve", count):
        actions.append(("approve", _("Approve and apply")))
    if count.state in (CountState.COUNTING, CountState.SUBMITTED) and policy.can(actor, "cancel", count):
        actions.append(("cancel", _("Cancel")))
    return render(
        request,
        "erp/procurement/count_detail.html",
        {
            "count": count,
            "rows": rows,
            "actions": actions,
            "editable": count.state == CountState.COUNTING and policy.can(actor, "change", count),
        },
    )


@require_POST
@actor_required
def count_action(request, pk: int, name: str):
    actor = request.actor
    calls = {
        "submit": operations.stock_count_submit,
        "approve": operations.stock_count_approve,
        "cancel": operations.stock_count_cancel,
    }
    if name not in calls:
        raise Http404
    count = _visible(selectors.stock_counts_visible_to(actor), pk)
    _require(actor, name, count)
    try:
        calls[name](count=count, by=actor.user)
    except (ValidationError, inventory_services.StockConflict) as error:
        _error_messages(request, error)
    else:
        messages.success(request, _("Done."))
    return redirect("erp:stock-count-detail", pk=count.pk)


# ---------------------------------------------------------------- transfers


class TransferForm(forms.Form):
    from_warehouse = forms.ModelChoiceField(queryset=Warehouse.objects.none(), label=gettext_lazy("From warehouse"))
    to_warehouse = forms.ModelChoiceField(queryset=Warehouse.objects.none(), label=gettext_lazy("To warehouse"))
    via_transit = forms.BooleanField(required=False, initial=True, label=gettext_lazy("Through transit"))
    scheduled_date = forms.DateField(
        required=False, label=gettext_lazy("Scheduled on"), widget=forms.DateInput(attrs={"type": "date"})
    )
    note = forms.CharField(required=False, max_length=200, label=gettext_lazy("Note"))

    def __init__(self, *args, actor, **kwargs):
        super().__init__(*args, **kwargs)
        warehouses = Warehouse.objects.filter(company_id=actor.company_id, is_active=True)
        self.fields["from_warehouse"].queryset = warehouses
        self.fields["to_warehouse"].queryset = warehouses


class TransferLineForm(forms.Form):
    product = forms.ModelChoiceField(queryset=Product.objects.none(), required=False, label=gettext_lazy("Product"))
    quantity = forms.DecimalField(required=False, max_digits=18, decimal_places=4, label=gettext_lazy("Quantity"))

    def __init__(self, *args, actor, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["product"].queryset = Product.objects.filter(
            company_id=actor.company_id, is_active=True, is_stockable=True
        )


@actor_required
def transfer_list(request):
    actor = request.actor
    _require(actor, "view", StockTransfer)
    transfers = selectors.stock_transfers_visible_to(actor).order_by("-id")
    return render(
        request,
        "erp/procurement/transfer_list.html",
        {"page": _page(request, transfers), "can_add": policy.can(actor, "add", StockTransfer)},
    )


@actor_required
def transfer_create(request):
    actor = request.actor
    _require(actor, "add", StockTransfer)
    data = request.POST if request.method == "POST" else None
    form = TransferForm(data, actor=actor)
    line_forms = [TransferLineForm(data, actor=actor, prefix=f"line{i}") for i in range(LINE_ROWS)]
    if data is not None and form.is_valid() and all(f.is_valid() for f in line_forms):
        used = [f for f in line_forms if f.cleaned_data.get("product")]
        lines = [dict(f.cleaned_data) for f in used]
        try:
            transfer = operations.stock_transfer_create(
                company=actor.company, lines=lines, by=actor.user, **form.cleaned_data
            )
        except ValidationError as error:
            _errors_to_forms(error, form, line_forms, used)
        else:
            return redirect("erp:stock-transfer-detail", pk=transfer.pk)
    return render(request, "erp/procurement/transfer_form.html", {"form": form, "line_forms": line_forms})


@actor_required
def transfer_detail(request, pk: int):
    actor = request.actor
    _require(actor, "view", StockTransfer)
    transfer = _visible(selectors.stock_transfers_visible_to(actor), pk)
    actions = []
    if transfer.state == TransferState.DRAFT and policy.can(actor, "ship", transfer):
        actions.append(("ship", _("Ship")))
    if transfer.state == TransferState.IN_TRANSIT and policy.can(actor, "receive", transfer):
        actions.append(("receive", _("Receive everything in transit")))
    if transfer.state == TransferState.DRAFT and policy.can(actor, "cancel", transfer):
        actions.append(("cancel", _("Cancel")))
    return render(
        request,
        "erp/procurement/transfer_detail.html",
        {"transfer": transfer, "lines": transfer.lines.select_related("product", "lot"), "actions": actions},
    )


@require_POST
@actor_required
def transfer_action(request, pk: int, name: str):
    actor = request.actor
    calls = {
        "ship": operations.stock_transfer_ship,
        "receive": operations.stock_transfer_receive,
        "cancel": operations.stock_transfer_cancel,
    }
    if name not in calls:
        raise Http404
    transfer = _visible(selectors.stock_transfers_visible_to(actor), pk)
    _require(actor, name, transfer)
    try:
        calls[name](transfer=transfer, by=actor.user)
    except (ValidationError, inventory_services.StockConflict) as error:
        _error_messages(request, error)
    else:
        messages.success(request, _("Done."))
    return redirect("erp:stock-transfer-detail", pk=transfer.pk)
