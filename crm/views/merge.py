"""The merge screen: from a customer page, list its likely duplicates (the duplicate rules of
``customer_duplicates_find``), compare two records side by side, choose the survivor and, field by field,
which value it keeps; confirming calls ``crm.services.merging.customer_merge_pick`` (one transaction)."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

from crm import selectors
from crm.errors import CrmConflict
from crm.models import Account, Contact
from crm.services.merging import DUPLICATE, MERGE_PICK_FIELDS, SURVIVOR, customer_merge_pick
from suite import policy
from suite.ui.choices import chosen_id
from suite.ui.records import actor_required

MODELS = {"account": Account, "contact": Contact}


def _visible(actor, model, pk):
    select = selectors.accounts_visible_to if model is Account else selectors.contacts_visible_to
    return policy.get_visible_or_404(actor, select(actor), pk=pk)


def _display(record, name: str) -> str:
    value = getattr(record, name)
    if value in (None, ""):
        return ""
    display = getattr(record, f"get_{name}_display", None)
    return str(display()) if display else str(value)


@actor_required
def customer_merge(request, kind: str, pk: int):
    """GET: the record's duplicates, or with ``?with=<id>`` the side-by-side comparison. POST: merge."""
    actor = request.actor
    model = MODELS.get(kind)
    if model is None or not policy.can(actor, "merge", model):
        raise PermissionDenied
    record = _visible(actor, model, pk)
    if request.method == "POST":
        survivor_id, other_id = chosen_id(request.POST.get("survivor")), chosen_id(request.POST.get("other"))
        if other_id in (None, record.pk) or survivor_id not in (record.pk, other_id):
            messages.error(request, _("Choose which record survives."))
            return redirect("crm:customer-merge", kind=kind, pk=pk)
        other = _visible(actor, model, other_id)
        survivor, duplicate = (record, other) if survivor_id == record.pk else (other, record)
        # The form's columns are this record (left) and the other one (right); the service speaks of the
        # survivor and the duplicate.
        record_side = SURVIVOR if survivor is record else DUPLICATE
        other_side = DUPLICATE if survivor is record else SURVIVOR
        sides = {"left": record_side, "right": other_side}
        picks = {
            name: sides[request.POST[f"pick-{name}"]]
            for name in MERGE_PICK_FIELDS[model]
            if request.POST.get(f"pick-{name}") in sides
        }
        try:
            merged = customer_merge_pick(survivor=survivor, duplicate=duplicate, picks=picks, by=actor.user)
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
        except CrmConflict as error:
            messages.error(request, str(error.message))
        else:
            messages.success(
                request, _("%(duplicate)s was merged into %(survivor)s.") % {"duplicate": duplicate, "survivor": merged}
            )
            return redirect(f"crm:{kind}-detail", pk=merged.pk)
        return redirect("crm:customer-merge", kind=kind, pk=pk)

    candidates = selectors.customer_duplicates_find(
        model=model,
        company_id=actor.company_id,
        phone=record.phone,
        email=record.email,
        unionid=getattr(record, "unionid", ""),
        tax_id=getattr(record, "tax_id", ""),
        name=record.name,
        city=record.city,
        exclude_pk=record.pk,
    )
    visible = set(
        policy.scope(actor, model.objects.filter(pk__in=[c.customer.pk for c in candidates])).values_list(
            "pk", flat=True
        )
    )
    candidates = [c for c in candidates if c.customer.pk in visible]
    other = None
    other_id = request.GET.get("with", "")
    if chosen_id(other_id) not in (None, record.pk):
        other = _visible(actor, model, chosen_id(other_id))
    rows = []
    if other is not None:
        for name in MERGE_PICK_FIELDS[model]:
            left, right = _display(record, name), _display(other, name)
            rows.append(
                {
                    "name": name,
                    "label": model._meta.get_field(name).verbose_name,
                    "left": left,
                    "right": right,
                    "differs": left != right,
                }
            )
    return render(
        request,
        "crm/customer_merge.html",
        {"kind": kind, "record": record, "candidates": candidates, "other": other, "rows": rows},
    )
