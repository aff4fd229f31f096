"""The customer pool (客户公海) in the browser: the accounts nobody owns, claimed or handed out from the list, an
account released from its 360° page, and the company's rule among the CRM settings. Every write goes through
``crm.services.pool``; a refusal is a message on the page it came from and changes nothing. The rule is a CRM
settings page (``crm.views.settings``)."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import F
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from crm import selectors
from crm.errors import CrmConflict
from crm.models import Account, LifecycleStage, PoolAccount, PoolMoveReason
from crm.selectors_pool import accounts_held, pool_accounts_visible_to, pool_rule_of, team_pools_of
from crm.services import pool as pool_services
from crm.views.common import paginate, refusal_message, require
from suite import policy
from suite.ui import search as shell_search
from suite.ui.choices import chosen_id
from suite.ui.records import actor_required


@actor_required
def pool_list(request):
    actor = request.actor
    require(actor, "view", PoolAccount)
    query = shell_search.normalize(request.GET.get("q", ""))
    accounts = pool_accounts_visible_to(actor, search=query).only(
        "id", "name", "name_en", "province", "city", "industry", "size", "source", "lifecycle_stage", "created_at"
    )
    filters = {}
    stage = request.GET.get("stage", "")
    if stage in LifecycleStage.values:
        accounts = accounts.filter(lifecycle_stage=stage)
        filters["stage"] = stage
    city = " ".join(request.GET.get("city", "").split())[:50]
    if city:
        accounts = accounts.filter(city__startswith=city.removesuffix("市"))
        filters["city"] = city
    if request.GET.get("reason") in PoolMoveReason.values:  # came back by hand, or for want of follow-up
        accounts = accounts.filter(released_reason=request.GET["reason"])
        filters["reason"] = request.GET["reason"]
    can_assign = policy.can(actor, "assign", PoolAccount)
    rule = pool_rule_of(actor.company_id)
    pools = []
    if rule.by_team:  # 部门公海: which pool each account is in, and a filter on it
        accounts = accounts.annotate(pool_team_name=F("pool_team__name"))
        pools = team_pools_of(actor)
        pool = request.GET.get("pool", "")
        if pool == "company":
            accounts = accounts.filter(pool_team__isnull=True)
            filters["pool"] = pool
        elif chosen_id(pool) in dict(pools):
            accounts = accounts.filter(pool_team_id=chosen_id(pool))
            filters["pool"] = str(chosen_id(pool))
    # shown against the rule's limit only
    held = accounts_held(company_id=actor.company_id, user=actor.user) if rule.max_owned else None
    people = {person.pk: person for person in selectors.assignable_users(actor)} if can_assign else {}
    page = paginate(request, accounts, count_models=(Account,))  # the count is remembered until an account changes
    for account in page.object_list:
        account.previous_owner = people.get(account.previous_owner_id) if account.previous_owner_id else None
    context = {
        "page": page,
        "query": query,
        "filters": filters,
        "stages": LifecycleStage.choices,
        "reasons": PoolMoveReason.choices,
        "pools": pools,
        "rule": rule,
        "held": held,
        "can_claim": policy.can(actor, "claim", PoolAccount),
        "can_assign": can_assign,
        "people": list(people.values()),
    }
    return render(request, "crm/pool_list.html", context)


def _pool_account_or_404(actor, pk: int) -> PoolAccount:
    return policy.get_visible_or_404(actor, pool_accounts_visible_to(actor), pk=pk)


@require_POST
@actor_required
def pool_claim(request, pk: int):
    actor = request.actor
    require(actor, "claim", PoolAccount)
    account = _pool_account_or_404(actor, pk)
    try:
        pool_services.account_claim(account=account, by=actor.user)
    except (ValidationError, CrmConflict) as error:
        messages.error(request, refusal_message(error))
        return redirect("crm:pool")
    messages.success(request, _("%(name)s is yours now.") % {"name": account.name})
    return redirect("crm:account-detail", pk=account.pk)


@require_POST
@actor_required
def pool_assign(request, pk: int):
    actor = request.actor
    require(actor, "assign", PoolAccount)
    account = _pool_account_or_404(actor, pk)
    person = selectors.assignable_users(actor).filter(pk=chosen_id(request.POST.get("user", ""))).first()
    if person is None:
        messages.error(request, _("Choose who gets the account."))
        return redirect("crm:pool")
    try:
        pool_services.account_pool_assign(account=account, to_user=person, by=actor.user)
    except (ValidationError, CrmConflict) as error:
        messages.error(request, refusal_message(error))
        return redirect("crm:pool")
    messages.success(request, _("%(name)s was given to %(person)s.") % {"name": account.name, "person": person})
    return redirect("crm:pool")


@require_POST
@actor_required
def account_release(request, pk: int):
    """The 360° page's "Release to the pool": the owner (or their manager, an admin) lets the account go."""
    actor = request.actor
    account = policy.get_visible_or_404(actor, selectors.accounts_visible_to(actor), pk=pk)
    require(actor, "release", account)
    try:
        pool_services.account_release(account=account, by=actor.user, note=request.POST.get("note", ""))
    except (ValidationError, CrmConflict) as error:
        messages.error(request, refusal_message(error))
        return redirect("crm:account-detail", pk=account.pk)
    messages.success(request, _("%(name)s is in the customer pool now.") % {"name": account.name})
    return redirect("crm:pool" if policy.can(actor, "view", PoolAccount) else "crm:account-list")
