"""Stock → marketing (closed loop, issue #7, flow 8): push campaigns tied to an ERP product.

* **Warm-up**: ``push_campaign_stock_guard(…, wait=True)`` puts a draft campaign for a product in
  ``waiting_stock``; when the product's free stock (every warehouse, ``erp.selectors.stock_signals``) reaches the
  campaign's ``stock_threshold`` — a goods receipt, a production receipt, a transfer back — it starts
  (``push_campaign_start``: the segment's matched customers become recipients; consent and the frequency cap are
  checked per recipient when each is sent, as for every push).
* **Guard**: a ``sending`` campaign with a product pauses itself (``paused_stock``, with the reason) when the free
  stock falls below the threshold or its ERP price list is no longer in force, and resumes (``sending``, the next
  batch queued after commit) when both recover. Nothing is sent while paused: batches only send ``sending``
  campaigns.

``push_campaigns_stock_check`` runs for one product from the handler of ``erp.stock.changed`` and for every
product-bound campaign from the beat sweep (price lists expire with time, not with an event). Each change of state
publishes ``scrm.push_campaign.stock_state_changed`` v1 (in the handler: with the stock event's correlation id)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from erp.selectors.stock_signals import SaleReadiness, price_list_exists, product_sale_readiness
from scrm.events_stock import STOCK_STATE_CHANGED
from scrm.models import PushCampaign, PushCampaignStatus
from scrm.services.pushes import _queue_batch, lock_campaign, push_campaign_start
from suite import events

WATCHED = (PushCampaignStatus.WAITING_STOCK, PushCampaignStatus.SENDING, PushCampaignStatus.PAUSED_STOCK)


@dataclass(frozen=True)
class StockStateChange:
    campaign_id: int
    previous: str
    status: str
    reason: str
    recipients: int = 0


@transaction.atomic
def push_campaign_stock_guard(
    *,
    campaign: PushCampaign,
    erp_product_id: int,
    stock_threshold: Decimal | str | int = Decimal("1"),
    erp_price_list_id: int | None = None,
    wait: bool = False,
    by=None,
) -> PushCampaign:
    """Tie a draft or scheduled campaign to an ERP product (and optionally the price list its offer quotes): it
    will pause below ``stock_threshold`` free units or when the price list expires. With ``wait`` the campaign
    becomes a warm-up: ``waiting_stock`` until the stock is there (then it starts). Locks the campaign."""
    campaign = lock_campaign(campaign.pk)
    errors: dict[str, list] = {}
    if campaign.status not in (PushCampaignStatus.DRAFT, PushCampaignStatus.SCHEDULED):
        errors["status"] = [_("Only a draft or scheduled campaign can be tied to a product.")]
    readiness = product_sale_readiness(company_id=campaign.company_id, product_id=erp_product_id)
    if not readiness.exists:
        errors["erp_product_id"] = [_("Unknown or inactive product.")]
    if erp_price_list_id is not None and not price_list_exists(
        company_id=campaign.company_id, price_list_id=erp_price_list_id
    ):
        errors["erp_price_list_id"] = [_("Unknown price list.")]
    try:
        threshold = Decimal(str(stock_threshold))
        if not threshold.is_finite() or threshold <= 0 or threshold.as_tuple().exponent < -4:
            raise InvalidOperation
    except (InvalidOperation, ValueError):
        errors["stock_threshold"] = [_("Enter a quantity greater than zero (at most four decimals).")]
        threshold = None
    if errors:
        raise ValidationError(errors)
    campaign.erp_product_id, campaign.stock_threshold = erp_product_id, threshold
    campaign.erp_price_list_id = erp_price_list_id
    fields = ["erp_product_id", "stock_threshold", "erp_price_list_id", "updated_at"]
    if wait:
        campaign.status, campaign.scheduled_at = PushCampaignStatus.WAITING_STOCK, None
        campaign.stock_reason = _("waiting for %(sku)s") % {"sku": readiness.sku}
        fields += ["status", "scheduled_at", "stock_reason"]
    campaign.save(update_fields=fields)
    return campaign


def _blocker(campaign: PushCampaign, readiness: SaleReadiness) -> str:
    """Why the campaign may not send now ("" when it may)."""
    if not readiness.exists:
        return _("product %(id)s is no longer sold") % {"id": campaign.erp_product_id}
    if readiness.free < campaign.stock_threshold:
        return _("free stock %(free)s of %(sku)s below %(threshold)s") % {
            "free": f"{readiness.free.normalize():f}",
            "sku": readiness.sku,
            "threshold": f"{campaign.stock_threshold.normalize():f}",
        }
    if readiness.price_list_in_force is False:
        return _("price list %(id)s is not in force") % {"id": campaign.erp_price_list_id}
    return ""


class StockCheckBusy(RuntimeError):
    """Another transaction is checking the same product's campaigns; the relay retries the handler."""


def _product_lock(company_id: int, product_id: int) -> bool:
    """Serialise the checks of one product's campaigns (a transaction-scoped advisory try-lock)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_try_advisory_xact_lock(hashtext(%s))", [f"scrm.stock_pushes:{company_id}:{product_id}"]
        )
        return bool(cursor.fetchone()[0])


@transaction.atomic
def products_with_watched_campaigns(pairs) -> set[tuple[int, int]]:
    """Of ``(company id, ERP product id)`` pairs, those with a campaign ``push_campaigns_stock_check`` watches
    (one query: most products of a stock change have none)."""
    pairs = list(pairs)
    if not pairs:
        return set()
    rows = (
        PushCampaign.objects.filter(
            status__in=WATCHED,
            company_id__in={company for company, _product in pairs},
            erp_product_id__in={product for _company, product in pairs},
        )
        .values_list("company_id", "erp_product_id")
        .distinct()
    )
    return set(rows) & set(pairs)


def push_campaigns_stock_check(
    *, company_id: int | None = None, erp_product_id: int | None = None, now=None
) -> list[StockStateChange]:
    """Start, pause or resume the product-bound campaigns (of one company / product, or all): waiting → started
    when the stock is there; sending → ``paused_stock`` when blocked; paused → sending when not. Locks the
    campaigns (ordered by id) and publishes ``scrm.push_campaign.stock_state_changed`` per change. Idempotent:
    a second check finds every campaign in the state its stock calls for. A product another transaction is
    checking raises ``StockCheckBusy`` when asked for by product (the handler: the relay retries), else is
    skipped until the next sweep."""
    today = timezone.localdate(now) if now else timezone.localdate()
    qs = PushCampaign.objects.filter(status__in=WATCHED, erp_product_id__isnull=False)
    if company_id is not None:
        qs = qs.filter(company_id=company_id)
    if erp_product_id is not None:
        qs = qs.filter(erp_product_id=erp_product_id)
    changes = []
    readiness_of: dict[tuple, SaleReadiness] = {}
    locked: dict[tuple[int, int], bool] = {}
    for pk, company, product in qs.order_by("pk").values_list("pk", "company_id", "erp_product_id")[:500]:
        if (company, product) not in locked:
            locked[(company, product)] = _product_lock(company, product)
            if not locked[(company, product)] and erp_product_id is not None:
                raise StockCheckBusy(f"the push campaigns of product {product} are being checked")
        if not locked[(company, product)]:
            continue
        campaign = lock_campaign(pk)
        if campaign.status not in WATCHED:
            continue
        key = (campaign.company_id, campaign.erp_product_id, campaign.erp_price_list_id)
        if key not in readiness_of:
            readiness_of[key] = product_sale_readiness(
                company_id=campaign.company_id,
                product_id=campaign.erp_product_id,
                price_list_id=campaign.erp_price_list_id,
                on=today,
            )
        readiness = readiness_of[key]
        blocker = _blocker(campaign, readiness)
        previous, recipients = campaign.status, 0
        if campaign.status == PushCampaignStatus.WAITING_STOCK and not blocker:
            recipients = push_campaign_start(campaign=campaign)
            campaign.refresh_from_db()
            campaign.stock_reason = ""
            campaign.save(update_fields=["stock_reason", "updated_at"])
        elif campaign.status == PushCampaignStatus.SENDING and blocker:
            campaign.status, campaign.stock_reason = PushCampaignStatus.PAUSED_STOCK, blocker[:200]
            campaign.save(update_fields=["status", "stock_reason", "updated_at"])
        elif campaign.status == PushCampaignStatus.PAUSED_STOCK and not blocker:
            campaign.status, campaign.stock_reason = PushCampaignStatus.SENDING, ""
            campaign.save(update_fields=["status", "stock_reason", "updated_at"])
            transaction.on_commit(lambda campaign_id=campaign.pk: _queue_batch(campaign_id))
        elif campaign.status != PushCampaignStatus.SENDING and blocker and blocker != campaign.stock_reason:
            campaign.stock_reason = blocker[:200]  # still waiting or paused, for a new reason: keep it current
            campaign.save(update_fields=["stock_reason", "updated_at"])
            continue
        else:
            continue
        change = StockStateChange(campaign.pk, previous, campaign.status, blocker, recipients)
        changes.append(change)
        events.publish(
            STOCK_STATE_CHANGED,
            {
                "campaign_id": campaign.pk,
                "name": campaign.name,
                "erp_product_id": campaign.erp_product_id,
                "sku": readiness.sku,
                "previous_status": previous,
                "status": campaign.status,
                "reason": blocker,
                "free": str(readiness.free),
                "recipients": recipients,
            },
            company_id=campaign.company_id,
        )
    return changes
