"""Customer pages: the lists of accounts and contacts (search, filters, sort), the 360° page of an account, the
contact page, and the create / edit forms."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _

from crm import selectors
from crm.errors import CrmConflict, DuplicateCustomerError
from crm.models import Account, Activity, Contact, Industry, LifecycleStage, Opportunity, PoolAccount, Ticket
from crm.selectors_pool import pool_accounts_visible_to
from crm.services import customers as customer_services
from crm.views import custom_fields
from crm.views.bulk import customer_bulk_context
from crm.views.common import paginate, require, sorted_by
from crm.views.exports import export_list, export_requested
from crm.views.forms import AccountForm, ContactForm, apply_errors
from suite import policy
from suite.ui import search as shell_search
from suite.ui.choices import chosen_id
from suite.ui.records import actor_required
from suite.ui.saved_views import default_view_redirect

CUSTOMER_SORTS = {"name": "name", "city": "city", "updated": "updated_at", "created": "created_at"}
ACCOUNT_FIELDS = [
    "name",
    "name_en",
    "industry",
    "size",
    "phone",
    "email",
    "wechat_id",
    "website",
    "province",
    "city",
    "district",
    "address",
    "source",
    "lifecycle_stage",
    "tax_id",
    "credit_limit",
    "parent",
]
CONTACT_FIELDS = [
    "name",
    "name_en",
    "account",
    "title",
    "department",
    "gender",
    "phone",
    "email",
    "wechat_id",
    "province",
    "city",
    "district",
    "address",
    "source",
    "lifecycle_stage",
]


def _customer_list(request, *, kind: str):
    actor = request.actor
    model = Account if kind == "account" else Contact
    require(actor, "view", model)
    list_key = f"crm:{kind}-list"
    if opened_with_default := default_view_redirect(request, list_key):
        return opened_with_default
    query = shell_search.normalize(request.GET.get("q", ""))
    select = selectors.accounts_visible_to if kind == "account" else selectors.contacts_visible_to
    customers = select(actor, search=query)
    filters = {}
    group_account = None
    stage = request.GET.get("stage", "")
    if stage in LifecycleStage.values:
        customers = customers.filter(lifecycle_stage=stage)
        filters["stage"] = stage
    if kind == "account":
        customers = customers.select_related("finance")  # receivables kept from ERP (closed loop)
        industry = request.GET.get("industry", "")
        if industry in Industry.values:
            customers = customers.filter(industry=industry)
            filters["industry"] = industry
        if request.GET.get("overdue") == "1":
            customers = customers.filter(finance__overdue__gt=0)
            filters["overdue"] = "1"
        parent = chosen_id(request.GET.get("parent", ""))
        if parent is not None:  # a group's companies (the link under the 360 page's "Subsidiaries")
            customers = customers.filter(parent_id=parent)
            filters["parent"] = str(parent)
        group = chosen_id(request.GET.get("group", ""))
        if group is not None:  # a group and every company under it (the 360 page's group figures link here)
            customers = selectors.in_account_group(customers, group)
            filters["group"] = str(group)
        if parent is not None or group is not None:  # named above the list, kept when other filters change
            group_account = policy.scope(actor, Account.objects.filter(pk=group or parent)).only("id", "name").first()
    city = " ".join(request.GET.get("city", "").split())[:50]
    if city:
        customers = customers.filter(city__startswith=city.removesuffix("市"))
        filters["city"] = city
    owner = request.GET.get("owner", "")
    if owner == "me":
        customers = customers.filter(owner=actor.user)
        filters["owner"] = owner
    customers, sort = sorted_by(request, customers, CUSTOMER_SORTS, "-updated_at")
    if export_requested(request):
        return export_list(request, customers, kind)
    # the overdue filter reads the ERP finance facts (not audited: no version to key a remembered count on)
    page = paginate(request, customers, count_models=() if "overdue" in filters else (model,))
    context = {
        "kind": kind,
        "list_key": list_key,
        "page": page,
        "query": query,
        "filters": filters,
        "group_account": group_account,
        "sort": sort,
        "stages": LifecycleStage.choices,
        "industries": Industry.choices,
        "can_add": policy.can(actor, "add", model),
        "can_export": policy.can(actor, "export", model),
        "bulk": customer_bulk_context(actor, kind),
    }
    template = "crm/_customer_rows.html" if request.htmx and request.htmx.target == "customer-results" else None
    return render(request, template or "crm/customer_list.html", context)


@actor_required
def account_list(request):
    return _customer_list(request, kind="account")


@actor_required
def contact_list(request):
    return _customer_list(request, kind="contact")


def _account_or_404(actor, pk: int) -> Account:
    return policy.get_visible_or_404(actor, selectors.accounts_visible_to(actor, include_merged=True), pk=pk)


def _contact_or_404(actor, pk: int) -> Contact:
    return policy.get_visible_or_404(actor, selectors.contacts_visible_to(actor, include_merged=True), pk=pk)


def _detail_context(request, customer, kind: str) -> dict:
    actor = request.actor
    profile = selectors.customer_360(actor, customer)
    return {
        "customer": customer,
        "kind": kind,
        "profile": profile,
        "figures": profile.figures,
        "timeline": profile.timeline,
        "timeline_url": reverse(f"crm:{kind}-timeline", args=[customer.pk]),
        "can_change": policy.can(actor, "change", type(customer)),
        "can_merge": policy.can(actor, "merge", type(customer)),
        "can_add_opportunity": policy.can(actor, "add", Opportunity),
        "can_add_activity": policy.can(actor, "add", Activity),
        "can_add_ticket": policy.can(actor, "add", Ticket),
        "can_add_contact": policy.can(actor, "add", Contact),
        # the owner, their manager or an admin may let an owned account go to the customer pool (客户公海)
        "can_release": kind == "account"
        and customer.owner_id is not None
        and not customer.merged_into_id
        and policy.can(actor, "release", Account),
        "show_tickets": policy.can(actor, "view", Ticket),
        "custom_values": custom_fields.shown(custom_fields.schema_for(actor, kind), customer.custom),
        "in_pool": _pool_state(actor, customer) if kind == "account" and customer.owner_id is None else None,
    }


def _pool_state(actor, account: Account) -> dict | None:
    """An account nobody owns is in the customer pool: when it came back and why, and whether the reader may
    claim it (or, a manager, hand it out) from its page as from the pool's list."""
    if account.merged_into_id or not policy.can(actor, "view", PoolAccount):
        return None
    last = pool_accounts_visible_to(actor).filter(pk=account.pk).values("released_at", "released_reason").first()
    if last is None:
        return None
    return {
        **last,
        "can_claim": policy.can(actor, "claim", PoolAccount),
        "can_assign": policy.can(actor, "assign", PoolAccount),
        "people": list(selectors.assignable_users(actor)) if policy.can(actor, "assign", PoolAccount) else [],
    }


@actor_required
def account_detail(request, pk: int):
    """The customer 360° page of an account: key figures and one timeline of everything about it."""
    account = _account_or_404(request.actor, pk)
    if account.merged_into_id:
        messages.info(request, _("This record was merged; here is the customer it was merged into."))
        return redirect("crm:account-detail", pk=account.merged_into_id)
    return render(request, "crm/customer_detail.html", _detail_context(request, account, "account"))


@actor_required
def contact_detail(request, pk: int):
    contact = _contact_or_404(request.actor, pk)
    if contact.merged_into_id:
        messages.info(request, _("This record was merged; here is the customer it was merged into."))
        return redirect("crm:contact-detail", pk=contact.merged_into_id)
    return render(request, "crm/customer_detail.html", _detail_context(request, contact, "contact"))


def _timeline_page(request, customer, kind: str):
    """The next page of a 360 timeline ("Load more", htmx: the items and a new button replace the button)."""
    try:
        offset = max(0, int(request.GET.get("offset", "0")))
    except ValueError:
        offset = 0
    timeline = selectors.customer_timeline(request.actor, customer, offset=offset)
    context = {"timeline": timeline, "timeline_url": reverse(f"crm:{kind}-timeline", args=[customer.pk])}
    return render(request, "crm/_timeline_items.html", context)


@actor_required
def account_timeline(request, pk: int):
    return _timeline_page(request, _account_or_404(request.actor, pk), "account")


@actor_required
def contact_timeline(request, pk: int):
    return _timeline_page(request, _contact_or_404(request.actor, pk), "contact")


def _duplicates(actor, error: DuplicateCustomerError) -> list[dict]:
    visible = set(
        policy.scope(
            actor, type(error.candidates[0].customer).objects.filter(pk__in=[c.customer.pk for c in error.candidates])
        ).values_list("pk", flat=True)
    )
    return [
        {"customer": c.customer, "visible": c.customer.pk in visible, "matched_on": c.matched_on}
        for c in error.candidates
    ]


def _customer_form(request, *, kind: str, instance=None):
    actor = request.actor
    model = Account if kind == "account" else Contact
    require(actor, "change" if instance else "add", instance or model)
    form_class = AccountForm if kind == "account" else ContactForm
    fields = ACCOUNT_FIELDS if kind == "account" else CONTACT_FIELDS
    if kind == "contact":
        extra = {"accounts": selectors.accounts_visible_to(actor)}
    else:  # any other account the actor sees may be its group (the service refuses loops)
        parents = selectors.accounts_visible_to(actor)
        extra = {"parents": parents.exclude(pk=instance.pk) if instance is not None else parents}
    extra.update(owners=selectors.assignable_users(actor), tags=selectors.tags_visible_to(actor).order_by("name"))
    initial = {}
    if instance is not None:
        initial = {name: getattr(instance, name) for name in fields}
        initial.update(owner=instance.owner_id, tags=[tag.pk for tag in instance.tags.all()])
    elif kind == "contact" and chosen_id(request.GET.get("account")) is not None:
        initial["account"] = chosen_id(request.GET["account"])
    schema = custom_fields.schema_for(actor, kind)
    duplicates = []
    if request.method == "POST":
        form = form_class(request.POST, initial=initial, **extra)
        custom_fields.add_fields(form, schema, instance.custom if instance else None)
        if form.is_valid():
            data = {name: form.cleaned_data[name] for name in fields}
            if data.get("credit_limit") is None and "credit_limit" in data:
                data["credit_limit"] = 0
            owner, tags = form.cleaned_data["owner"], list(form.cleaned_data["tags"])
            custom = custom_fields.changes(form)
            try:
                if instance is None:
                    create = customer_services.account_create if kind == "account" else customer_services.contact_create
                    if owner is not None:
                        data["owner"] = owner
                    saved = create(
                        company=actor.company,
                        by=actor.user,
                        force=form.cleaned_data["force"],
                        tags=tags,
                        custom=custom,
                        **data,
                    )
                    messages.success(request, _("%(name)s was created.") % {"name": saved.name})
                else:
                    changed = {name: value for name, value in data.items() if form.initial.get(name) != value}
                    if owner is not None and owner.pk != instance.owner_id:
                        changed["owner"] = owner
                    if {tag.pk for tag in tags} != set(initial["tags"]):
                        changed["tags"] = tags
                    update = customer_services.account_update if kind == "account" else customer_services.contact_update
                    saved = update(**{kind: instance}, by=actor.user, custom=custom, **changed)
                    messages.success(request, _("Your changes were saved."))
                return redirect(f"crm:{kind}-detail", pk=saved.pk)
            except DuplicateCustomerError as error:
                duplicates = _duplicates(actor, error)
                form.add_error(None, str(error.message))
            except ValidationError as error:
                apply_errors(form, error)
            except CrmConflict as error:
                form.add_error(None, str(error.message))
    else:
        form = form_class(initial=initial, **extra)
        custom_fields.add_fields(form, schema, instance.custom if instance else None)
    back = reverse(f"crm:{kind}-detail", args=[instance.pk]) if instance else reverse(f"crm:{kind}-list")
    return render(
        request,
        "crm/form.html",
        {
            "form": form,
            "instance": instance,
            "kind": kind,
            "title": _edit_title(kind, instance),
            "duplicates": duplicates,
            "back": back,
        },
    )


def _edit_title(kind: str, instance) -> str:
    if instance is not None:
        return _("Edit %(name)s") % {"name": instance.name}
    return _("New account") if kind == "account" else _("New contact")


@actor_required
def account_create(request):
    return _customer_form(request, kind="account")


@actor_required
def account_edit(request, pk: int):
    return _customer_form(request, kind="account", instance=_account_or_404(request.actor, pk))


@actor_required
def contact_create(request):
    return _customer_form(request, kind="contact")


@actor_required
def contact_edit(request, pk: int):
    return _customer_form(request, kind="contact", instance=_contact_or_404(request.actor, pk))
