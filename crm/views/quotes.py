"""The products and quotes of an opportunity page: the lines editor (htmx: product search, a price and
availability preview while choosing the quantity, inline quantity / discount changes answered with the refreshed
lines), quote generation, send / accept / reject, the PDF download, and the list of quotes.

Every write goes through ``crm.services.quotes``; the live figures come from ERP through ``crm.selectors``.
Without JavaScript the same forms post and redirect back to the opportunity page.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Q
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from crm import selectors
from crm.errors import CrmConflict
from crm.models import Opportunity, OpportunityLine, OpportunityStatus, Quote, QuoteState
from crm.models.quotes import OPEN_QUOTE_STATES
from crm.quote_pdf import render_quote_pdf
from crm.services import quote_approvals
from crm.services import quotes as quote_services
from crm.text import search_terms
from crm.views.common import is_htmx, paginate, require, sorted_by
from crm.views.exports import export_list, export_requested
from crm.views.forms import DATE_INPUT, apply_errors
from erp.selectors import inventory as erp_inventory
from suite import policy
from suite.models import Role
from suite.ui import search as shell_search
from suite.ui.choices import chosen_id
from suite.ui.records import actor_required
from suite.ui.saved_views import default_view_redirect


class LineAddForm(forms.Form):
    product_id = forms.IntegerField(label=gettext_lazy("Product"), widget=forms.HiddenInput)
    quantity = forms.DecimalField(label=gettext_lazy("Quantity"), max_digits=18, decimal_places=4, initial=1)
    discount_percent = forms.DecimalField(
        label=gettext_lazy("Discount (%)"), max_digits=5, decimal_places=2, initial=0, required=False
    )
    tax_rate = forms.DecimalField(
        label=gettext_lazy("Tax rate (%)"),
        max_digits=5,
        decimal_places=2,
        initial=quote_services.DEFAULT_TAX_RATE,
        required=False,
    )
    unit_price = forms.DecimalField(
        label=gettext_lazy("Unit price (by hand)"), max_digits=18, decimal_places=4, required=False
    )


class LineEditForm(forms.Form):
    quantity = forms.DecimalField(max_digits=18, decimal_places=4)
    discount_percent = forms.DecimalField(max_digits=5, decimal_places=2)
    tax_rate = forms.DecimalField(max_digits=5, decimal_places=2)
    unit_price = forms.DecimalField(max_digits=18, decimal_places=4, required=False)


class QuoteForm(forms.Form):
    valid_until = forms.DateField(label=gettext_lazy("Valid until"), widget=DATE_INPUT)
    terms = forms.CharField(label=gettext_lazy("Terms"), widget=forms.Textarea(attrs={"rows": 3}), required=False)


def _opportunity_or_404(actor, pk: int) -> Opportunity:
    return policy.get_visible_or_404(actor, selectors.opportunities_visible_to(actor), pk=pk)


def lines_context(actor, opportunity: Opportunity, *, add_form: LineAddForm | None = None, errors=None) -> dict:
    """What the products and quotes sections of the opportunity page need (lines with ERP's live figures,
    quotes, the forms and what the actor may do)."""
    lines = list(selectors.opportunity_lines_visible_to(actor, opportunity=opportunity))
    availability = selectors.lines_availability(opportunity=opportunity, lines=lines)
    for line in lines:
        line.availability = availability.get(line.pk)
    editable = opportunity.status != OpportunityStatus.WON
    can_quote = opportunity.status == OpportunityStatus.OPEN and policy.can(actor, "add", Quote)
    return {
        "opportunity": opportunity,
        "lines": lines,
        "line_errors": errors or {},
        "can_edit_lines": editable and policy.can(actor, "change", OpportunityLine),
        "can_add_line": editable and policy.can(actor, "add", OpportunityLine),
        "can_override_price": policy.can(actor, "override_price", OpportunityLine),
        "add_form": add_form or LineAddForm(),
        "quotes": list(selectors.quotes_visible_to(actor, opportunity=opportunity).order_by("-version")),
        "can_quote": can_quote and bool(lines),
        "quote_form": QuoteForm(
            initial={"valid_until": timezone.localdate() + dt.timedelta(days=quote_services.DEFAULT_VALIDITY_DAYS)}
        ),
        "can_send": policy.can(actor, "send", Quote),
        "can_decide": policy.can(actor, "accept", Quote),
        "can_approve": policy.can(actor, "approve", Quote),
        "is_admin": actor.role == Role.ADMIN,  # decides at either approval level
    }


def _lines_response(request, opportunity: Opportunity, **extra):
    """The lines section again (htmx), or back to the opportunity page."""
    if is_htmx(request):
        fresh = _opportunity_or_404(request.actor, opportunity.pk)
        return render(request, "crm/_opportunity_lines.html", lines_context(request.actor, fresh, **extra))
    return redirect("crm:opportunity-detail", pk=opportunity.pk)


def _service_error(request, error) -> None:
    if isinstance(error, ValidationError):
        messages.error(request, " ".join(error.messages))
    else:
        messages.error(request, str(error.message))


@actor_required
def product_search(request, pk: int):
    """Autocomplete of the add-line form: the company's active products matching ``q`` (SKU, barcode, name)."""
    actor = request.actor
    _opportunity_or_404(actor, pk)
    require(actor, "add", OpportunityLine)
    query = shell_search.normalize(request.GET.get("q", ""))[:64]
    products = erp_inventory.products_for_sale(company=actor.company_id, search=query, limit=15) if query else []
    return render(request, "crm/_product_options.html", {"products": products, "query": query, "pk": pk})


def _decimal_or_none(raw: str) -> Decimal | None:
    try:
        value = Decimal((raw or "").strip())
    except (InvalidOperation, ValueError):
        return None
    return value if value.is_finite() and value > 0 else None


@actor_required
def line_preview(request, pk: int):
    """Price and availability of the product chosen in the add-line form for the quantity typed (htmx)."""
    actor = request.actor
    opportunity = _opportunity_or_404(actor, pk)
    product_id = request.GET.get("product_id", "")
    quantity = _decimal_or_none(request.GET.get("quantity", "")) or Decimal("1")
    product = None
    if (pid := chosen_id(product_id)) is not None:
        product = erp_inventory.products_for_sale_by_ids(company=actor.company_id, ids=[pid]).get(pid)
    context = {"product": product, "quantity": quantity, "opportunity": opportunity}
    if product is not None:
        key = (product.pk, quantity)
        context["price"] = erp_inventory.prices_for_many(
            company=opportunity.company_id,
            items=[key],
            customer_group=quote_services.price_group_of(opportunity) or None,
            currency=opportunity.currency,
        ).get(key)
        context["promise"] = erp_inventory.promises_for(
            company=opportunity.company_id, items=[key], horizon_days=selectors.PROMISE_HORIZON_DAYS
        )[key]
    return render(request, "crm/_line_preview.html", context)


@require_POST
@actor_required
def line_add(request, pk: int):
    actor = request.actor
    opportunity = _opportunity_or_404(actor, pk)
    require(actor, "add", OpportunityLine)
    form = LineAddForm(request.POST)
    if form.is_valid():
        data = {key: value for key, value in form.cleaned_data.items() if value is not None}
        if "unit_price" in data and not policy.can(actor, "override_price", OpportunityLine):
            form.add_error(None, _("Your role may not set prices by hand."))
        else:
            try:
                line = quote_services.opportunity_line_add(opportunity=opportunity, by=actor.user, **data)
                messages.success(request, _("%(product)s was added.") % {"product": line.product_name})
                return _lines_response(request, opportunity)
            except ValidationError as error:
                apply_errors(form, error)
            except CrmConflict as error:
                form.add_error(None, str(error.message))
    if not is_htmx(request):
        for field_errors in form.errors.values():
            messages.error(request, " ".join(field_errors))
        return redirect("crm:opportunity-detail", pk=pk)
    return _lines_response(request, opportunity, add_form=form)


@require_POST
@actor_required
def line_edit(request, pk: int, line_pk: int):
    """Change a line's quantity, discount, tax rate or (with ``override_price``) price; ``reset_price`` goes
    back to ERP's price. Answers with the refreshed lines (htmx) — new price, amount and availability."""
    actor = request.actor
    opportunity = _opportunity_or_404(actor, pk)
    line = policy.get_visible_or_404(
        actor, selectors.opportunity_lines_visible_to(actor, opportunity=opportunity), pk=line_pk
    )
    require(actor, "change", line)
    errors: dict[int, list[str]] = {}
    form = LineEditForm(request.POST)
    if not form.is_valid():
        errors[line.pk] = [message for field_errors in form.errors.values() for message in field_errors]
    else:
        data = {key: form.cleaned_data[key] for key in ("quantity", "discount_percent", "tax_rate")}
        price = form.cleaned_data.get("unit_price")
        if price is not None and price != line.unit_price:
            if not policy.can(actor, "override_price", OpportunityLine):
                raise PermissionDenied
            data["unit_price"] = price
        changed = {key: value for key, value in data.items() if value != getattr(line, key)}
        reset = request.POST.get("reset_price") == "1"
        try:
            if changed or reset:
                quote_services.opportunity_line_update(line=line, by=actor.user, reset_price=reset, **changed)
        except ValidationError as error:
            errors[line.pk] = error.messages
        except CrmConflict as error:
            errors[line.pk] = [str(error.message)]
    if errors and not is_htmx(request):
        messages.error(request, " ".join(errors[line.pk]))
    return _lines_response(request, opportunity, errors=errors)


@require_POST
@actor_required
def line_delete(request, pk: int, line_pk: int):
    actor = request.actor
    opportunity = _opportunity_or_404(actor, pk)
    line = policy.get_visible_or_404(
        actor, selectors.opportunity_lines_visible_to(actor, opportunity=opportunity), pk=line_pk
    )
    require(actor, "delete", line)
    try:
        quote_services.opportunity_line_delete(line=line, by=actor.user)
    except CrmConflict as error:
        _service_error(request, error)
    return _lines_response(request, opportunity)


@require_POST
@actor_required
def lines_reprice(request, pk: int):
    actor = request.actor
    opportunity = _opportunity_or_404(actor, pk)
    require(actor, "change", OpportunityLine)
    try:
        changed = quote_services.opportunity_lines_reprice(opportunity=opportunity, by=actor.user)
        messages.success(request, _("Prices refreshed from ERP: %(count)s line(s) changed.") % {"count": changed})
    except CrmConflict as error:
        _service_error(request, error)
    return _lines_response(request, opportunity)


# ---------------------------------------------------------------- quotes


@require_POST
@actor_required
def quote_create(request, pk: int):
    actor = request.actor
    opportunity = _opportunity_or_404(actor, pk)
    require(actor, "add", Quote)
    form = QuoteForm(request.POST)
    if not form.is_valid():
        for field_errors in form.errors.values():
            messages.error(request, " ".join(field_errors))
        return redirect("crm:opportunity-detail", pk=pk)
    try:
        quote = quote_services.quote_create(
            opportunity=opportunity,
            by=actor.user,
            valid_until=form.cleaned_data["valid_until"],
            terms=form.cleaned_data["terms"],
        )
        messages.success(request, _("Quote %(number)s was generated.") % {"number": quote.display_number})
    except (ValidationError, CrmConflict) as error:
        _service_error(request, error)
    return redirect("crm:opportunity-detail", pk=pk)


QUOTE_STEPS = {
    "send": (quote_services.quote_send, "send", gettext_lazy("Quote %(number)s is marked sent.")),
    "accept": (quote_services.quote_accept, "accept", gettext_lazy("Quote %(number)s is accepted.")),
    "reject": (quote_services.quote_reject, "reject", gettext_lazy("Quote %(number)s is rejected.")),
}
# the approval's steps take the form's note (报价审批)
QUOTE_APPROVAL_STEPS = {
    "request": (quote_approvals.quote_approval_request, "send", gettext_lazy("Quote %(number)s was put forward.")),
    "approve": (quote_approvals.quote_approve, "approve", gettext_lazy("Quote %(number)s is approved.")),
    "decline": (quote_approvals.quote_decline, "approve", gettext_lazy("Quote %(number)s was declined.")),
}


def _quote_or_404(actor, pk: int) -> Quote:
    return policy.get_visible_or_404(actor, selectors.quotes_visible_to(actor), pk=pk)


def _quote_step(request, quote_pk: int, step: str, steps: dict, **fields):
    actor = request.actor
    quote = _quote_or_404(actor, quote_pk)
    if step not in steps:
        raise PermissionDenied
    service, action, done = steps[step]
    require(actor, action, quote)
    try:
        quote = service(quote=quote, by=actor.user, **fields)
        messages.success(request, str(done) % {"number": quote.display_number})
    except (ValidationError, CrmConflict) as error:
        _service_error(request, error)
    return redirect("crm:opportunity-detail", pk=quote.opportunity_id)


@require_POST
@actor_required
def quote_step(request, quote_pk: int, step: str):
    """Send, accept or reject a quote; back to its opportunity with the outcome."""
    return _quote_step(request, quote_pk, step, QUOTE_STEPS)


@require_POST
@actor_required
def quote_approval_step(request, quote_pk: int, step: str):
    """Ask for a quote's approval, approve or decline it (with a note); back to its opportunity."""
    return _quote_step(request, quote_pk, step, QUOTE_APPROVAL_STEPS, note=request.POST.get("note", ""))


@actor_required
def quote_pdf(request, quote_pk: int):
    quote = _quote_or_404(request.actor, quote_pk)
    response = HttpResponse(render_quote_pdf(quote), content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{quote.display_number}.pdf"'
    return response


QUOTE_SORTS = {
    "number": "number",
    "date": "created_at",
    "customer": "customer_name",
    "total": "total",
    "state": "state",
    "valid_until": "valid_until",
}
OPEN_STATES = "open"  # the quote-list filter for draft and sent quotes (still waiting for the customer's answer)


def _day_start(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


def _iso_date(value: str | None) -> dt.date | None:
    try:
        return dt.date.fromisoformat(value or "")
    except ValueError:
        return None


def quote_rows(request):
    """The quotes the actor may see, narrowed and sorted by the quote list's query string: ``q`` (every term in the
    quote number, the customer, the opportunity's name, or the pinyin of either), ``state`` (or ``open``: draft and
    sent), ``owner=me`` (my deals' quotes), ``date_from`` / ``date_to`` (made on, inclusive, local days), ``sort``.
    Values that do not parse are ignored. Returns the queryset, the filters applied and the sort."""
    actor = request.actor
    quotes = selectors.quotes_visible_to(actor)
    query = shell_search.normalize(request.GET.get("q", ""))
    for term in search_terms(query):
        quotes = quotes.filter(
            Q(number__icontains=term)
            | Q(customer_name__icontains=term)
            | Q(opportunity__name__icontains=term)
            | Q(opportunity__search_text__contains=term)
        )
    state = request.GET.get("state", "")
    if state == OPEN_STATES:
        quotes = quotes.filter(state__in=OPEN_QUOTE_STATES)
    elif state in QuoteState.values:
        quotes = quotes.filter(state=state)
    else:
        state = ""
    owner = "me" if request.GET.get("owner") == "me" else ""
    if owner:
        quotes = quotes.filter(opportunity__owner=actor.user)
    date_from, date_to = _iso_date(request.GET.get("date_from")), _iso_date(request.GET.get("date_to"))
    if date_from:
        quotes = quotes.filter(created_at__gte=_day_start(date_from))
    if date_to and date_to < dt.date.max:
        quotes = quotes.filter(created_at__lt=_day_start(date_to + dt.timedelta(days=1)))
    quotes, sort = sorted_by(request, quotes, QUOTE_SORTS, "-created_at")
    filters = {
        "q": query,
        "state": state,
        "owner": owner,
        "date_from": date_from.isoformat() if date_from else "",
        "date_to": date_to.isoformat() if date_to else "",
    }
    return quotes, filters, sort


@actor_required
def quote_list(request):
    """Every quote the actor may see, newest first: searched, filtered, sorted, paginated — or exported
    (``?export=csv|xlsx``: the same rows, through ``suite.exports`` and the policy layer)."""
    actor = request.actor
    require(actor, "view", Quote)
    if opened_with_default := default_view_redirect(request, "crm:quote-list"):
        return opened_with_default
    quotes, filters, sort = quote_rows(request)
    if export_requested(request):
        return export_list(request, quotes, "quote")
    return render(
        request,
        "crm/quote_list.html",
        {
            "page": paginate(request, quotes),
            "filters": filters,
            "query": filters["q"],
            "state": filters["state"],
            "states": QuoteState.choices,
            "sort": sort,
            "can_export": policy.can(actor, "export", Quote),
            "can_send": policy.can(actor, "send", Quote),
        },
    )
