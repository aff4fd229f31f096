"""Celery tasks of SCRM: fetch by id, call a service, nothing else."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="scrm.deliveries_process", ignore_result=True)
def deliveries_process(channel_id: int) -> int:
    """Process the channel's pending deliveries in batches. Clears the channel's "task queued" flag before
    claiming. A batch takes ``DRAIN_LANES`` of the channel's lanes (``scrm.models.channels.DELIVERY_LANES``;
    the rest are left to a second worker process: two batches never share a lane, so they do not wait on each
    other's row locks). A full batch asks for another task at once, so a backlog is drained by as many worker
    processes as are free; a batch that left lanes with pending deliveries (held by another batch, or beyond
    its share) asks for one after ``DRAIN_DELAY``, so none is stranded. After ``DRAIN_SLICE`` seconds of full
    batches the task returns and lets the one it asked for continue: other queued tasks — the outbox relay that
    carries the batches' events to the CRM — get their turn instead of waiting for the drain."""
    import time

    from scrm.services.channels import (
        DRAIN_LANES,
        DRAIN_SLICE,
        deliveries_process_flag_clear,
        deliveries_process_request,
    )
    from scrm.services.inbox import PROCESS_BATCH
    from scrm.services.inbox import deliveries_process as process

    deliveries_process_flag_clear(channel_id)
    total = 0
    started = time.monotonic()
    while True:
        result = process(channel_id=channel_id, lanes=DRAIN_LANES)
        total += result.deliveries
        if result.deliveries < PROCESS_BATCH:
            if result.lanes_left:
                deliveries_process_request(channel_id)
            return total
        deliveries_process_request(channel_id, delay=0)
        if time.monotonic() - started >= DRAIN_SLICE:
            return total


@shared_task(name="scrm.channel_poll", ignore_result=True)
def channel_poll(channel_id: int) -> int:
    """Poll one channel from its stored cursor."""
    from scrm.services.polling import channel_poll as poll

    return poll(channel_id=channel_id).stored


@shared_task(name="scrm.channels_poll_due", ignore_result=True)
def channels_poll_due() -> int:
    """Beat: queue a poll of every active polling channel not in backoff, and sweep pending deliveries."""
    from scrm.services.polling import channels_due_for_poll, channels_with_pending_deliveries

    due = channels_due_for_poll()
    for channel_id in due:
        channel_poll.delay(channel_id)
    for channel_id in channels_with_pending_deliveries():
        deliveries_process.delay(channel_id)
    return len(due)


@shared_task(name="scrm.webhook_nonces_prune", ignore_result=True)
def webhook_nonces_prune() -> int:
    """Beat: forget webhook nonces older than twice the replay window."""
    from scrm.services.channels import webhook_nonces_prune as prune

    return prune()


@shared_task(name="scrm.coupons_expire", ignore_result=True)
def coupons_expire() -> int:
    """Beat (hourly): issued coupons past their expiry become expired."""
    from scrm.services.coupons import coupons_expire as expire

    return expire()


@shared_task(name="scrm.cadences_run_due", ignore_result=True)
def cadences_run_due() -> int:
    """Beat: run the due steps of cadence enrolments (each step exactly once), batch after batch."""
    from scrm.services.cadences import cadence_steps_run_due

    total = 0
    for _batch in range(50):
        result = cadence_steps_run_due()
        total += result.ran
        if result.ran + result.completed == 0:
            break
    return total


@shared_task(name="scrm.handover_job_advance", ignore_result=True)
def handover_job_advance(job_id: int) -> str:
    """Move one staff handover job on (collect, submit, poll results, complete)."""
    from scrm.services.wecom_relations import handover_job_advance as advance

    job = advance(job_id=job_id)
    return job.status if job else ""


@shared_task(name="scrm.handover_jobs_advance_due", ignore_result=True)
def handover_jobs_advance_due() -> int:
    """Beat: queue every open handover job not in backoff (results of WeCom transfers come in over 24 h)."""
    from scrm.services.wecom_relations import handover_jobs_due

    due = handover_jobs_due()
    for job_id in due:
        handover_job_advance.delay(job_id)
    return len(due)


@shared_task(name="scrm.push_send_batch", ignore_result=True)
def push_send_batch(campaign_id: int) -> int:
    """Send one batch of a push campaign; queue the next (later, when throttled) while recipients are left."""
    from scrm.services.pushes import _queue_batch
    from scrm.services.pushes import push_send_batch as send

    result = send(campaign_id=campaign_id)
    if result.retry_in:
        _queue_batch(campaign_id, countdown=result.retry_in)
    elif result.sent or result.failed or result.skipped:
        _queue_batch(campaign_id)
    return result.sent


@shared_task(name="scrm.status_message_send", ignore_result=True)
def status_message_send(message_id: int) -> str:
    """Send one order status message to a customer (closed loop, flow 3); returns its status."""
    from scrm.services.status_messages import status_message_send as send

    message = send(message_id=message_id)
    return message.status if message else ""


@shared_task(name="scrm.push_campaigns_due", ignore_result=True)
def push_campaigns_due() -> int:
    """Beat: start the scheduled push campaigns whose time has come."""
    from scrm.services.pushes import push_campaigns_due as start_due

    return len(start_due())


@shared_task(name="scrm.push_sends_sweep", ignore_result=True)
def push_sends_sweep() -> int:
    """Beat: recipients left "sending" by a killed worker go back to the queue; stalled campaigns get a batch."""
    from scrm.services.push_sweep import push_sends_sweep as sweep

    campaign_ids = sweep()
    for campaign_id in campaign_ids:
        push_send_batch.delay(campaign_id)
    return len(campaign_ids)


@shared_task(name="scrm.qr_payout_send", ignore_result=True)
def qr_payout_send(claim_id: int) -> str:
    """Pay one granted red envelope through WeChat Pay; retried later (same bill number) on a system error."""
    from scrm.services.payouts import RETRY_DELAYS
    from scrm.services.payouts import qr_payout_send as send

    claim = send(claim_id=claim_id)
    if claim is not None and claim.payout_status == "retrying" and claim.payout_attempts <= len(RETRY_DELAYS):
        qr_payout_send.apply_async((claim_id,), countdown=RETRY_DELAYS[claim.payout_attempts - 1])
    return claim.payout_status if claim else ""


@shared_task(name="scrm.qr_payouts_sweep", ignore_result=True)
def qr_payouts_sweep() -> int:
    """Beat: red envelopes whose send task was lost with a killed worker are queued again."""
    from scrm.services.payouts import qr_payouts_sweep as sweep

    ids = sweep()
    for claim_id in ids:
        qr_payout_send.delay(claim_id)
    return len(ids)


@shared_task(name="scrm.push_campaigns_stock_sweep", ignore_result=True)
def push_campaigns_stock_sweep() -> int:
    """Beat: product-bound push campaigns start, pause or resume on their stock and price list (price lists
    expire with time, without an event; a lost ``erp.stock.changed`` is caught up here)."""
    from scrm.services.stock_pushes import push_campaigns_stock_check

    return len(push_campaigns_stock_check())
